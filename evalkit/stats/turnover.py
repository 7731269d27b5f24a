"""Turnover of the solved set between two checkpoints, with its exact chance-level reference under no change.

A problem is *solved* at a checkpoint when at least one of its first m samples there passed. Between two
checkpoints A (earlier) and B (later), a problem is *gained* when A did not solve it and B did, *lost* when A
solved it and B did not (ProRL, Liu et al. 2025, arXiv 2505.24864, follows the solved set along training; the
counts here are the turnover between consecutive checkpoints).

Even two checkpoints with identical per-problem success rates gain and lose problems, because a problem solved
by a few of m samples is missed by another m samples by chance. The reference is exact and conditional:

- **Null hypothesis (no change).** For every problem, A's m samples and B's m samples are exchangeable (the same
  per-sample success rate, independent samples). Given the problem's pooled successes s = c_A + c_B of 2m, every
  split of the 2m samples into A's m and B's m is equally likely.
- **Per problem.** The problem is gained exactly when all s successes fall in B's half, which has probability
  ``q(s, m) = C(m, s) / C(2m, s)`` (0 when s = 0 or s > m); it is lost with the same probability.
- **Over problems.** Problems are independent, so under the null the number gained is a Poisson-binomial variable
  with probabilities q_i, and so is the number lost. ``p_gains`` = P(gains >= observed), ``p_losses`` likewise
  (one-sided, exact, conditional on the pooled counts); ``expected`` is the sum of q_i and ``upper`` the
  smallest count whose upper tail probability is at most 1 - confidence (more than that many gains or losses
  happen by chance less often than 1 - confidence).
- **Gains against losses.** Given g gains and l losses, under the null each discordant problem is a gain or a
  loss with probability 1/2 (the two events have equal probability q_i for each problem, and conditioning on
  "discordant" makes them exchangeable), so ``p_sign`` is the exact two-sided binomial test of g of g + l
  (McNemar's exact test).

Not implemented: a reference for problems with unequal m at the two checkpoints (callers cut both to the same m),
and a joint test over all steps of a series (each step is its own test; the report says so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as sps


def discordance_probability(s: int, m: int) -> float:
    """P(all s pooled successes fall in one given half) when 2m samples are split at random into two halves of m.

    Args:
        s: Pooled successes of the problem at both checkpoints (0..2m).
        m: Samples per checkpoint.

    Returns:
        ``C(m, s) / C(2m, s)``; 0 for s = 0 (nothing to gain) or s > m (both halves must hold a success).

    Raises:
        ValueError: for m < 1 or s outside 0..2m.
    """
    if m < 1 or not 0 <= s <= 2 * m:
        raise ValueError(f"discordance_probability: need m >= 1 and 0 <= s <= 2m (got s={s}, m={m})")
    if s == 0 or s > m:
        return 0.0
    return math.exp(math.lgamma(m + 1) - math.lgamma(m - s + 1) - math.lgamma(2 * m + 1) + math.lgamma(2 * m - s + 1))


def poisson_binomial_pmf(probs: Sequence[float] | np.ndarray) -> np.ndarray:
    """The distribution of a sum of independent Bernoulli(p_i) variables.

    Args:
        probs: (N,) success probabilities in [0, 1].

    Returns:
        (N + 1,) probabilities of 0..N successes (exact convolution, float64).
    """
    pmf = np.zeros(len(probs) + 1)
    pmf[0] = 1.0
    for i, p in enumerate(np.asarray(probs, dtype=np.float64)):
        pmf[1 : i + 2] = pmf[1 : i + 2] * (1.0 - p) + pmf[: i + 1] * p
        pmf[0] *= 1.0 - p
    return pmf


def _upper_tail(pmf: np.ndarray, observed: int) -> float:
    """P(X >= observed); exactly 1 for observed 0."""
    if observed <= 0:
        return 1.0
    return float(min(1.0, pmf[observed:].sum())) if observed < pmf.size else 0.0


def _upper_quantile(pmf: np.ndarray, alpha: float) -> int:
    """The smallest count u with P(X > u) <= alpha."""
    tail = np.cumsum(pmf[::-1])[::-1]  # tail[j] = P(X >= j)
    above = np.append(tail[1:], 0.0)  # P(X > j)
    return int(np.flatnonzero(above <= alpha + 1e-12)[0])


def turnover_step(
    c_before: Sequence[int] | np.ndarray,
    c_after: Sequence[int] | np.ndarray,
    m: Sequence[int] | np.ndarray,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Gains and losses from one checkpoint to the next with their chance-level reference (module docstring).

    Args:
        c_before: (P,) correct samples of each problem among its first m at the earlier checkpoint.
        c_after: (P,) the same at the later checkpoint.
        m: (P,) samples per problem at both checkpoints (each >= 1).
        confidence: Sets ``upper`` (the 1 - confidence upper quantile of the chance count).

    Returns:
        ``{"gains", "losses", "net", "problems", "expected", "upper", "p_gains", "p_losses", "p_sign",
        "confidence"}``; ``expected`` and ``upper`` are the same for gains and losses.

    Raises:
        ValueError: on unequal lengths or counts outside 0..m.
    """
    cb, ca, mm = (np.asarray(v, dtype=np.int64) for v in (c_before, c_after, m))
    if not (cb.shape == ca.shape == mm.shape) or cb.ndim != 1:
        raise ValueError("turnover_step: c_before, c_after and m must be 1-D and of equal length")
    if np.any(mm < 1) or np.any(cb < 0) or np.any(ca < 0) or np.any(cb > mm) or np.any(ca > mm):
        raise ValueError("turnover_step: counts must lie in 0..m and m must be >= 1")
    gains = int(np.sum((cb == 0) & (ca > 0)))
    losses = int(np.sum((cb > 0) & (ca == 0)))
    q = np.array([discordance_probability(int(s), int(n)) for s, n in zip(cb + ca, mm, strict=True)])
    pmf = poisson_binomial_pmf(q)
    discordant = gains + losses
    p_sign = float(sps.binomtest(gains, discordant, 0.5).pvalue) if discordant else 1.0
    return {
        "problems": int(cb.size),
        "gains": gains,
        "losses": losses,
        "net": gains - losses,
        "expected": float(q.sum()),
        "upper": _upper_quantile(pmf, 1.0 - confidence),
        "p_gains": _upper_tail(pmf, gains),
        "p_losses": _upper_tail(pmf, losses),
        "p_sign": p_sign,
        "confidence": confidence,
    }


def first_last_solved(solved: np.ndarray) -> tuple[list[int | None], list[int | None]]:
    """Per problem, the index of the first and of the last checkpoint that solved it (None: never solved).

    Args:
        solved: (checkpoints, P) booleans.
    """
    first: list[int | None] = []
    last: list[int | None] = []
    for col in np.asarray(solved, dtype=bool).T:
        idx = np.flatnonzero(col)
        first.append(int(idx[0]) if idx.size else None)
        last.append(int(idx[-1]) if idx.size else None)
    return first, last
