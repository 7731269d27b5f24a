"""pass@k beyond the samples drawn: an empirical-Bayes forecast from per-problem counts, with intervals and a
goodness-of-fit check.

Model (a zero-inflated beta-binomial, as in the pass@k scaling fits of Schaeffer et al., arXiv 2502.17578,
with a point mass at zero added so that problems a model can never solve are not forced onto a curve that
rises for ever): each problem's per-sample success rate ``p`` is exactly 0 with probability ``pi0`` and
otherwise drawn from Beta(a, b); its count of correct samples is Binomial(n, p). ``(pi0, a, b)`` are fitted by
maximum marginal likelihood over the problems of one scope (a task, or a group of tasks at one n).

Forecast: the target is the mean over *these* problems of their pass@K, ``mean_i 1 - (1 - p_i)^K``. Given
the fit, problem i's rate has the posterior ``P(p_i = 0) = pi0 / (pi0 + (1 - pi0) BB(0 | n_i, a, b))`` when it
was never solved (0 otherwise) and Beta(a + c_i, b + n_i - c_i) else, so

    E[pass@K_i] = (1 - P(p_i = 0)) * (1 - B(a + c_i, b + n_i - c_i + K) / B(a + c_i, b + n_i - c_i)).

The interval is a credible interval of hierarchical Bayes, which takes both sources of uncertainty: the
hyperparameters ``(logit pi0, log a, log b)`` get a uniform prior on a box (:data:`PRIOR_BOX`), their posterior
is sampled by importance sampling (a multivariate t proposal at the maximum-likelihood fit with the inverse
Hessian as its shape, adapted once to the weighted draws), and for each of ``replicates`` draws every
problem's rate is drawn from its posterior given its own counts; the interval is the equal-tailed interval of
the mean pass@K of those draws. Where the data leave the hyperparameters poorly determined (many unsolved
problems: a ridge between "rates exactly 0" and "a heavy tail near 0") the draws spread along the ridge and
the interval widens, where a bootstrap of the maximum-likelihood fit stays on its biased point (measured:
0.80 coverage for a bootstrap, 0.95 for this, on Beta(0.15, 15) rates; reports/BENCHMARKS.md). The point
forecast is the mean under the maximum-likelihood fit.

Goodness of fit (a backtest of the extrapolation itself): the model is fitted on each problem's first
``n // ratio`` samples only and asked to forecast pass@n, which the run has observed (the unbiased estimator
at k = n: the share of problems solved at least once). When the observed value falls outside the backtest's
interval, the fit is called poor and forecasts beyond n are refused for that scope (``ForecastFit.ok`` is
False, with the reason). A Pearson chi-square of the count histogram would test the fit where the data are,
not where the forecast goes; the backtest tests the step the forecast takes (by the same ratio, not the full
distance to K).

What is not covered: a forecast is only as good as the assumption that the rates of the unsolved problems
continue the shape of the solved ones' (a beta tail near zero); rates far below ``1 / n`` leave no trace in n
samples, so the interval for K much larger than n reflects the model, not the data. The backtest checks one
step of extrapolation; larger steps are not checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from evalkit.stats._common import FloatArray, IntArray

#: The box of the uniform hyperprior on (logit pi0, log a, log b).
PRIOR_BOX = ((-8.0, 8.0), (-5.0, 3.0), (-3.0, 9.0))
MIN_N = 8  # below this many samples per problem there is nothing to fit a rate distribution to
BACKTEST_RATIO = 4  # the backtest fits on n // 4 samples and forecasts pass@n
_BOUNDS = [(-12.0, 12.0), (-7.0, 7.0), (-7.0, 7.0)]  # logit pi0, log a, log b


@dataclass(frozen=True)
class BetaBinomialFit:
    """A fitted zero-inflated beta-binomial: rates are 0 with probability ``pi0``, else Beta(a, b)."""

    pi0: float
    a: float
    b: float
    log_likelihood: float

    def p_zero(self, n: IntArray, c: IntArray) -> FloatArray:
        """Posterior probability that each problem's rate is exactly 0, shape (problems,)."""
        log_bb0 = special.betaln(self.a, self.b + n) - special.betaln(self.a, self.b)
        never = c == 0
        zero_part = self.pi0
        beta_part = (1.0 - self.pi0) * np.exp(log_bb0)
        denom = zero_part + beta_part
        out = np.where(never, np.divide(zero_part, denom, out=np.zeros_like(denom), where=denom > 0), 0.0)
        return np.asarray(out, dtype=np.float64)

    def expected_pass_at_k(self, n: IntArray, c: IntArray, k: int) -> FloatArray:
        """Posterior mean of each problem's pass@k (its true ``1 - (1 - p)^k``), shape (problems,)."""
        a_post, b_post = self.a + c, self.b + (n - c)
        miss = np.exp(special.betaln(a_post, b_post + k) - special.betaln(a_post, b_post))
        return np.asarray((1.0 - self.p_zero(n, c)) * (1.0 - miss), dtype=np.float64)

    def draw_rates(self, n: IntArray, c: IntArray, rng: np.random.Generator) -> FloatArray:
        """One draw of every problem's rate from its posterior, shape (problems,)."""
        nonzero = rng.random(n.shape) >= self.p_zero(n, c)
        rates = rng.beta(self.a + c, self.b + (n - c))
        return np.asarray(np.where(nonzero, rates, 0.0), dtype=np.float64)


def _neg_log_likelihood(theta: FloatArray, n: IntArray, c: IntArray, weight: FloatArray) -> tuple[float, FloatArray]:
    """Negative log-likelihood of the zero-inflated beta-binomial and its gradient in (logit pi0, log a, log b)."""
    pi0 = float(special.expit(theta[0]))
    a, b = float(np.exp(theta[1])), float(np.exp(theta[2]))
    # log BB(c | n, a, b) without the binomial coefficient (1 where c = 0), and its derivatives in a and b
    log_bb = special.betaln(c + a, n - c + b) - special.betaln(a, b)
    psi_nab, psi_ab = special.digamma(n + a + b), special.digamma(a + b)
    d_a = special.digamma(c + a) - psi_nab - special.digamma(a) + psi_ab
    d_b = special.digamma(n - c + b) - psi_nab - special.digamma(b) + psi_ab
    log_one_minus = float(np.log1p(-pi0)) if pi0 < 1.0 else -1e300
    log_beta_part = log_one_minus + log_bb
    never = c == 0
    log_zero_part = float(np.log(max(pi0, 1e-300)))
    log_lik = np.where(never, np.logaddexp(log_zero_part, log_beta_part), log_beta_part)
    # w: the share of a problem's likelihood that comes from the beta part (1 where c > 0)
    w = np.where(never, np.exp(log_beta_part - log_lik), 1.0)
    bb0 = np.exp(log_bb)
    d_pi0_never = pi0 * (1.0 - pi0) * (1.0 - bb0) / np.exp(log_lik)
    grad0 = np.where(never, d_pi0_never, -pi0)
    grad = np.array([(weight * grad0).sum(), (weight * w * d_a).sum() * a, (weight * w * d_b).sum() * b])
    return float(-(weight * log_lik).sum()), -grad


def fit_beta_binomial(
    n: Sequence[int] | IntArray, c: Sequence[int] | IntArray, start: BetaBinomialFit | None = None
) -> BetaBinomialFit:
    """Maximum-likelihood fit of the zero-inflated beta-binomial to per-problem counts.

    Args:
        n: Samples per problem, shape (problems,).
        c: Correct samples per problem, shape (problems,), 0 <= c <= n.
        start: A fit to start from (the bootstrap's refits start at the full data's fit); None tries a few
            starting points.

    Returns:
        The fit. Identical (n, c) pairs are pooled, so the cost grows with the distinct pairs only.

    Raises:
        ValueError: no problems, or counts out of range.
    """
    n_arr, c_arr = np.asarray(n, dtype=np.int64), np.asarray(c, dtype=np.int64)
    if n_arr.size == 0 or n_arr.shape != c_arr.shape:
        raise ValueError("need per-problem counts n and c of the same, non-zero length")
    if (c_arr < 0).any() or (c_arr > n_arr).any() or (n_arr < 1).any():
        raise ValueError("counts must satisfy 0 <= c <= n and n >= 1")
    pairs, weight = np.unique(np.stack([n_arr, c_arr], axis=1), axis=0, return_counts=True)
    nu, cu, w = pairs[:, 0], pairs[:, 1], weight.astype(np.float64)
    mean = float((c_arr / n_arr).mean())
    if start is not None:
        starts = [(start.pi0, start.a, start.b)]
    else:  # a few starts: the likelihood is flat along a ridge of (pi0, a) when many problems are unsolved
        starts = [(p, a, a * (1 - mean) / max(mean, 1e-3)) for p, a in ((0.05, 0.5), (0.3, 0.3), (0.01, 2.0))]
    lower, upper = [lo for lo, _ in _BOUNDS], [hi for _, hi in _BOUNDS]
    best: optimize.OptimizeResult | None = None
    for pi0_start, a_start, b_start in starts:
        pi0_start = min(max(pi0_start, 1e-5), 1 - 1e-5)
        theta0 = np.clip([special.logit(pi0_start), np.log(a_start), np.log(max(b_start, 1e-2))], lower, upper)
        res = optimize.minimize(_neg_log_likelihood, theta0, args=(nu, cu, w), method="SLSQP", jac=True, bounds=_BOUNDS)
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    theta = best.x
    return BetaBinomialFit(
        float(special.expit(theta[0])), float(np.exp(theta[1])), float(np.exp(theta[2])), -float(best.fun)
    )


def _log_likelihoods(thetas: FloatArray, n: IntArray, c: IntArray, weight: FloatArray) -> FloatArray:
    """Log-likelihood of many hyperparameter vectors at once: thetas (draws, 3) -> (draws,)."""
    pi0 = special.expit(thetas[:, 0])[:, None]
    a, b = np.exp(thetas[:, 1])[:, None], np.exp(thetas[:, 2])[:, None]
    log_beta_part = np.log1p(-pi0) + special.betaln(c[None] + a, n[None] - c[None] + b) - special.betaln(a, b)
    log_lik = np.where(c[None] == 0, np.logaddexp(np.log(pi0), log_beta_part), log_beta_part)
    return np.asarray((weight[None] * log_lik).sum(axis=1), dtype=np.float64)


def posterior_fits(
    n: IntArray, c: IntArray, draws: int, rng: np.random.Generator, proposals: int = 8000
) -> tuple[BetaBinomialFit, list[BetaBinomialFit], float]:
    """The maximum-likelihood fit and ``draws`` fits drawn from the hyperparameters' posterior (uniform prior
    on :data:`PRIOR_BOX`), by two rounds of importance sampling; also the effective sample size of the last
    round.
    """
    pairs, counts = np.unique(np.stack([n, c], axis=1), axis=0, return_counts=True)
    nu, cu, w = pairs[:, 0], pairs[:, 1], counts.astype(np.float64)
    fit = fit_beta_binomial(n, c)
    lower = np.array([lo for lo, _ in PRIOR_BOX]) + 1e-6
    upper = np.array([hi for _, hi in PRIOR_BOX]) - 1e-6
    pi0 = min(max(fit.pi0, 1e-6), 1 - 1e-6)
    centre = np.clip([special.logit(pi0), np.log(fit.a), np.log(fit.b)], lower, upper)
    hessian = np.zeros((3, 3))
    for j in range(3):  # central differences of the analytic gradient
        step = np.zeros(3)
        step[j] = 1e-4
        up = _neg_log_likelihood(centre + step, nu, cu, w)[1]
        down = _neg_log_likelihood(centre - step, nu, cu, w)[1]
        hessian[:, j] = (up - down) / 2e-4
    try:
        shape = np.linalg.inv((hessian + hessian.T) / 2 + 1e-6 * np.eye(3)) * 2.0
        np.linalg.cholesky(shape)
    except np.linalg.LinAlgError:  # a flat direction: a broad proposal instead
        shape = np.eye(3)
    proposal = stats.multivariate_t(loc=centre, shape=shape + 1e-4 * np.eye(3), df=3, seed=rng)
    thetas, weights = centre[None], np.ones(1)
    for round_ in range(2):
        candidates = np.atleast_2d(proposal.rvs(proposals))
        candidates = candidates[np.all((candidates > lower) & (candidates < upper), axis=1)]
        if candidates.size == 0:
            break
        log_w = _log_likelihoods(candidates, nu, cu, w) - proposal.logpdf(candidates)
        weights = np.exp(log_w - log_w.max())
        weights /= weights.sum()
        thetas = candidates
        if round_ == 0:  # adapt the proposal to the weighted draws
            mean = weights @ thetas
            cov = ((thetas - mean).T * weights) @ (thetas - mean)
            proposal = stats.multivariate_t(loc=mean, shape=1.5 * cov + 1e-4 * np.eye(3), df=4, seed=rng)
    picked = thetas[rng.choice(len(thetas), size=draws, p=weights)]
    fits = [
        BetaBinomialFit(float(special.expit(t[0])), float(np.exp(t[1])), float(np.exp(t[2])), float("nan"))
        for t in picked
    ]
    return fit, fits, float(1.0 / np.sum(weights**2))


@dataclass(frozen=True)
class Forecast:
    """pass@k forecasts for one scope.

    Attributes:
        ks: The k values, shape (m,).
        estimate: Point forecasts (mean pass@k under the maximum-likelihood fit), shape (m,).
        ci_low, ci_high: Equal-tailed credible interval at ``confidence``, shape (m,).
        confidence: The interval's nominal coverage.
        fit: The maximum-likelihood fit.
        ess: Effective sample size of the importance sampling behind the interval.
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
) -> Forecast:
    """Forecast mean pass@k over these problems for each k (typically k > n), with an interval.

    Args:
        n: Samples per problem, shape (problems,).
        c: Correct samples per problem, shape (problems,).
        ks: The k values to forecast (any k >= 1; for k <= n prefer the unbiased estimator).
        confidence: Nominal coverage of the interval.
        replicates: Posterior draws behind the interval.
        seed: Seed of the importance sampling and the posterior draws.

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
    rng = np.random.default_rng(seed)
    fit, fits, ess = posterior_fits(n_arr, c_arr, replicates, rng)
    k_arr = np.asarray([int(k) for k in ks], dtype=np.int64)
    estimate = [float(fit.expected_pass_at_k(n_arr, c_arr, int(k)).mean()) for k in k_arr]
    values = np.empty((replicates, k_arr.size))
    for r, drawn in enumerate(fits):
        rates = drawn.draw_rates(n_arr, c_arr, rng)
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
    n_m = np.full(c_m.size, m, dtype=np.int64)
    observed = float(np.mean([bool(np.any(p)) for p in passed]))
    rng = np.random.default_rng(seed)
    fit, fits, ess = posterior_fits(n_m, c_m, replicates, rng)
    values = np.empty(replicates)
    for r, drawn in enumerate(fits):
        rates = drawn.draw_rates(n_m, c_m, rng)
        later = rng.random(c_m.size) < 1.0 - np.power(1.0 - rates, n - m)
        values[r] = np.mean((c_m > 0) | later)
    alpha = 1.0 - confidence
    low, high = float(np.quantile(values, alpha / 2)), float(np.quantile(values, 1 - alpha / 2))
    predicted = Forecast([n], [float(values.mean())], [low], [high], confidence, fit, ess)
    return Backtest(m, n, observed, predicted, low <= observed <= high)
