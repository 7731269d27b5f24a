"""Intervals over problems that hold where the bootstrap does not, and the choice between them.

- :func:`binary_mean_ci`: exact Clopper-Pearson on the share of problems at 1 (every value 0 or 1: pass@n).
- :func:`ternary_mean_ci`: conservative Clopper-Pearson bounds on the shares of problems gained and lost
  (every paired difference -1, 0 or 1: pass@n deltas, Cover@tau).
- :func:`betting_ci`: the betting confidence set of Waudby-Smith & Ramdas (2024) for bounded values, valid at
  any number of problems.
- :func:`problem_mean_ci`: the interval each reported mean gets, by the first of these that applies, the
  studentized bootstrap (:func:`evalkit.stats.intervals.bootstrap_ci`) otherwise; it names the method. The
  betting set replaces the bootstrap wherever fewer than :data:`FEW_CARRYING` problems, or fewer than a
  third of them (:data:`CARRYING_SHARE`), carry the mean (:func:`needs_betting`, :func:`effective_problems`),
  which includes every run of fewer than :data:`SMALL_PROBLEMS` problems, sparse
  rates and pass@k near 1 with many problems.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from evalkit.stats._common import Alternative, ArrayLike, FloatArray, _check_alternative, _check_confidence
from evalkit.stats.intervals import _problem_values, bootstrap_ci

# ----------------------------------------------------------------------------------------------------
# Intervals that hold where the bootstrap does not: 0/1 values, -1/0/+1 differences, few problems
# ----------------------------------------------------------------------------------------------------


def _tails(confidence: float, alternative: Alternative) -> tuple[float, float]:
    """Error allowed below the lower bound and above the upper bound (0 for an unbounded side)."""
    alpha = 1.0 - confidence
    if alternative == "two-sided":
        return alpha / 2.0, alpha / 2.0
    return (0.0, alpha) if alternative == "less" else (alpha, 0.0)


def _cp_bounds(count: int, total: int, tail_low: float, tail_high: float) -> tuple[float, float]:
    """Clopper-Pearson bounds with their own tail errors (a tail of 0 leaves that side at 0 or 1)."""
    low = 0.0 if count == 0 or tail_low <= 0 else float(sps.beta.ppf(tail_low, count, total - count + 1))
    high = 1.0 if count == total or tail_high <= 0 else float(sps.beta.ppf(1.0 - tail_high, count + 1, total - count))
    return low, high


def binary_mean_ci(
    values: ArrayLike, confidence: float = 0.95, alternative: Alternative = "two-sided"
) -> tuple[float, float, float]:
    """Exact interval for the mean of per-problem values that are all 0 or 1 (pass@n, or any k where every
    problem's pass@k is 0 or 1): Clopper-Pearson (1934) on the number of ones out of P problems.

    Exact when problems are drawn from a population (the count is binomial); for fixed problems with
    different probabilities the count is Poisson-binomial, which is more concentrated than the binomial
    of the same mean (Hoeffding 1956, Ann. Math. Statist. 27:713), so the interval is conservative.
    Where all P values are 1 the bootstrap gives [1, 1]; this gives [(alpha/2)^(1/P), 1].

    Returns:
        (estimate, low, high); "less" gives low = 0, "greater" high = 1.

    Raises:
        ValueError: on values other than 0 and 1, no values or invalid options.
    """
    _check_confidence(confidence)
    _check_alternative(alternative)
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0 or np.any((x != 0.0) & (x != 1.0)):
        raise ValueError("binary_mean_ci: values must be 0 or 1, at least one")
    ones = int(x.sum())
    low, high = _cp_bounds(ones, x.size, *_tails(confidence, alternative))
    return ones / x.size, low, high


def ternary_mean_ci(
    differences: ArrayLike, confidence: float = 0.95, alternative: Alternative = "two-sided"
) -> tuple[float, float, float]:
    """Conservative interval for the mean of paired differences that are all -1, 0 or +1 (pass@n of two runs
    on the same problems, Cover@tau indicators): delta = pi_plus - pi_minus, the shares of problems gained
    and lost.

    Each share gets a Clopper-Pearson bound with half of the side's error (Bonferroni): the upper bound on
    delta is ``U(pi_plus) - L(pi_minus)``, the lower ``L(pi_plus) - U(pi_minus)``. Each count is binomial
    (problems drawn from a population) or Poisson-binomial (fixed problems; conservative, Hoeffding 1956), so
    each side misses with probability at most its share of 1 - confidence, whatever the number of problems
    and however many are tied. With no discordant problem it is ``[-u, u]`` with u = 1 - (alpha/4)^(1/P)
    (two-sided), not [0, 0].

    Returns:
        (estimate, low, high) in [-1, 1]; "less" gives low = -1, "greater" high = 1.

    Raises:
        ValueError: on values other than -1, 0 and 1, no values or invalid options.
    """
    _check_confidence(confidence)
    _check_alternative(alternative)
    d = np.asarray(differences, dtype=np.float64).ravel()
    if d.size == 0 or np.any((d != 0.0) & (np.abs(d) != 1.0)):
        raise ValueError("ternary_mean_ci: differences must be -1, 0 or 1, at least one")
    total, gained, lost = d.size, int(np.sum(d > 0)), int(np.sum(d < 0))
    tail_low, tail_high = _tails(confidence, alternative)
    # upper bound on delta: upper bound on pi_plus and lower bound on pi_minus, each with tail_high / 2
    _, up_plus = _cp_bounds(gained, total, 0.0, tail_high / 2.0)
    low_minus, _ = _cp_bounds(lost, total, tail_high / 2.0, 0.0)
    low_plus, _ = _cp_bounds(gained, total, tail_low / 2.0, 0.0)
    _, up_minus = _cp_bounds(lost, total, 0.0, tail_low / 2.0)
    high = up_plus - low_minus if tail_high > 0 else 1.0
    low = low_plus - up_minus if tail_low > 0 else -1.0
    return (gained - lost) / total, max(-1.0, low), min(1.0, high)


_BET_CAP = 0.75  # largest bet, as a share of what keeps every factor positive (WSR 2024 use 1/2 or 3/4)


def _betting_log_capital(x: FloatArray, grid: FloatArray, alpha: float) -> tuple[FloatArray, FloatArray]:
    """log capital of the bets "the mean is above m" (K+) and "below m" (K-) for each m of ``grid``.

    Predictable plug-in bets of Waudby-Smith & Ramdas (2024, JRSS-B 86:1, sec. 5, in the form tuned to a
    fixed sample size P): lambda_t = sqrt(2 log(1/alpha) / (P sigma2_{t-1})), sigma2_{t-1} the regularised
    variance of the values before t, truncated at 3/4 / m (K+) and 3/4 / (1 - m) (K-) so that every factor
    stays positive. Any bet that depends only on earlier values keeps Ville's bound. x in [0, 1], shape (P,)."""
    p = x.size
    t = np.arange(1, p + 1, dtype=np.float64)
    mu_hat = (0.5 + np.cumsum(x)) / (t + 1.0)
    sq = np.concatenate([[0.0], np.cumsum((x - mu_hat) ** 2)[:-1]])
    sigma2 = (0.25 + sq) / t
    lam = np.sqrt(2.0 * math.log(1.0 / alpha) / (sigma2 * p))  # tuned to the fixed number of problems
    g = grid[None, :]
    with np.errstate(divide="ignore"):
        lam_up = np.minimum(lam[:, None], _BET_CAP / np.maximum(g, 1e-12))
        lam_down = np.minimum(lam[:, None], _BET_CAP / np.maximum(1.0 - g, 1e-12))
    dev = x[:, None] - g
    return np.sum(np.log1p(lam_up * dev), axis=0), np.sum(np.log1p(-lam_down * dev), axis=0)


def _crossing(x: FloatArray, alpha: float, upper: bool) -> float:
    """The end of the betting confidence set on one side: inf{m: K+(m) < log(1/alpha)} (lower end) or
    sup{m: K-(m) < log(1/alpha)} (upper end), by bisection.

    Each factor of K+ is non-increasing in m (``lambda (x - m)`` with lambda = min(l, 3/4 / m): both factors
    fall where x > m, and ``lambda (m - x)`` rises where x < m), and each of K- non-decreasing, so the set is an
    interval and its ends are single crossings. The end is rounded outwards to 1e-9."""
    threshold = math.log(1.0 / alpha)

    def capital(m: float) -> float:
        up, down = _betting_log_capital(x, np.array([m]), alpha)
        return float(down[0] if upper else up[0])

    lo, hi = 0.0, 1.0
    if upper:
        if capital(1.0) < threshold:
            return 1.0
        # capital(m) >= threshold at m = 1; below it at m = mean (where no bet has an edge on average) or lower
        while hi - lo > 1e-10:
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if capital(mid) < threshold else (lo, mid)
        return min(1.0, hi + 1e-9)
    if capital(0.0) < threshold:
        return 0.0
    while hi - lo > 1e-10:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if capital(mid) < threshold else (mid, hi)
    return max(0.0, lo - 1e-9)


def betting_ci(
    values: ArrayLike,
    confidence: float = 0.95,
    alternative: Alternative = "two-sided",
    bounds: tuple[float, float] = (0.0, 1.0),
) -> tuple[float, float, float]:
    """Interval for the mean of bounded per-problem values, valid at any number of problems: the betting
    confidence set of Waudby-Smith & Ramdas (2024, "Estimating means of bounded random variables by betting",
    JRSS-B 86:1), predictable plug-in bets, one bet per side.

    A candidate mean m is rejected from above when the capital of betting "the mean is below m" reaches
    1/alpha_side (Ville's inequality bounds that chance by alpha_side when m is the true mean; two-sided,
    each side gets half of 1 - confidence). It needs only that the values lie in ``bounds`` and are
    independent with a common mean (problems drawn from a population), with no approximation, so it holds
    where the bootstrap falls short (few problems, a handful of problems carrying the mean); the price is
    width. The problems are bet on in the given order; each end of the set is found by bisection (the set is
    an interval, see :func:`_crossing`) and rounded outwards.

    Returns:
        (estimate, low, high); "less" gives low = bounds[0], "greater" high = bounds[1].

    Raises:
        ValueError: on values outside ``bounds``, no values or invalid options.
    """
    _check_confidence(confidence)
    _check_alternative(alternative)
    lo_b, hi_b = bounds
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)) or np.any((v < lo_b - 1e-12) | (v > hi_b + 1e-12)):
        raise ValueError(f"betting_ci: values must be finite and within {bounds}")
    x = np.clip((v - lo_b) / (hi_b - lo_b), 0.0, 1.0)
    tail_low, tail_high = _tails(confidence, alternative)
    low = _crossing(x, tail_low, upper=False) if tail_low > 0 else 0.0
    high = _crossing(x, tail_high, upper=True) if tail_high > 0 else 1.0
    est = float(x.mean())
    low, high = min(low, est), max(high, est)
    scale = hi_b - lo_b
    return float(v.mean()), lo_b + scale * low, lo_b + scale * high


#: Below this many problems the bootstrap's coverage falls short where a handful of problems carry the mean
#: (measured in :mod:`evalkit.compare.calibration`); :func:`problem_mean_ci` bets instead.
SMALL_PROBLEMS = 100
#: The bootstrap needs this many problems off the most common value (:func:`effective_problems`), at any P;
#: below it :func:`problem_mean_ci` bets. Equal to :data:`SMALL_PROBLEMS`, so that one rule covers both: a run
#: of fewer than 100 problems has fewer than 100 off its most common value.
FEW_CARRYING = SMALL_PROBLEMS
#: ... and this share of the problems off the most common value, at any P. Where many problems are tied, the
#: data sets that draw more of the rare problems off the mode are the ones whose bootstrap bound misses, so a
#: count alone, which those data sets pass, does not catch them: over 1,000 problems with 28-30% off the mode
#: (pass@64 of very hard and U-shaped rates) the bootstrap covered 0.913-0.923 two-sided, at 10% (sparse rates,
#: pass@64) 0.910 one-sided.
CARRYING_SHARE = 1.0 / 3.0

METHOD_BINARY = "exact: Clopper-Pearson on the share of problems at 1 (every per-problem value is 0 or 1)"
METHOD_TERNARY = (
    "conservative: Clopper-Pearson on the shares of problems gained and lost, Bonferroni (every difference is -1, "
    "0 or 1)"
)
METHOD_BETTING = (
    f"betting confidence set (Waudby-Smith & Ramdas 2024; fewer than {FEW_CARRYING} problems, or fewer than a "
    "third of them, off the most common value)"
)
METHOD_BOOTSTRAP = "studentized bootstrap over problems"


def effective_problems(values: ArrayLike) -> int:
    """How many problems carry the mean of per-problem values: those whose value differs from the most common
    one (to 1e-9). Sparse rates (most problems at 0), pass@k near 1 with many problems (most at 1) and mostly
    tied paired differences (most at 0) have few, although P is large.

    The studentized bootstrap's coverage falls short when a handful of problems carry the mean: its one-sided
    error is of order (skewness^2 + kurtosis) / P (Hall 1992, *The Bootstrap and Edgeworth Expansion*, ch. 3),
    and where most problems are tied those moments grow as the count off the mode falls, so the count off the
    mode, not P, is its sample size. Measured in :mod:`evalkit.compare.calibration` (nominal 0.95, worst of
    two-sided and both one-sided bounds): about 20 problems off the mode (pass@1 at 0.25% over 200 problems)
    0.927, pass@1024 of uniform rates over 1,000 problems (about 15 below 1) 0.917; about 96 off 0 (pass@64 at
    0.07 over 1,000 problems) 0.910-0.930; 28-30% of 1,000 problems off the mode 0.913-0.923; a third or more
    off the mode and at least 100 problems 0.930-0.97 in every setting measured (300-1,000 data sets; the rule
    is :func:`needs_betting`).

    Raises:
        ValueError: on values that are not 1-D or are empty.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("effective_problems: values must be 1-D, at least one")
    _, counts = np.unique(np.round(x / 1e-9), return_counts=True)
    return int(x.size - counts.max())


def needs_betting(values: ArrayLike) -> bool:
    """Whether :func:`problem_mean_ci` gives these per-problem values the betting set rather than the bootstrap:
    fewer than :data:`FEW_CARRYING` problems off the most common value (:func:`effective_problems`), or fewer
    than a third of all problems (:data:`CARRYING_SHARE`; many problems tied: sparse rates, pass@k near 0 or
    1, mostly tied paired differences). Measured in :mod:`evalkit.compare.calibration` and
    ``reports/BENCHMARKS.md``.

    Raises:
        ValueError: on values that are not 1-D or are empty.
    """
    off = effective_problems(values)
    return off < FEW_CARRYING or off < CARRYING_SHARE * np.asarray(values).size


def problem_mean_ci(
    values: ArrayLike,
    confidence: float = 0.95,
    alternative: Alternative = "two-sided",
    paired: bool = False,
    seed: int = 0,
) -> list[tuple[float, float, float, str]]:
    """An interval for the mean over problems of each column, by the method that holds for that column.

    * every value 0 or 1 (rates, ``paired=False``): :func:`binary_mean_ci` (exact);
    * every difference -1, 0 or 1 (``paired=True``): :func:`ternary_mean_ci` (conservative);
    * fewer than :data:`FEW_CARRYING` problems, or fewer than a third of them (:data:`CARRYING_SHARE`), carrying
      the mean (:func:`needs_betting`; off the most common value, as with few problems, sparse rates, mostly
      tied paired differences or pass@k near 1):
      :func:`betting_ci` (valid at any number of problems);
    * otherwise the studentized bootstrap (:func:`bootstrap_ci`), clipped to the values' range.

    Args:
        values: Per-problem values, (P,) or (P, K): rates in [0, 1], or paired differences in [-1, 1].
        confidence: Coverage of the interval (or of the one-sided bound).
        alternative: "two-sided", "less" (upper bound only) or "greater" (lower bound only).
        paired: The values are differences of two runs' rates (range [-1, 1]).
        seed: Seed of the bootstrap.

    Returns:
        One (estimate, low, high, method) per column, the method in words.

    Raises:
        ValueError: on fewer than 2 problems, non-finite values or invalid options.
    """
    x = _problem_values("problem_mean_ci", values)
    x2 = x.reshape(x.shape[0], -1)
    rng = (-1.0, 1.0) if paired else (0.0, 1.0)
    out: list[tuple[float, float, float, str] | None] = [None] * x2.shape[1]
    boot_cols = []
    for j in range(x2.shape[1]):
        col = x2[:, j]
        snapped = np.rint(col)
        discrete = bool(np.all(np.abs(col - snapped) <= 1e-9))
        if discrete and not paired and np.all((snapped == 0) | (snapped == 1)):
            out[j] = (*binary_mean_ci(snapped, confidence, alternative), METHOD_BINARY)
        elif discrete and paired and np.all(np.abs(snapped) <= 1):
            out[j] = (*ternary_mean_ci(snapped, confidence, alternative), METHOD_TERNARY)
        elif needs_betting(col):  # below SMALL_PROBLEMS problems this always holds
            out[j] = (*betting_ci(np.clip(col, *rng), confidence, alternative, rng), METHOD_BETTING)
        else:
            boot_cols.append(j)
    if boot_cols:
        est, low, high = bootstrap_ci(x2[:, boot_cols], confidence, seed, alternative=alternative)
        for i, j in enumerate(boot_cols):
            lo = -math.inf if alternative == "less" else max(float(low[i]), rng[0])
            hi = math.inf if alternative == "greater" else min(float(high[i]), rng[1])
            out[j] = (float(est[i]), lo, hi, METHOD_BOOTSTRAP)
    return [o for o in out if o is not None]
