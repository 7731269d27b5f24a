"""pass@k beyond the samples drawn: an empirical-Bayes forecast from per-problem counts, with intervals and a
goodness-of-fit check.

Model (:mod:`evalkit.stats.forecast_model`): a zero-inflated beta-binomial, as in the pass@k scaling fits of
Schaeffer et al., arXiv 2502.17578, with a point mass at zero so that problems a model can never solve are not
forced onto a curve that rises for ever: a rate is exactly 0 with probability ``pi0``, else drawn from
Beta(a, b); a count is Binomial(n, rate).

Fitted to the low region only. pass@K for K > n is decided by the problems with few or no correct samples: a
problem with more than ``low_cap(n) = max(2, n // 32)`` correct samples in n has a rate of about 1/32 or more,
so its pass@K is 1 to within ``exp(-K / 32)``, whatever the rest of the distribution looks like. One beta
fitted to all counts must describe the solved bulk as well, and where the rates have several modes (a cluster
near 0 next to a cluster near 1) or a band near ``1 / n``, the bulk pulls the beta's tail near zero into the
wrong shape and the interval is confidently wrong (measured: 0.15 coverage on three beta modes, 0.00 on a band
of rates around 1 / n, reports/BENCHMARKS.md). So ``(pi0, a, b)`` are fitted by the likelihood of the
low-count problems' counts *given* that they are at most ``low_cap(n)`` (a truncated beta-binomial): the beta
only has to describe the rates below about 1/32. The other problems are treated one by one: each one's rate
has its own Jeffreys posterior Beta(c + 1/2, n - c + 1/2).

Forecast: the target is the mean over *these* problems of their pass@K, ``mean_i 1 - (1 - p_i)^K``. Given the
fit, a low problem's rate has the posterior ``P(p_i = 0) = pi0 / (pi0 + (1 - pi0) BB(0 | n_i, a, b))`` when it
was never solved (0 otherwise) and Beta(a + c_i, b + n_i - c_i) else (truncating the counts does not change
a problem's posterior given its count), so

    E[pass@K_i] = (1 - P(p_i = 0)) * (1 - B(a + c_i, b + n_i - c_i + K) / B(a + c_i, b + n_i - c_i)).

The interval is a credible interval of hierarchical Bayes, which takes both sources of uncertainty: the
hyperparameters ``(logit pi0, log a, log b)`` get a uniform prior on a box, their posterior is evaluated on a grid
(:func:`evalkit.stats.forecast_model.posterior_fits`), and for each of ``replicates`` draws every problem's rate is
drawn from its posterior given its own counts; the interval is the equal-tailed interval of the mean pass@K of
those draws. Where the data leave the hyperparameters poorly determined (many unsolved problems: a ridge between
"rates exactly 0" and "a heavy tail near 0") the draws spread along the ridge and the interval widens, where a
bootstrap of the maximum-likelihood fit stays on its biased point. The point forecast is the mean under the
maximum-likelihood fit.

Goodness of fit (a backtest of the extrapolation itself): the same method is applied to each problem's first
``n // ratio`` samples only and asked to forecast pass@n, which the run has observed (the unbiased estimator
at k = n: the share of problems solved at least once). When the observed value falls outside the backtest's
interval, the fit is called poor and forecasts beyond n are refused for that scope (``Backtest.ok`` is False).
A Pearson chi-square of the count histogram would test the fit where the data are, not where the forecast
goes; the backtest tests the step the forecast takes (by the same ratio, not the full distance to K).

What is not covered: a forecast is only as good as the assumption that the rates of the unsolved problems
continue the shape of the rarely solved ones' (a beta tail near zero); rates far below ``1 / n`` leave no
trace in n samples, so the interval for K much larger than n reflects the model, not the data (measured: 0.70-0.75
coverage where half the problems hide around rate 1/2000, or 40% sit at 0.002, from n = 128 to K = 1024). The
backtest checks one step of extrapolation; larger steps are not checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from evalkit.stats._common import FloatArray, IntArray
from evalkit.stats.forecast_model import (
    PRIOR_BOX,
    BetaBinomialFit,
    _neg_log_likelihood,
    fit_beta_binomial,
    low_cap,
    posterior_fits,
)

__all__ = [
    "BACKTEST_RATIO",
    "MIN_N",
    "PRIOR_BOX",
    "Backtest",
    "BetaBinomialFit",
    "Forecast",
    "_neg_log_likelihood",
    "adaptive_low_max",
    "backtest",
    "backtest_counts",
    "fit_beta_binomial",
    "forecast_pass_at_k",
    "posterior_fits",
    "posterior_rates",
]

MIN_N = 8  # below this many samples per problem there is nothing to fit a rate distribution to
BACKTEST_RATIO = 4  # the backtest fits on n // 4 samples and forecasts pass@n


def _low_region(n: IntArray, c: IntArray, low_max: int | None = None) -> np.ndarray:
    """Which problems the rate distribution is fitted to (count at most ``low_cap(n)``, or ``low_max``),
    shape (problems,)."""
    if low_max is not None:
        return np.asarray(c <= low_max)
    return np.asarray(c <= np.array([low_cap(int(x)) for x in n], dtype=np.int64).reshape(n.shape))


def adaptive_low_max(n: int, successes: int) -> int:
    """The low region of a run sampled with ``--adaptive`` (stop at R = ``successes`` correct samples or at n):
    counts at most ``min(low_cap(n), R - 1)``.

    A problem whose count at n would be at most R - 1 never reaches R, so the rule draws it to n and its count
    is known exactly; any other problem is either drawn to n with R or more correct samples or stopped early
    (its count at n is then unknown but above R - 1). So the low region is identified exactly and the truncated
    likelihood of :mod:`evalkit.stats.forecast_model` applies with this cap; every other problem's rate gets its
    own Jeffreys posterior from the (successes, samples) the rule read, which the stopping rule does not change
    (the likelihood of a stopped sequence is the binomial kernel). With R = 1 the low region holds only
    never-solved problems, whose counts carry no information on the beta's shape: the interval is then as wide
    as the hyperprior allows.
    """
    return min(low_cap(int(n)), int(successes) - 1)


def _draw_rates(
    n: IntArray, c: IntArray, low: np.ndarray, fit: BetaBinomialFit, rng: np.random.Generator
) -> FloatArray:
    """One draw of every problem's rate: low problems from the fit's posterior, the others from their own
    Jeffreys posterior; shape (problems,)."""
    rates = np.empty(n.shape, dtype=np.float64)
    rates[low] = fit.draw_rates(n[low], c[low], rng)
    high = ~low
    rates[high] = rng.beta(c[high] + 0.5, n[high] - c[high] + 0.5)
    return rates


def _expected_pass_at_k(n: IntArray, c: IntArray, low: np.ndarray, fit: BetaBinomialFit, k: int) -> float:
    """Mean over problems of the posterior mean pass@k under ``fit`` (low problems) and Jeffreys (others)."""
    values = np.empty(n.shape, dtype=np.float64)
    values[low] = fit.expected_pass_at_k(n[low], c[low], k)
    high = ~low
    a, b = c[high] + 0.5, n[high] - c[high] + 0.5
    values[high] = 1.0 - np.exp(special.betaln(a, b + k) - special.betaln(a, b))
    return float(values.mean())


def _posterior(
    n: IntArray, c: IntArray, draws: int, rng: np.random.Generator, low_max: int | None = None
) -> tuple[np.ndarray, BetaBinomialFit, list[BetaBinomialFit], float]:
    """The low region, its fit, posterior fits and effective sample size (all problems high: a dummy fit)."""
    low = _low_region(n, c, low_max)
    if not low.any():
        nothing = BetaBinomialFit(0.0, 1.0, 1.0, 0.0)
        return low, nothing, [nothing] * draws, float(draws)
    fit, fits, ess = posterior_fits(n[low], c[low], draws, rng, cap=True, low_max=low_max)
    return low, fit, fits, ess


def posterior_rates(n: Sequence[int] | IntArray, c: Sequence[int] | IntArray, draws: int, seed: int = 0) -> FloatArray:
    """Draws of every problem's rate from the forecast's own posterior: per draw, hyperparameters from their
    posterior (low-count problems) and each problem's rate given its counts, exactly as the interval of
    :func:`forecast_pass_at_k` draws them.

    Args:
        n, c: Samples and correct samples per problem, shape (problems,).
        draws: How many draws.
        seed: Seed of the draws.

    Returns:
        Rates, shape (draws, problems).
    """
    n_arr, c_arr = np.asarray(n, dtype=np.int64), np.asarray(c, dtype=np.int64)
    rng = np.random.default_rng(seed)
    low, _fit, fits, _ess = _posterior(n_arr, c_arr, draws, rng)
    return np.stack([_draw_rates(n_arr, c_arr, low, drawn, rng) for drawn in fits])


@dataclass(frozen=True)
class Forecast:
    """pass@k forecasts for one scope.

    Attributes:
        ks: The k values, shape (m,).
        estimate: Point forecasts (mean pass@k under the maximum-likelihood fit), shape (m,).
        ci_low, ci_high: Equal-tailed credible interval at ``confidence``, shape (m,).
        confidence: The interval's nominal coverage.
        fit: The maximum-likelihood fit.
        ess: Effective number of grid cells behind the interval's hyperparameter draws.
    """

    ks: list[int]
    estimate: list[float]
    ci_low: list[float]
    ci_high: list[float]
    confidence: float
    fit: BetaBinomialFit
    ess: float


def forecast_pass_at_k(
    n: Sequence[int] | IntArray,
    c: Sequence[int] | IntArray,
    ks: Sequence[int],
    confidence: float = 0.95,
    replicates: int = 400,
    seed: int = 0,
    low_max: int | None = None,
) -> Forecast:
    """Forecast mean pass@k over these problems for each k (typically k > n), with an interval.

    Args:
        n: Samples per problem, shape (problems,) (for an ``--adaptive`` run: the samples the rule read).
        c: Correct samples per problem, shape (problems,).
        ks: The k values to forecast (any k >= 1; for k <= n prefer the unbiased estimator).
        confidence: Nominal coverage of the interval.
        replicates: Posterior draws behind the interval.
        seed: Seed of the posterior draws.
        low_max: The largest count of the low region (default: ``low_cap(n)`` per problem); for an
            ``--adaptive`` run, :func:`adaptive_low_max`.

    Returns:
        A :class:`Forecast`.

    Raises:
        ValueError: bad counts, a k below 1, or a confidence outside (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if any(int(k) < 1 for k in ks):
        raise ValueError("every k must be at least 1")
    n_arr, c_arr = np.asarray(n, dtype=np.int64), np.asarray(c, dtype=np.int64)
    if n_arr.size == 0 or n_arr.shape != c_arr.shape or (c_arr < 0).any() or (c_arr > n_arr).any():
        raise ValueError("need per-problem counts with 0 <= c <= n, of one non-zero length")
    rng = np.random.default_rng(seed)
    low, fit, fits, ess = _posterior(n_arr, c_arr, replicates, rng, low_max)
    k_arr = np.asarray([int(k) for k in ks], dtype=np.int64)
    estimate = [_expected_pass_at_k(n_arr, c_arr, low, fit, int(k)) for k in k_arr]
    values = np.empty((replicates, k_arr.size))
    for r, drawn in enumerate(fits):
        rates = _draw_rates(n_arr, c_arr, low, drawn, rng)
        # mean over problems of 1 - (1 - p)^k, for every k at once: (problems, 1) against (k,)
        values[r] = (1.0 - np.power(1.0 - rates[:, None], k_arr[None, :])).mean(axis=0)
    alpha = 1.0 - confidence
    low = np.quantile(values, alpha / 2, axis=0)
    high = np.quantile(values, 1 - alpha / 2, axis=0)
    return Forecast(
        [int(k) for k in k_arr],
        estimate,
        [float(min(x, e)) for x, e in zip(low, estimate, strict=True)],
        [float(max(x, e)) for x, e in zip(high, estimate, strict=True)],
        confidence,
        fit,
        ess,
    )


@dataclass(frozen=True)
class Backtest:
    """The goodness-of-fit check of a forecast: fitted on the first ``m`` samples, forecasting pass@n.

    Attributes:
        m: Samples per problem the backtest fitted on.
        n: The k it forecast (the run's n).
        observed: The run's pass@n (share of problems solved at least once in n samples).
        forecast: The backtest's predictive interval of it.
        ok: True when ``observed`` lies inside the interval.
    """

    m: int
    n: int
    observed: float
    forecast: Forecast
    ok: bool


def backtest(
    passed: Sequence[np.ndarray],
    confidence: float = 0.95,
    ratio: int = BACKTEST_RATIO,
    replicates: int = 400,
    seed: int = 0,
) -> Backtest:
    """Check the forecast's extrapolation on data the run has: fit on each problem's first ``n // ratio``
    samples and predict what the run observed at n (the share of problems solved at least once).

    The prediction is the posterior predictive: a problem unsolved in its first m samples is solved in the
    next n - m with probability ``1 - (1 - p)^(n - m)``, p drawn as in :func:`forecast_pass_at_k`.

    Args:
        passed: Per problem, its samples' ``passed`` flags in sample order (a common length n >= ``MIN_N``).
        confidence: Nominal coverage of the predictive interval.
        ratio: How much shorter the fitted prefix is than n.
        replicates: Posterior draws.
        seed: Seed of the draws.

    Raises:
        ValueError: problems with different numbers of samples, or n below ``MIN_N``.
    """
    lengths = {len(p) for p in passed}
    if len(lengths) != 1:
        raise ValueError("a backtest needs the same number of samples for every problem")
    n = lengths.pop()
    if n < MIN_N:
        raise ValueError(f"a forecast needs at least {MIN_N} samples per problem (got {n})")
    m = max(2, n // ratio)
    c_m = np.asarray([int(np.count_nonzero(p[:m])) for p in passed], dtype=np.int64)
    solved = np.asarray([bool(np.any(p)) for p in passed])
    return backtest_counts(np.full(c_m.size, m, dtype=np.int64), c_m, solved, n, confidence, replicates, seed)


def backtest_counts(
    n_m: Sequence[int] | IntArray,
    c_m: Sequence[int] | IntArray,
    solved: Sequence[bool] | np.ndarray,
    n: int,
    confidence: float = 0.95,
    replicates: int = 400,
    seed: int = 0,
    low_max: int | None = None,
) -> Backtest:
    """:func:`backtest` from counts: what was read of each problem's first m samples, and whether it was
    solved within n.

    Args:
        n_m: Samples read of each problem's first m, shape (problems,): m, or fewer for an ``--adaptive`` run
            whose rule stopped the problem at its R-th success before m.
        c_m: Correct samples among them, shape (problems,).
        solved: Whether each problem was solved within n samples, shape (problems,).
        n: The k the backtest forecasts (the run's n), above every ``n_m``.
        confidence, replicates, seed: As :func:`backtest`.
        low_max: The low region's largest count at m (default ``low_cap(m)``; :func:`adaptive_low_max` for an
            ``--adaptive`` run).

    Raises:
        ValueError: counts of different lengths or out of range, or n not above m.
    """
    n_arr, c_arr = np.asarray(n_m, dtype=np.int64), np.asarray(c_m, dtype=np.int64)
    hit = np.asarray(solved, dtype=bool)
    if n_arr.size == 0 or not n_arr.shape == c_arr.shape == hit.shape:
        raise ValueError("a backtest needs counts and solved flags of one non-zero length")
    if (c_arr < 0).any() or (c_arr > n_arr).any() or int(n_arr.max()) >= n:
        raise ValueError(f"a backtest needs 0 <= c <= m < n = {n}")
    m = int(n_arr.max())
    observed = float(hit.mean())
    rng = np.random.default_rng(seed)
    region, fit, fits, ess = _posterior(n_arr, c_arr, replicates, rng, low_max)
    values = np.empty(replicates)
    for r, drawn in enumerate(fits):
        rates = _draw_rates(n_arr, c_arr, region, drawn, rng)
        later = rng.random(c_arr.size) < 1.0 - np.power(1.0 - rates, n - n_arr)
        values[r] = np.mean((c_arr > 0) | later)
    alpha = 1.0 - confidence
    low, high = float(np.quantile(values, alpha / 2)), float(np.quantile(values, 1 - alpha / 2))
    predicted = Forecast([n], [float(values.mean())], [low], [high], confidence, fit, ess)
    return Backtest(m, n, observed, predicted, low <= observed <= high)
