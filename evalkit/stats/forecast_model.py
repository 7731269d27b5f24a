"""The rate model behind :mod:`evalkit.stats.forecast`: a zero-inflated beta-binomial of per-problem counts,
its maximum-likelihood fit, and draws of its hyperparameters from their posterior.

Rates are exactly 0 with probability ``pi0`` and otherwise Beta(a, b) (the beta-binomial of Schaeffer et al.,
arXiv 2502.17578, with a point mass at zero). The posterior draws (:func:`posterior_fits`) may be fitted to the
low-count problems only: with ``cap``, a problem's likelihood is that of its count given that the count is at
most ``cap`` (a truncated beta-binomial), so the beta describes the rates near zero, which are the ones a
forecast beyond n extrapolates, and not the shape of the solved bulk (:func:`low_cap` and the forecast module
say why).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from evalkit.stats._common import FloatArray, IntArray

#: The box of the uniform hyperprior on (logit pi0, log a, log b).
PRIOR_BOX = ((-8.0, 8.0), (-5.0, 3.0), (-3.0, 9.0))
GRID = 24  # grid points per hyperparameter of the posterior (coarse, then fine)
LOW_SHARE = 32  # the low region: counts up to n // 32 (at least 2); see low_cap
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


def low_cap(n: int) -> int:
    """The largest count of the low region at n samples per problem: ``max(2, n // LOW_SHARE)``.

    A problem with more correct samples than this has a rate of about ``1 / LOW_SHARE`` or more (for n >= 64),
    so its pass@K for K >= n is 1 to within ``exp(-K / LOW_SHARE)``; its rate is drawn from its own posterior,
    and the fitted distribution only has to describe the rates below, where the forecast's extrapolation lies.
    """
    return max(2, int(n) // LOW_SHARE)


def _log_likelihoods(
    thetas: FloatArray, n: IntArray, c: IntArray, weight: FloatArray, cap: bool = False, low_max: int | None = None
) -> FloatArray:
    """Log-likelihood of many hyperparameter vectors at once: thetas (draws, 3) -> (draws,).

    With ``cap``, each count's likelihood is divided by the probability of a count at most ``low_cap(n)`` at
    its n, or at most ``low_max`` when given (the counts must all be at most that).
    """
    pi0 = special.expit(thetas[:, 0])[:, None]
    a, b = np.exp(thetas[:, 1])[:, None], np.exp(thetas[:, 2])[:, None]
    log_beta_part = np.log1p(-pi0) + special.betaln(c[None] + a, n[None] - c[None] + b) - special.betaln(a, b)
    log_lik = np.where(c[None] == 0, np.logaddexp(np.log(pi0), log_beta_part), log_beta_part)
    total = (weight[None] * log_lik).sum(axis=1)
    if cap:
        for size in np.unique(n):
            top = low_cap(int(size)) if low_max is None else low_max
            j = np.arange(top + 1)[None]
            log_choose = special.gammaln(size + 1) - special.gammaln(j + 1) - special.gammaln(size - j + 1)
            log_p = log_choose + np.log1p(-pi0) + special.betaln(j + a, size - j + b) - special.betaln(a, b)
            log_p[:, 0] = np.logaddexp(np.log(pi0[:, 0]), log_p[:, 0])
            total = total - weight[n == size].sum() * special.logsumexp(log_p, axis=1)
    return np.asarray(total, dtype=np.float64)


def _fit_theta(nu: IntArray, cu: IntArray, w: FloatArray, cap: bool, low_max: int | None = None) -> FloatArray:
    """The maximum-likelihood (logit pi0, log a, log b) inside :data:`PRIOR_BOX`, from a few starts."""
    box = [(lo + 1e-6, hi - 1e-6) for lo, hi in PRIOR_BOX]

    steps = np.vstack([np.zeros(3), np.eye(3) * 1e-5, -np.eye(3) * 1e-5])

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:  # value and central-difference gradient
        values = -_log_likelihoods(theta[None] + steps, nu, cu, w, cap, low_max)
        return float(values[0]), (values[1:4] - values[4:7]) / 2e-5

    best: optimize.OptimizeResult | None = None
    for start in ((-2.0, -0.5, 2.0), (0.0, -1.0, 3.0), (-4.0, 0.5, 4.0)):
        res = optimize.minimize(objective, np.array(start), method="SLSQP", jac=True, bounds=box)
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    return np.asarray(best.x, dtype=np.float64)


def _to_fit(theta: FloatArray, log_likelihood: float = float("nan")) -> BetaBinomialFit:
    return BetaBinomialFit(
        float(special.expit(theta[0])), float(np.exp(theta[1])), float(np.exp(theta[2])), log_likelihood
    )


def _grid(box: FloatArray, points: int) -> tuple[FloatArray, FloatArray]:
    """Cell centres of a regular grid on ``box`` (3, 2), shape (points**3, 3), and the cell widths, (3,)."""
    widths = (box[:, 1] - box[:, 0]) / points
    axes = [box[j, 0] + widths[j] * (np.arange(points) + 0.5) for j in range(3)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3), widths


def posterior_fits(
    n: IntArray, c: IntArray, draws: int, rng: np.random.Generator, cap: bool = False, low_max: int | None = None
) -> tuple[BetaBinomialFit, list[BetaBinomialFit], float]:
    """The maximum-likelihood fit and ``draws`` fits drawn from the hyperparameters' posterior (uniform prior
    on :data:`PRIOR_BOX`); also the effective number of grid cells behind the draws.

    The posterior is evaluated on a grid: first a coarse one on the whole prior box, then a fine one on the
    smallest box holding every coarse cell within ``exp(-12)`` of the best (one cell wider on every side);
    draws are cells picked by their posterior mass, placed uniformly inside the cell. A grid, not importance
    sampling from a proposal at the fit: the low-region likelihood has ridges that run to the prior box's
    edges (a beta that is only seen below rate 1/32 is fixed by its shape there, not by a and b one by one),
    where a proposal centred at the fit put all weight on one or two draws.

    Args:
        n, c: Samples and correct samples per problem, shape (problems,); with ``cap``, only problems with
            ``c <= low_cap(n)`` (the caller selects them) and the likelihood is the truncated one.
        draws: How many posterior fits to return.
        rng: Random source (the placement of draws).
        cap: Fit the truncated (low-region) likelihood.
        low_max: With ``cap``, the largest count of the low region at every n (default: ``low_cap(n)``); an
            ``--adaptive`` run's low region is smaller (counts below its R, which it draws to n).
    """
    pairs, counts = np.unique(np.stack([n, c], axis=1), axis=0, return_counts=True)
    nu, cu, w = pairs[:, 0], pairs[:, 1], counts.astype(np.float64)
    centre = _fit_theta(nu, cu, w, cap, low_max)
    fit = _to_fit(centre, float(_log_likelihoods(centre[None], nu, cu, w, cap, low_max)[0]))
    box = np.array(PRIOR_BOX, dtype=np.float64)
    cells, widths = _grid(box, GRID)
    log_post = _log_likelihoods(cells, nu, cu, w, cap, low_max)
    keep = cells[log_post >= log_post.max() - 12.0]
    fine = np.stack([keep.min(axis=0) - 1.5 * widths, keep.max(axis=0) + 1.5 * widths], axis=1)
    fine = np.clip(fine, box[:, :1], box[:, 1:])
    cells, widths = _grid(fine, GRID)
    log_post = _log_likelihoods(cells, nu, cu, w, cap, low_max)
    mass = np.exp(log_post - log_post.max())
    mass /= mass.sum()
    picked = cells[rng.choice(len(cells), size=draws, p=mass)] + (rng.random((draws, 3)) - 0.5) * widths
    return fit, [_to_fit(t) for t in picked], float(1.0 / np.sum(mass**2))
