"""Intervals over problems: bootstrap (studentized, BCa, percentile), CLT with the clustered standard
error, and exact binomial (Clopper-Pearson) bounds. The problem is the unit of resampling."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from evalkit.stats._common import (
    _BLOCK,
    Alternative,
    ArrayLike,
    BootMethod,
    FloatArray,
    _as_counts,
    _check_alternative,
    _check_confidence,
)
from evalkit.stats.estimators import _require_k_le_n, pass_at_k

# ----------------------------------------------------------------------------------------------------
# Intervals over problems
# ----------------------------------------------------------------------------------------------------


def _problem_values(name: str, values: ArrayLike) -> FloatArray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError(f"{name}: values must be 1-D (problems) or 2-D (problems x statistics)")
    if x.shape[0] < 2:
        raise ValueError(f"{name}: need at least 2 problems, got {x.shape[0]}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: values must be finite (no NaN: is k larger than some n?)")
    return x


def _bootstrap_moments(x: FloatArray, seed: int, n_boot: int) -> tuple[FloatArray, FloatArray]:
    """Resample the rows (problems) of the P x K matrix x ``n_boot`` times, vectorised.

    Each replicate draws P problem indices with replacement; their counts (a multinomial row) times the
    values / P is the replicate's mean. Returns, each of shape (n_boot, K), the replicate mean minus the
    sample mean and the replicate mean of squared deviations from the sample mean (centred moments, so
    that replicate variances do not suffer cancellation). The draws depend only on (seed, n_boot, P), so
    every column, and both sides of a paired comparison, see the same resampled problem sets.
    """
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    p, k = x.shape
    dev = x - x.mean(axis=0)
    both = np.concatenate([dev, dev * dev], axis=1)
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, 2 * k))
    rows = max(1, _BLOCK // p)
    for lo in range(0, n_boot, rows):
        b = min(rows, n_boot - lo)
        idx = rng.integers(0, p, size=(b, p)) + (np.arange(b) * p)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * p).reshape(b, p).astype(np.float64)
        out[lo : lo + b] = counts @ both / p
    return out[:, :k], out[:, k:]


def _column_quantiles(sorted_boot: FloatArray, q: FloatArray) -> FloatArray:
    """Per-column quantiles at per-column levels q (linear interpolation, numpy's default rule)."""
    b = sorted_boot.shape[0]
    pos = np.clip(q, 0.0, 1.0) * (b - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, b - 1)
    frac = pos - lo
    cols = np.arange(sorted_boot.shape[1])
    return sorted_boot[lo, cols] * (1.0 - frac) + sorted_boot[hi, cols] * frac


def _levels(confidence: float, alternative: Alternative) -> tuple[float | None, float | None]:
    """Quantile levels of the lower and upper bound (None: that side is unbounded)."""
    alpha = 1.0 - confidence
    if alternative == "two-sided":
        return alpha / 2.0, 1.0 - alpha / 2.0
    if alternative == "less":
        return None, confidence
    return alpha, None


# Relative tolerance of "a replicate mean equals the estimate" (see _bca_bounds).
_TIE_TOL = 1e-9


def _bca_bounds(
    x: FloatArray, m1c: FloatArray, confidence: float, alternative: Alternative, accelerate: bool = True
) -> list[FloatArray | None]:
    """BCa (or, with ``accelerate=False`` and no bias correction, percentile) bounds per column."""
    est = x.mean(axis=0)
    srt = np.sort(m1c, axis=0)
    b = srt.shape[0]
    if accelerate:
        # Bias correction: where the estimate sits among the replicates (ties count half). A replicate
        # that draws the same multiset of values as the sample has mean - estimate = +-1e-17 from
        # round-off, so ties are counted within a tolerance far above round-off and far below any
        # real difference of two means (values differ by at least 1/(n P) unless equal).
        tol = _TIE_TOL * np.max(np.abs(x - est), axis=0, initial=0.0)
        below = np.sum(srt < -tol, axis=0) + 0.5 * np.sum(np.abs(srt) <= tol, axis=0)
        z0 = sps.norm.ppf(np.clip(below / b, 0.5 / b, 1.0 - 0.5 / b))
        # Jackknife acceleration, closed-form for a mean: theta_(i) = (S - x_i) / (P - 1), so
        # a = sum(d^3) / (6 sum(d^2)^1.5) with d = x_i - mean (the (P - 1) factors cancel).
        d = x - est
        ss = np.sum(d**2, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(ss > 0, np.sum(d**3, axis=0) / (6.0 * ss**1.5), 0.0)
    bounds: list[FloatArray | None] = []
    for level in _levels(confidence, alternative):
        if level is None:
            bounds.append(None)
            continue
        if accelerate:
            z = z0 + sps.norm.ppf(level)
            denom = 1.0 - acc * z
            ok = denom > 0
            q = np.where(ok, sps.norm.cdf(z0 + z / np.where(ok, denom, 1.0)), float(level > 0.5))
        else:
            q = np.full(srt.shape[1], level)
        bounds.append(est + _column_quantiles(srt, q))
    return bounds


def _studentized_bounds(
    x: FloatArray, m1c: FloatArray, m2c: FloatArray, confidence: float, alternative: Alternative
) -> list[FloatArray | None]:
    """Bootstrap-t bounds per column: symmetric (quantile of |t*|) when two-sided, signed when one-sided.

    t* = (replicate mean - mean) / replicate SE. A replicate with zero spread (all its problems have the
    same value) has t* = +-inf; when such replicates decide a bound, the bound is not finite and the BCa
    bound is used instead (this happens only with a handful of non-constant problems).
    """
    p = x.shape[0]
    var = np.var(x, axis=0, ddof=1)
    se = np.sqrt(var / p)
    var_star = np.maximum(m2c - m1c**2, 0.0) * p / (p - 1)
    flat = var_star <= 1e-12 * var
    tiny = np.abs(m1c) <= 1e-12 * np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(flat, np.where(tiny, 0.0, np.sign(m1c) * np.inf), m1c / np.sqrt(var_star / p))
    lo_level, hi_level = _levels(confidence, alternative)
    est = x.mean(axis=0)
    if alternative == "two-sided":
        crit = np.quantile(np.abs(t), confidence, axis=0, method="higher")
        low: FloatArray | None = est - crit * se
        high: FloatArray | None = est + crit * se
    else:
        low = None if lo_level is None else est - np.quantile(t, 1.0 - lo_level, axis=0, method="higher") * se
        high = None if hi_level is None else est - np.quantile(t, 1.0 - hi_level, axis=0, method="lower") * se
    fallback = _bca_bounds(x, m1c, confidence, alternative)
    out: list[FloatArray | None] = []
    for mine, bca in zip((low, high), fallback, strict=True):
        if mine is None or bca is None:
            out.append(None)
            continue
        with np.errstate(invalid="ignore"):
            mine = np.where(se > 0, mine, est)  # constant values: a zero-width interval
        out.append(np.where(np.isfinite(mine), mine, bca))
    return out


def _interval_from_boot(
    x: FloatArray,
    m1c: FloatArray,
    m2c: FloatArray,
    confidence: float,
    alternative: Alternative,
    method: BootMethod,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(estimate, low, high) per column of the P x K matrix x from its resample moments."""
    est = x.mean(axis=0)
    if method == "studentized":
        bounds = _studentized_bounds(x, m1c, m2c, confidence, alternative)
    else:
        bounds = _bca_bounds(x, m1c, confidence, alternative, accelerate=method == "bca")
    lo_b, hi_b = bounds
    # Rounding, or a degenerate resample distribution, must not leave the estimate outside.
    low = np.full_like(est, -np.inf) if lo_b is None else np.minimum(lo_b, est)
    high = np.full_like(est, np.inf) if hi_b is None else np.maximum(hi_b, est)
    return est, low, high


def bootstrap_ci(
    values: ArrayLike,
    confidence: float = 0.95,
    seed: int = 0,
    n_boot: int = 2000,
    alternative: Alternative = "two-sided",
    method: BootMethod = "studentized",
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bootstrap interval for the mean over problems of per-problem values, one interval per column.

    Problems are resampled with replacement, vectorised as multinomial counts times values; all columns
    share the same resamples. Methods:

    - ``"studentized"`` (default): bootstrap-t (Efron & Tibshirani 1993, ch. 12; Hall 1988). Two-sided
      it is the symmetric form ``mean +- q * se`` with q the ``confidence`` quantile of |t*|; one-sided
      bounds use the signed t* quantile. Where the bound is not finite (replicates with zero spread decide
      it, i.e. only a handful of problems differ from the rest) the BCa bound is used.
    - ``"bca"``: Efron's bias-corrected and accelerated percentile interval (jackknife acceleration in
      closed form for a mean).
    - ``"percentile"``: the plain percentile interval.

    Why studentized: per-problem pass@k values are bounded and often very skewed (most problems at 0 or
    at 1) or heavy-tailed (paired deltas that are mostly 0). In the simulations of
    :mod:`evalkit.compare.calibration` (P = 200, nominal 95%) the studentized interval kept 94-96% coverage in
    every setting but the sparsest (pass@1 = 0.25%, where a few problems carry the whole mean: 92.6%);
    the percentile and CLT intervals fell to about 86% when pass@k was near 1 (and to 88% in the sparse
    setting), and BCa to 91-92% there and on heavy-tailed paired deltas. The price is width: up to 1.5x
    the percentile interval when pass@k is near 0 or 1. The interval always contains the estimate.

    With few problems it falls short where a handful of problems carry the mean (measured, 1,000 datasets,
    coverage two-sided / worst one-sided bound). At P = 50: below 93% only for pass@64 = 0.985 (0.911 /
    0.911), the sparsest rates (pass@1 = 0.25%: 0.863 / 0.851; pass@8 = 0.017: 0.889 / 0.875) and
    mostly-zero paired deltas (one-sided 0.887-0.925; two-sided 0.96-0.99). At P = 20: pass@64 = 0.985
    0.718 / 0.710, pass@1 = 0.02 0.887 / 0.885, pass@1 = 0.25% 0.699 / 0.691 (pass@64 = 0.07: 0.880),
    mostly-zero paired deltas one-sided 0.873-0.907, a paired pass@1 gain of 0.10 one-sided 0.917; the
    other settings 0.92-0.99. Where a decision must hold there, use :func:`evalkit.stats.sign_flip_test`; the
    intervals evalkit reports come from :func:`evalkit.stats.exact.problem_mean_ci`, which uses this only where
    at least 100 problems, and a third of them, lie off the most common value (so never below 100 problems;
    over 1,000 problems with 28-30% off the mode it covered 0.913-0.923 two-sided; at 200 problems this
    interval covered pass@1 = 0.25% 0.927, about 20 problems off 0; pass@1024 of uniform rates over 1,000
    problems 0.917 at a width of 0.11, about 15 below 1; pass@64 = 0.07 over 1,000 problems 0.930 one-sided,
    about 96 off 0), and where the values are not all 0/1 (or -1/0/+1).

    Args:
        values: Per-problem values, shape (P,) or (P, K); finite.
        confidence: Coverage level, in (0, 1).
        seed: Seed of the resampling.
        n_boot: Number of resamples.
        alternative: "two-sided"; "less" gives (-inf, upper bound); "greater" gives (lower bound, +inf).
            Each one-sided bound has coverage ``confidence`` on its own.
        method: "studentized", "bca" or "percentile".

    Returns:
        (estimate, low, high), each of shape values.shape[1:] (0-d for 1-D values).

    Raises:
        ValueError: on fewer than 2 problems, non-finite values or invalid options.
    """
    _check_confidence(confidence)
    _check_alternative(alternative)
    if method not in ("studentized", "bca", "percentile"):
        raise ValueError(f"method must be 'studentized', 'bca' or 'percentile', got {method!r}")
    x = _problem_values("bootstrap_ci", values)
    x2 = x.reshape(x.shape[0], -1)
    est, low, high = _interval_from_boot(x2, *_bootstrap_moments(x2, seed, n_boot), confidence, alternative, method)
    shape = x.shape[1:]
    return est.reshape(shape), low.reshape(shape), high.reshape(shape)


def _clip_interval(est: float, low: float, high: float, lo_lim: float, hi_lim: float) -> tuple[float, float, float]:
    """Clip finite bounds to the range the statistic can take; infinite (one-sided) bounds stay."""
    low = low if math.isinf(low) else max(low, lo_lim)
    high = high if math.isinf(high) else min(high, hi_lim)
    return est, low, high


def _per_problem_pass(name: str, n: ArrayLike, c: ArrayLike, k: int) -> FloatArray:
    n_a, c_a = _as_counts(name, n, c)
    if n_a.ndim != 1 or np.ndim(c_a) != 1 or n_a.shape != c_a.shape:
        raise ValueError(f"{name}: n and c must be 1-D arrays with one entry per problem")
    if n_a.size == 0:
        raise ValueError(f"{name}: no problems")
    _require_k_le_n(n_a, k)
    return pass_at_k(n_a, c_a, k)


def pass_at_k_ci(
    n: ArrayLike,
    c: ArrayLike,
    k: int,
    confidence: float = 0.95,
    seed: int = 0,
    n_boot: int = 2000,
    alternative: Alternative = "two-sided",
    method: BootMethod = "studentized",
) -> tuple[float, float, float]:
    """Mean pass@k over problems with a bootstrap interval (problems resampled; see :func:`bootstrap_ci`).

    Args:
        n: Samples per problem (1-D).
        c: Correct samples per problem (1-D).
        k: Budget; every problem needs n >= k.
        confidence: Coverage level.
        seed: Seed of the resampling.
        n_boot: Number of resamples.
        alternative: "two-sided", "less" (low = -inf) or "greater" (high = +inf).
        method: "studentized" (default), "bca" or "percentile".

    Returns:
        (estimate, low, high).

    Raises:
        ValueError: on invalid counts, some n < k, fewer than 2 problems or invalid options.
    """
    vals = _per_problem_pass("pass_at_k_ci", n, c, k)
    est, low, high = bootstrap_ci(vals, confidence, seed, n_boot, alternative, method)
    return _clip_interval(float(est), float(low), float(high), 0.0, 1.0)


def _paired_deltas(n_a: ArrayLike, c_a: ArrayLike, n_b: ArrayLike, c_b: ArrayLike, k: int) -> FloatArray:
    a = _per_problem_pass("paired_delta", n_a, c_a, k)
    b = _per_problem_pass("paired_delta", n_b, c_b, k)
    if a.shape != b.shape:
        raise ValueError(f"paired_delta: A has {a.size} problems and B has {b.size}; pair them first")
    return b - a


def paired_delta_ci(
    n_a: ArrayLike,
    c_a: ArrayLike,
    n_b: ArrayLike,
    c_b: ArrayLike,
    k: int,
    confidence: float = 0.95,
    seed: int = 0,
    n_boot: int = 2000,
    alternative: Alternative = "two-sided",
    method: BootMethod = "studentized",
) -> tuple[float, float, float]:
    """Paired bootstrap interval for delta = mean pass@k of B - mean pass@k of A on the same problems.

    Entry i of every array is the same problem. Each replicate resamples problem indices once and uses
    them for both A and B, which is the same as resampling the per-problem differences. Identical runs
    give exactly (0, 0, 0). For a CI gate "is B worse than A by more than tol at 95%, one-sided?", use
    ``alternative="less"`` and test ``high < -tol``.

    Args:
        n_a: Samples per problem, run A (e.g. the base or baseline).
        c_a: Correct samples per problem, run A.
        n_b: Samples per problem, run B (e.g. the RL checkpoint or candidate).
        c_b: Correct samples per problem, run B.
        k: Budget; every problem needs n >= k in both runs.
        confidence: Coverage level.
        seed: Seed of the resampling.
        n_boot: Number of resamples.
        alternative: "two-sided", "less" (low = -inf) or "greater" (high = +inf).
        method: "studentized" (default), "bca" or "percentile".

    Returns:
        (delta, low, high).

    Raises:
        ValueError: on invalid counts, unequal problem counts, some n < k or invalid options.
    """
    d = _paired_deltas(n_a, c_a, n_b, c_b, k)
    est, low, high = bootstrap_ci(d, confidence, seed, n_boot, alternative, method)
    return _clip_interval(float(est), float(low), float(high), -1.0, 1.0)


def clustered_se(values: ArrayLike) -> float:
    """Standard error of a mean over problems, with each problem's samples as one cluster.

    ``values`` is either one value per problem (1-D, e.g. per-problem pass@k) or a problems x samples
    matrix of per-sample scores (2-D, every problem with the same number of samples). The result is
    ``sd(problem means, ddof=1) / sqrt(P)``, which for equal cluster sizes is exactly the cluster-robust
    (CR1, G/(G-1)-corrected) standard error of the overall mean: samples of one problem are correlated,
    problems are independent.

    Raises:
        ValueError: on fewer than 2 problems, non-finite values or more than 2 dimensions.
    """
    x = _problem_values("clustered_se", values)
    means = x.mean(axis=1) if x.ndim == 2 else x
    return float(np.std(means, ddof=1) / math.sqrt(means.size))


def _se_interval(x: FloatArray, confidence: float, alternative: Alternative) -> tuple[float, float, float]:
    _check_confidence(confidence)
    _check_alternative(alternative)
    est = float(x.mean())
    se = clustered_se(x)
    df = x.size - 1
    if alternative == "two-sided":
        half = float(sps.t.ppf(1.0 - (1.0 - confidence) / 2.0, df)) * se
        return est, est - half, est + half
    half = float(sps.t.ppf(confidence, df)) * se
    if alternative == "less":
        return est, -math.inf, est + half
    return est, est - half, math.inf


def pass_at_k_se_ci(
    n: ArrayLike, c: ArrayLike, k: int, confidence: float = 0.95, alternative: Alternative = "two-sided"
) -> tuple[float, float, float]:
    """Mean pass@k with a CLT interval: estimate +- t_{P-1} * :func:`clustered_se` (finite bounds clipped
    to [0, 1]). Cheap, and calibrated (93-97% at P = 200) while pass@k is away from 0 and 1; when most
    problems sit at 0 or at 1 (pass@64 = 0.985, or pass@1 = 0.25%) its coverage fell to 86-88% in
    :mod:`evalkit.compare.calibration`, where :func:`pass_at_k_ci` (studentized bootstrap) held.

    Returns:
        (estimate, low, high); "less" gives low = -inf, "greater" gives high = +inf.

    Raises:
        ValueError: on invalid counts, some n < k, fewer than 2 problems or invalid options.
    """
    vals = _per_problem_pass("pass_at_k_se_ci", n, c, k)
    return _clip_interval(*_se_interval(vals, confidence, alternative), 0.0, 1.0)


def paired_delta_se_ci(
    n_a: ArrayLike,
    c_a: ArrayLike,
    n_b: ArrayLike,
    c_b: ArrayLike,
    k: int,
    confidence: float = 0.95,
    alternative: Alternative = "two-sided",
) -> tuple[float, float, float]:
    """Paired CLT interval for delta = mean pass@k of B - A: the standard error of the per-problem
    differences (paired, so shared problem difficulty cancels), t_{P-1} quantiles, clipped to [-1, 1].

    Returns:
        (delta, low, high); identical runs give exactly (0, 0, 0).

    Raises:
        ValueError: as :func:`paired_delta_ci`.
    """
    d = _paired_deltas(n_a, c_a, n_b, c_b, k)
    return _clip_interval(*_se_interval(d, confidence, alternative), -1.0, 1.0)


def zero_success_upper_bound(n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on the per-sample success rate after 0 successes in n.

    "0 of 1024" means the rate is below 1 - (1 - confidence)^(1/n), about 0.0029 at 95%; evalkit
    says that instead of "impossible".
    """
    if n < 1:
        raise ValueError("zero_success_upper_bound: n must be >= 1")
    return float(sps.beta.ppf(confidence, 1, n))


def clopper_pearson(
    c: ArrayLike, n: ArrayLike, confidence: float = 0.95, alternative: Alternative = "two-sided"
) -> tuple[FloatArray, FloatArray]:
    """Exact (Clopper-Pearson) interval for a binomial success rate, vectorised over (c, n).

    Two-sided: ``low = Beta.ppf(alpha/2; c, n-c+1)`` (0 when c = 0) and ``high = Beta.ppf(1-alpha/2; c+1,
    n-c)`` (1 when c = n). "less" gives (0, one-sided upper bound), "greater" (one-sided lower bound, 1);
    with c = 0, "less" matches :func:`zero_success_upper_bound`.

    Raises:
        ValueError: on invalid counts or options.
    """
    _check_confidence(confidence)
    _check_alternative(alternative)
    n_a, c_a = _as_counts("clopper_pearson", n, c)
    n_a, c_a = np.broadcast_arrays(n_a, c_a)
    alpha = 1.0 - confidence
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    with np.errstate(invalid="ignore"):
        low = np.where(c_a == 0, 0.0, sps.beta.ppf(tail, np.maximum(c_a, 1), n_a - c_a + 1))
        high = np.where(c_a == n_a, 1.0, sps.beta.ppf(1.0 - tail, c_a + 1, np.maximum(n_a - c_a, 1)))
    if alternative == "less":
        low = np.zeros_like(low)
    elif alternative == "greater":
        high = np.ones_like(high)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
