"""Paired tests of a mean difference over problems that hold where the bootstrap does not.

Both runs are scored on the same P problems; d_i is problem i's difference (candidate - baseline) of a
per-problem statistic such as pass@k. The question is one-sided: is the mean difference below a margin
-m (a regression beyond the tolerance m)?

- :func:`sign_flip_test`: the paired sign-flip (randomisation) test of H0: mean d >= -m against
  H1: mean d < -m, with its confidence bound. It is exact (false alarm rate <= alpha for every number of
  problems, any ties, any k) whenever the d_i are symmetric about a value >= -m, which is the case when
  both runs sample one model: (c_base, c_candidate) of a problem are then exchangeable, so d_i is
  symmetric about 0. Because the sum of squares is the same under every sign flip, the test on the sum
  is the same test as on the t statistic, so it is also asymptotically valid for the mean difference
  when the d_i are not symmetric (the studentized permutation test; Janssen 1997, Statist. Probab.
  Lett. 36:9; Chung & Romano 2013, Ann. Statist. 41:484). Where every d_i is -1, 0 or +1 (pass@k at
  k = n, where a problem's pass@n is 0 or 1) the randomisation distribution is computed exactly: with
  m = 0 it is the exact sign test on the problems solved by one run only (McNemar's test, exact
  conditional form). Otherwise it is estimated from ``n_flip`` random sign vectors, and the p-value
  ``(1 + #{flipped sum <= observed})/(1 + n_flip)`` is valid for any number of flips (Monte Carlo tests,
  Besag & Clifford 1989, Biometrika 76:633).
- :func:`holm`: Holm's step-down adjustment (Holm 1979, Scand. J. Statist. 6:65), which controls the
  family-wise error rate of a set of checks under any dependence between them.

The confidence bound inverts the test: a flip that negates the set F of problems leaves the observed sum
at or below the flipped one exactly when the mean of d over F is at least the hypothesised value, so the
bound is an order statistic of random-subset means (Hartigan 1969, JASA 64:1303). Its coverage and the
gate's false alarm rate are measured in :mod:`evalkit.compare.calibration`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from evalkit.stats._common import _BLOCK, ArrayLike, FloatArray

# Differences within this of each other count as ties, so that round-off in per-problem pass@k (which
# is exact to about 1e-13) never moves a problem from "tied" to "as extreme".
_TOL = 1e-9


@dataclass(frozen=True)
class SignFlipResult:
    """Result of :func:`sign_flip_test`, one entry per column of the differences.

    Attributes:
        estimate: Mean difference.
        p_value: One-sided p-value of H0: mean difference >= -margin.
        upper: Upper confidence bound on the mean difference at ``confidence``.
        exact: True where the randomisation distribution was enumerated exactly (all d_i in {-1, 0, 1}).
    """

    estimate: FloatArray
    p_value: FloatArray
    upper: FloatArray
    exact: np.ndarray


def _ternary_counts(d: FloatArray) -> tuple[int, int, int] | None:
    """(gained, lost, tied) when every d_i is within _TOL of +1, -1 or 0; else None."""
    r = np.rint(d)
    if np.any(np.abs(d - r) > _TOL) or np.any(np.abs(r) > 1):
        return None
    return int(np.sum(r == 1)), int(np.sum(r == -1)), int(np.sum(r == 0))


def _binomial_support(size: int) -> tuple[FloatArray, FloatArray]:
    """Values of Binomial(size, 1/2) with probability above 1e-20 (the rest sum below 1e-17), and their pmf."""
    x = np.arange(size + 1)
    pmf = sps.binom.pmf(x, size, 0.5)
    keep = pmf > 1e-20
    return x[keep].astype(np.float64), pmf[keep]


def _ternary_p(gained: int, lost: int, tied: int, delta: float) -> float:
    """Exact P(mean of d over a uniformly random subset F >= delta), F empty counting as >= (the
    identity flip), for d made of ``gained`` +1s, ``lost`` -1s and ``tied`` zeros. Each element is in F
    with probability 1/2, so the counts in F are independent Binomial(., 1/2)."""
    xg, pg = _binomial_support(gained)
    xl, pl = _binomial_support(lost)
    w = pg[:, None] * pl[None, :]
    a = xg[:, None] * (1.0 - delta) - xl[None, :] * (1.0 + delta)  # sum_F d - delta * (|F| - x_tied)
    # condition: a >= delta * x_tied, with x_tied ~ Binomial(tied, 1/2)
    if abs(delta) <= _TOL:
        prob_tied = np.where(a >= -_TOL, 1.0, 0.0)
    elif delta < 0:  # x_tied >= a / delta
        need = np.ceil(a / delta - _TOL)
        prob_tied = sps.binom.sf(need - 1, tied, 0.5)
    else:  # x_tied <= a / delta
        cap = np.floor(a / delta + _TOL)
        prob_tied = sps.binom.cdf(cap, tied, 0.5)
    return float(min(1.0, np.sum(w * prob_tied)))


def _ternary_upper(gained: int, lost: int, tied: int, alpha: float) -> float:
    """sup{delta: p(delta) > alpha} by bisection (p is non-increasing in delta)."""
    lo, hi = -1.0, 1.0
    if _ternary_p(gained, lost, tied, hi) > alpha:
        return 1.0
    if _ternary_p(gained, lost, tied, lo) <= alpha:  # cannot happen: the identity flip is always counted
        return -1.0
    for _ in range(45):
        mid = 0.5 * (lo + hi)
        if _ternary_p(gained, lost, tied, mid) > alpha:
            lo = mid
        else:
            hi = mid
    return lo


def _subset_means(x: FloatArray, n_flip: int, seed: int) -> FloatArray:
    """Means of x's rows over ``n_flip`` random subsets (each row in with probability 1/2, independently:
    one random bit each), shape (n_flip, K); +inf for an empty subset. The subsets depend only on
    (seed, n_flip, P)."""
    p = x.shape[0]
    rng = np.random.default_rng(seed)
    out = np.empty((n_flip, x.shape[1]))
    rows = max(1, _BLOCK // p)
    for lo in range(0, n_flip, rows):
        b = min(rows, n_flip - lo)
        bits = np.unpackbits(np.frombuffer(rng.bytes(b * ((p + 7) // 8)), dtype=np.uint8).reshape(b, -1), axis=1)
        f = bits[:, :p].astype(np.float64)
        size = f.sum(axis=1)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[lo : lo + b] = np.where(size > 0, (f @ x) / size, np.inf)
    return out


def sign_flip_test(
    differences: ArrayLike,
    margin: float | ArrayLike = 0.0,
    confidence: float = 0.95,
    n_flip: int = 10000,
    seed: int = 0,
    bound: bool = True,
) -> SignFlipResult:
    """Paired sign-flip test that the mean difference fell below ``-margin``, with an upper bound.

    H0: mean(d) >= -margin; H1: mean(d) < -margin (e.g. d = candidate - baseline per-problem pass@k,
    margin = the tolerated drop). The statistic is sum(d_i + margin); its randomisation distribution
    flips the sign of each term independently. See the module docstring for when it is exact and why it
    is valid where the paired bootstrap is not (few problems, mostly tied differences, pass@n at 0/1).

    Args:
        differences: Per-problem differences, shape (P,) or (P, K) (K statistics on the same problems,
            all tested with the same sign vectors); finite, P >= 1.
        margin: Tolerated drop (>= 0), scalar or one per column.
        confidence: Level of the upper bound; the bound is below ``-margin`` exactly when
            ``p_value <= 1 - confidence``.
        n_flip: Random sign vectors for columns that are not ternary.
        seed: Seed of the sign vectors.
        bound: Compute the upper bound (False: NaN, a little faster where the distribution is exact).

    Returns:
        A :class:`SignFlipResult` whose arrays have shape ``differences.shape[1:]``.

    Raises:
        ValueError: on non-finite differences, no problems, a negative margin or invalid options.
    """
    x = np.asarray(differences, dtype=np.float64)
    if x.ndim not in (1, 2) or x.shape[0] < 1:
        raise ValueError("sign_flip_test: differences must be 1-D or 2-D with at least one problem")
    if not np.all(np.isfinite(x)):
        raise ValueError("sign_flip_test: differences must be finite")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"sign_flip_test: confidence must be in (0, 1), got {confidence}")
    if n_flip < 1:
        raise ValueError("sign_flip_test: n_flip must be >= 1")
    x2 = x.reshape(x.shape[0], -1)
    cols = x2.shape[1]
    marg = np.broadcast_to(np.asarray(margin, dtype=np.float64), (cols,))
    if np.any(~(marg >= 0)):
        raise ValueError("sign_flip_test: margin must be >= 0")
    alpha = 1.0 - confidence
    est = x2.mean(axis=0)
    p_val = np.empty(cols)
    upper = np.empty(cols)
    exact = np.zeros(cols, dtype=bool)
    mc_cols: list[int] = []
    for j in range(cols):
        counts = _ternary_counts(x2[:, j])
        if counts is None:
            mc_cols.append(j)
            continue
        exact[j] = True
        p_val[j] = _ternary_p(*counts, -float(marg[j]))
        upper[j] = _ternary_upper(*counts, alpha) if bound else math.nan
    if mc_cols:
        means = _subset_means(x2[:, mc_cols], n_flip, seed)
        allowed = math.floor(alpha * (n_flip + 1) + 1e-9) - 1  # flips that may lie at or above a rejected value
        srt = -np.sort(-means, axis=0)  # descending
        for i, j in enumerate(mc_cols):
            p_val[j] = (1 + np.sum(means[:, i] >= -marg[j] - _TOL)) / (n_flip + 1)
            upper[j] = math.inf if allowed < 0 else float(srt[allowed, i])
        if not bound:
            upper[mc_cols] = math.nan
    upper = np.fmax(upper, np.where(np.isnan(upper), np.nan, est))  # the estimate is never above its bound
    if np.all(np.abs(x2) <= 1.0):  # differences of rates: no bound above 1 says more than 1
        upper = np.minimum(upper, 1.0)
    shape = x.shape[1:]
    return SignFlipResult(est.reshape(shape), p_val.reshape(shape), upper.reshape(shape), exact.reshape(shape))


def holm(pvalues: ArrayLike) -> FloatArray:
    """Holm's step-down adjusted p-values: sort ascending, ``p_(i) * (M - i + 1)``, running maximum,
    capped at 1 (Holm 1979, Scand. J. Statist. 6:65).

    Rejecting every hypothesis whose adjusted p-value is <= alpha keeps the family-wise error rate (the
    chance of at least one false rejection) <= alpha under any dependence between the tests, and rejects
    at least what Bonferroni rejects. The result has the input's shape.

    Raises:
        ValueError: on NaN or values outside [0, 1].
    """
    p = np.asarray(pvalues, dtype=np.float64)
    flat = p.ravel()
    if np.any(~((flat >= 0.0) & (flat <= 1.0))):
        raise ValueError("holm: p-values must be in [0, 1] (no NaN)")
    m = flat.size
    if m == 0:
        return p.copy()
    order = np.argsort(flat, kind="stable")
    scaled = np.minimum(flat[order] * (m - np.arange(m)), 1.0)
    out = np.empty(m)
    out[order] = np.maximum.accumulate(scaled)
    return out.reshape(p.shape)


__all__ = ["SignFlipResult", "holm", "sign_flip_test"]
