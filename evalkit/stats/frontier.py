"""Frontier evidence: which problems only one model solves, and what the counts show."""

from __future__ import annotations

from typing import Any

import numpy as np

from evalkit.stats._common import _BLOCK, ArrayLike, FloatArray
from evalkit.stats.estimators import _subset_log_prob

# ----------------------------------------------------------------------------------------------------
# Frontier evidence
# ----------------------------------------------------------------------------------------------------


def _poisson_binomial_sf(q: FloatArray, observed: int) -> float:
    """P(sum of independent Bernoulli(q_i) >= observed), by the exact convolution recursion."""
    pmf = np.zeros(q.size + 1)
    pmf[0] = 1.0
    for i, qi in enumerate(q.tolist()):
        pmf[1 : i + 2] = pmf[1 : i + 2] * (1.0 - qi) + pmf[: i + 1] * qi
        pmf[0] *= 1.0 - qi
    return float(min(1.0, pmf[observed:].sum()))


def frontier_class_test(
    c_base: ArrayLike, c_rl: ArrayLike, m: ArrayLike, n_perm: int = 10000, seed: int = 0
) -> dict[str, Any]:
    """How many problems only the RL model solves (and only the base solves), and is that more than chance?

    A problem is *RL-only* when ``c_rl >= 1`` and ``c_base == 0``, *base-only* when ``c_base >= 1`` and
    ``c_rl == 0``. Null hypothesis: on every problem both models have the same per-sample success rate.
    Conditional on a problem's total s = c_base + c_rl, the 2m samples are then exchangeable, so the
    base's share is Hypergeometric(2m, s, m); the permutation test splits each problem's pooled samples
    at random into two groups of m, counts RL-only (base-only) problems, and repeats ``n_perm`` times.
    It is vectorised by drawing each problem's class of the split from its exact probabilities,
    ``q = P(base gets 0 of s) = C(2m - s, m) / C(2m, m)`` for RL-only and, by symmetry, the same q for
    base-only (never both), which has the same distribution as splitting and classifying. p-values are
    ``(1 + #{null count >= observed}) / (1 + n_perm)``, one-sided. The null count is a sum of independent
    Bernoulli(q_i), so its exact tail (Poisson-binomial) is reported too.

    Args:
        c_base: Correct samples per problem, base model.
        c_rl: Correct samples per problem, RL model.
        m: Samples per problem, common to both models (scalar or per problem).
        n_perm: Number of permutations.
        seed: Seed of the permutations.

    Returns:
        A dict with ``rl_only`` and ``base_only`` (observed counts), ``expected_under_null`` (the expected
        count of each under the null, sum of q_i), ``p_rl_only`` and ``p_base_only`` (permutation),
        ``p_rl_only_exact`` and ``p_base_only_exact`` (exact tails), ``n_problems`` and ``n_perm``.

    Raises:
        ValueError: on counts outside [0, m], m < 1, mismatched shapes or n_perm < 1.
    """
    if n_perm < 1:
        raise ValueError("frontier_class_test: n_perm must be >= 1")
    m_a = np.asarray(m, dtype=np.int64)
    cb = np.asarray(c_base, dtype=np.int64)
    cr = np.asarray(c_rl, dtype=np.int64)
    shape = np.broadcast_shapes(m_a.shape, cb.shape, cr.shape)
    m_a, cb, cr = (np.broadcast_to(a, shape).ravel() for a in (m_a, cb, cr))
    if np.any(m_a < 1):
        raise ValueError("frontier_class_test: m must be >= 1")
    if np.any((cb < 0) | (cb > m_a) | (cr < 0) | (cr > m_a)):
        raise ValueError("frontier_class_test: counts must satisfy 0 <= c <= m")
    rl_only = int(np.sum((cr >= 1) & (cb == 0)))
    base_only = int(np.sum((cb >= 1) & (cr == 0)))
    s = cb + cr
    q = np.where(s >= 1, np.exp(_subset_log_prob(2 * m_a, 2 * m_a - s, m_a)), 0.0)
    q = q[q > 0]
    rng = np.random.default_rng(seed)
    ge_rl = ge_base = 0
    rows = max(1, _BLOCK // max(q.size, 1))
    for lo in range(0, n_perm, rows):
        u = rng.random((min(rows, n_perm - lo), q.size))
        ge_rl += int(np.sum(np.sum(u < q, axis=1) >= rl_only))
        ge_base += int(np.sum(np.sum(u >= 1.0 - q, axis=1) >= base_only))
    return {
        "rl_only": rl_only,
        "base_only": base_only,
        "expected_under_null": float(q.sum()),
        "p_rl_only": (1 + ge_rl) / (1 + n_perm),
        "p_base_only": (1 + ge_base) / (1 + n_perm),
        "p_rl_only_exact": _poisson_binomial_sf(q, rl_only),
        "p_base_only_exact": _poisson_binomial_sf(q, base_only),
        "n_problems": int(m_a.size),
        "n_perm": n_perm,
    }


def benjamini_hochberg(pvalues: ArrayLike) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (q-values): ``min_{j >= i} p_(j) * M / j``, capped at 1.

    Rejecting every hypothesis with adjusted p <= alpha controls the false discovery rate at alpha for
    independent or positively dependent tests. The result has the input's shape, is monotone in the
    p-values and never below them.

    Raises:
        ValueError: on NaN or values outside [0, 1].
    """
    p = np.asarray(pvalues, dtype=np.float64)
    flat = p.ravel()
    if np.any(~((flat >= 0.0) & (flat <= 1.0))):
        raise ValueError("benjamini_hochberg: p-values must be in [0, 1] (no NaN)")
    total = flat.size
    if total == 0:
        return p.copy()
    order = np.argsort(flat, kind="stable")
    scaled = flat[order] * total / np.arange(1, total + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(total)
    out[order] = adjusted
    return out.reshape(p.shape)
