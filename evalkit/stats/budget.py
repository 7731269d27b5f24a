"""pass@k at a token budget, and pass@k at a matched token limit (pure numpy).

Two models compared at equal k may not have spent equal compute: one that thinks four times longer per
sample has spent four times the tokens at every k. Two views put them on a common footing.

**pass@B (a budget of B generated tokens per problem).** With ``t_i`` the mean tokens per completion of
problem ``i``, a budget of ``B`` tokens affords ``k_i(B) = floor(B / t_i)`` samples on average, and

    pass@B = mean_i pass@k_i(B)      (0 where k_i(B) = 0: not one sample fits)

with Chen et al.'s unbiased pass@k at ``k_i(B)`` (:func:`evalkit.stats.pass_at_k`). ``k_i`` is capped at the
problem's ``n``; where the cap binds, pass@B is a lower bound (more samples would fit) and
:func:`pass_at_budget` reports the share of problems capped. What it is not: the success rate of a sampler
that draws until B tokens are spent. It charges each sample the problem's mean length (expected cost), so
it ignores the spread of lengths and that correct completions are often shorter or longer than wrong ones;
and ``t_i`` is estimated from the same samples as pass@k, so ``k_i(B)`` is chosen by the data (an O(1/n)
effect on the estimator's bias, not corrected).

**pass@k at a matched token limit L.** Decoding is token by token, so a completion of at most ``L`` tokens
would have been the same had the limit been ``L`` (same seed, same sampler), and a longer one would have been
cut there. :func:`passed_at_limit` therefore counts a sample as passed at limit ``L`` only when it passed
and used at most ``L`` tokens. This is exact for the samples within ``L`` and a lower bound overall: a
completion that wrote a checkable answer within its first ``L`` tokens and went on would have been cut
after it and might still have passed (final-answer verdicts pass a cut text only by a closed box).
"""

from __future__ import annotations

import numpy as np

from evalkit.stats._common import ArrayLike, FloatArray
from evalkit.stats.estimators import pass_at_k


def affordable_k(mean_tokens: ArrayLike, budget: float, n: ArrayLike) -> np.ndarray:
    """``min(n_i, floor(budget / t_i))`` per problem (int64).

    Raises:
        ValueError: when a mean token count is not positive or the budget is negative.
    """
    t = np.asarray(mean_tokens, dtype=np.float64)
    if np.any(~(t > 0)):
        raise ValueError("affordable_k: mean tokens per completion must be positive (0 means unknown)")
    if budget < 0:
        raise ValueError(f"affordable_k: the budget must be >= 0 (got {budget})")
    return np.minimum(np.asarray(n, dtype=np.int64), np.floor(budget / t).astype(np.int64))


def pass_at_budget(
    n: ArrayLike, c: ArrayLike, mean_tokens: ArrayLike, budgets: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Mean over problems of pass@k at the k each budget affords (see the module docstring).

    Args:
        n: Samples per problem, shape (P,).
        c: Correct samples per problem, shape (P,).
        mean_tokens: Mean generated tokens per completion of each problem, shape (P,), > 0.
        budgets: Token budgets per problem, shape (B,).

    Returns:
        (pass@B, shape (B,); share of problems whose affordable k was capped at n, shape (B,)).
    """
    n_a = np.asarray(n, dtype=np.int64)
    c_a = np.asarray(c, dtype=np.int64)
    out = np.zeros(len(np.atleast_1d(budgets)), dtype=np.float64)
    capped = np.zeros_like(out)
    for j, budget in enumerate(np.atleast_1d(np.asarray(budgets, dtype=np.float64))):
        raw = np.floor(budget / np.asarray(mean_tokens, dtype=np.float64)).astype(np.int64)
        k = affordable_k(mean_tokens, float(budget), n_a)
        capped[j] = float(np.mean(raw > n_a))
        some = k > 0
        values = np.zeros(n_a.size, dtype=np.float64)
        if some.any():
            values[some] = pass_at_k(n_a[some], c_a[some], k[some])
        out[j] = float(values.mean())
    return out, capped


def passed_at_limit(passed: ArrayLike, n_tokens: ArrayLike, limit: float) -> np.ndarray:
    """Per sample: passed and used at most ``limit`` tokens (the lower bound of the module docstring).

    Raises:
        ValueError: on shapes that differ, or a token count that is not positive (0 means unknown).
    """
    p = np.asarray(passed, dtype=bool)
    t = np.asarray(n_tokens, dtype=np.int64)
    if p.shape != t.shape:
        raise ValueError(f"passed_at_limit: shapes differ ({p.shape} vs {t.shape})")
    if np.any(t <= 0):
        raise ValueError("passed_at_limit: token counts must be positive (0 means unknown)")
    return p & (t <= limit)


def budget_grid(mean_tokens: ArrayLike, n_max: int) -> list[float]:
    """Budgets for a pass@B table: powers of two from the smallest problem's mean tokens per completion
    (one sample of the shortest problem) to ``n_max`` samples of the longest."""
    t = np.asarray(mean_tokens, dtype=np.float64)
    lo = int(np.floor(np.log2(max(float(t.min()), 1.0))))
    hi = int(np.ceil(np.log2(max(float(t.max()) * n_max, 2.0))))
    return [float(2**e) for e in range(lo, hi + 1)]
