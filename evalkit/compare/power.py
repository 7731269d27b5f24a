"""Power of the gate's test, the smallest drop it detects, and the samples a comparison needs.

The alternative. A "drop of D at k" is modelled as every problem's per-sample success rate shrinking by one
common factor f, chosen so that mean pass@k over the problems falls by exactly D:
mean_i pass@k(f p_i) = mean_i pass@k(p_i) - D (pass@k(p) = 1 - (1 - p)^k). Rates come from a pilot run (c/n of
each problem), a list of assumed rates, or quantiles of a beta prior.

The test. The gate (:mod:`evalkit.compare.decision`) tests each check with the paired sign-flip test of
H0 "mean(d) >= -max_drop" on the per-problem differences d_i = candidate - baseline pass@k (the unbiased
estimator of Chen et al. 2021 from n samples per problem and model). Its statistic is S = sum(d_i + m), m the
tolerated drop, and its randomisation distribution has variance sum((d_i + m)^2). To first order (normal
approximation of both) the test rejects when S < -z sqrt(sum((d_i + m)^2)), z = Phi^-1(1 - alpha / M), so

    power = Phi( (-P mu - z sqrt(P Q)) / sqrt(P V) ),

with, per problem, delta_i = pass@k(f p_i) - pass@k(p_i), v_i = Var(estimator | base) + Var(estimator | candidate)
(computed exactly over the binomial count), mu = mean(delta) + m, Q = mean(v + (delta + m)^2) and
V = mean(v) (+ var(delta) when the P problems are a random draw from the rates, as in a plan)
(:func:`gate_power`). With M checks in the gate, alpha / M is the first step of Holm's adjustment, so the power
stated is a lower bound for a check among several (exact for M = 1).

That approximation misses by up to 10 points where the differences are skewed (sparse rates, few problems):
the self-normalised statistic S / sqrt(sum((d_i + m)^2)) is then far from normal. So up to
:data:`SIMULATE_UP_TO` problems the power is computed by simulating that statistic itself
(:func:`simulated_power`: problems drawn, binomial counts of both models, the unbiased estimator; 2,000 seeded
replicates, standard error <= 0.011) and compared with z; beyond, the normal approximation, whose error falls
as 1 / sqrt(P). :func:`predicted_power` picks between them.

Checked against simulation of the gate's own code (``tests/bench/bench_power.py``, results in
reports/BENCHMARKS.md). Not implemented: power for several tasks at once. The forecast target (pass@K to
within +-E) is planned in :mod:`evalkit.compare.forecast_plan`.

The RL-only bound. The ``rl_only_bounded`` claim bounds the base's per-sample rate below
X = 1 - (alpha / N)^(1/n) on every RL-only problem (one-sided Clopper-Pearson at 1 - alpha/N, Bonferroni over
N compared problems); :func:`samples_for_bound` inverts it for n. That one is exact, not a power.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

POWER = 0.8


def pass_at_k_true(p: np.ndarray, k: int) -> np.ndarray:
    """pass@k of per-sample rates ``p`` (shape any): 1 - (1 - p)^k."""
    return 1.0 - (1.0 - np.asarray(p, dtype=np.float64)) ** k


def estimator_variance(p: np.ndarray, n: int, k: int) -> np.ndarray:
    """Exact variance of the unbiased pass@k estimator 1 - C(n-c, k) / C(n, k), c ~ Binomial(n, p).

    Args:
        p: Per-sample success rates, shape (P,), in [0, 1].
        n: Samples per problem (>= k).
        k: Budget, 1 <= k <= n.

    Returns:
        Variances, shape (P,).
    """
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    c = np.arange(n + 1)
    # g(c) = C(n-c, k) / C(n, k), 0 where n - c < k
    with np.errstate(invalid="ignore", divide="ignore"):
        log_g = special.gammaln(n - c + 1) - special.gammaln(n - c - k + 1) - special.gammaln(n + 1)
        log_g += special.gammaln(n - k + 1)
    g = np.where(n - c >= k, np.exp(np.nan_to_num(log_g, nan=-np.inf, neginf=-np.inf)), 0.0)
    pmf = stats.binom.pmf(c[None, :], n, p[:, None])
    mean_g = (1.0 - p) ** k
    return np.maximum(pmf @ (g * g) - mean_g**2, 0.0)


def shrink_factor(p: np.ndarray, k: int, drop: float) -> float | None:
    """The factor f with mean pass@k(f p) = mean pass@k(p) - drop (None when the drop exceeds mean pass@k)."""
    target = float(pass_at_k_true(p, k).mean()) - drop
    if target < 0:
        return None
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(pass_at_k_true(mid * p, k).mean()) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def gate_power(
    rates: np.ndarray,
    n: int,
    k: int,
    drop: float,
    max_drop: float,
    problems: int | None = None,
    confidence: float = 0.95,
    checks: int = 1,
) -> float:
    """Power of one gate check to call REGRESSION when mean pass@k fell by ``drop`` (module docstring).

    Args:
        rates: Baseline per-sample success rates, shape (R,): the problems themselves (``problems`` None) or a
            population the gate's problems are drawn from (``problems`` = their number).
        n: Samples per problem and model; k: the checked budget (1 <= k <= n).
        drop: The true drop of mean pass@k (absolute); max_drop: the gate's tolerance.
        problems: Number of problems drawn at random from ``rates``; None: exactly the problems of ``rates``.
        confidence: The gate's 1 - family-wise false alarm rate; checks: checks in the gate's family (M).

    Returns:
        The approximate power in [0, 1]; 0.0 where the drop is impossible (beyond mean pass@k).
    """
    p = np.asarray(rates, dtype=np.float64)
    f = shrink_factor(p, k, drop)
    if f is None:
        return 0.0
    delta = pass_at_k_true(f * p, k) - pass_at_k_true(p, k)
    v = estimator_variance(p, n, k) + estimator_variance(f * p, n, k)
    shifted = delta + max_drop
    size = len(p) if problems is None else problems
    mu, q = float(shifted.mean()), float((v + shifted**2).mean())
    var = float(v.mean()) + (float(delta.var()) if problems is not None else 0.0)
    z = float(stats.norm.ppf(1.0 - (1.0 - confidence) / checks))
    if var <= 0:
        return 1.0 if mu < 0 else 0.0
    return float(stats.norm.cdf((-size * mu - z * math.sqrt(size * q)) / math.sqrt(size * var)))


SIMULATE_UP_TO = 2000
REPLICATES = 2000


def simulated_power(
    rates: np.ndarray,
    n: int,
    k: int,
    drop: float,
    max_drop: float,
    problems: int | None = None,
    confidence: float = 0.95,
    checks: int = 1,
    replicates: int = REPLICATES,
    seed: int = 0,
) -> float:
    """Power of one check by simulating the gate's statistic (module docstring); arguments as :func:`gate_power`.

    Each replicate draws ``problems`` rates from ``rates`` (or keeps ``rates`` when None), binomial counts of
    n samples for the base (rate p) and the candidate (rate f p), and rejects when
    sum(d + m) / sqrt(sum((d + m)^2)) < -z, z = Phi^-1(1 - alpha / checks): the normal form of the
    sign-flip test's rejection region. Seeded: the same arguments give the same power."""
    from evalkit.stats import pass_at_k

    p = np.asarray(rates, dtype=np.float64)
    f = shrink_factor(p, k, drop)
    if f is None:
        return 0.0
    rng = np.random.default_rng(seed)
    size = len(p) if problems is None else problems
    chosen = np.broadcast_to(p, (replicates, size)) if problems is None else rng.choice(p, (replicates, size))
    cb, cc = rng.binomial(n, chosen), rng.binomial(n, f * chosen)
    x = pass_at_k(n, cc, k) - pass_at_k(n, cb, k) + max_drop
    norm = np.sqrt((x * x).sum(axis=1))
    stat = np.divide(x.sum(axis=1), norm, out=np.zeros(replicates), where=norm > 0)
    z = float(stats.norm.ppf(1.0 - (1.0 - confidence) / checks))
    return float(np.mean(stat < -z))


def predicted_power(
    rates: np.ndarray,
    n: int,
    k: int,
    drop: float,
    max_drop: float,
    problems: int | None = None,
    confidence: float = 0.95,
    checks: int = 1,
) -> float:
    """The power ``evalkit plan`` and the gate state: simulated up to :data:`SIMULATE_UP_TO` problems, the normal
    approximation beyond (module docstring); arguments as :func:`gate_power`."""
    size = len(rates) if problems is None else problems
    if size <= SIMULATE_UP_TO:
        return simulated_power(rates, n, k, drop, max_drop, problems, confidence, checks)
    return gate_power(rates, n, k, drop, max_drop, problems, confidence, checks)


def detectable_drop(
    rates: np.ndarray, n: int, k: int, max_drop: float, confidence: float = 0.95, checks: int = 1
) -> float | None:
    """The smallest drop of mean pass@k that one check detects with power 0.8 on exactly these problems
    (None when even a drop to pass@k = 0 is not detected with power 0.8)."""
    p = np.asarray(rates, dtype=np.float64)
    top = float(pass_at_k_true(p, k).mean())
    if top <= max_drop or predicted_power(p, n, k, top, max_drop, None, confidence, checks) < POWER:
        return None
    lo, hi = max_drop, top
    while hi - lo > 1e-4:
        mid = (lo + hi) / 2
        if predicted_power(p, n, k, mid, max_drop, None, confidence, checks) >= POWER:
            hi = mid
        else:
            lo = mid
    return hi


@dataclass
class Option:
    """One way to reach a target: problems, samples per problem, power, cost (both models together)."""

    problems: int
    n: int
    power: float
    completions: int
    tokens: float | None


def problems_for_power(
    rates: np.ndarray,
    n: int,
    k: int,
    drop: float,
    max_drop: float,
    confidence: float = 0.95,
    checks: int = 1,
    max_problems: int = 1_000_000,
) -> int | None:
    """The fewest problems (drawn from ``rates``) for power 0.8 at n samples per problem (None: above the cap).

    The normal approximation brackets the answer; up to :data:`SIMULATE_UP_TO` problems the simulated power
    then places it (bisection within a factor of 4 around the approximation's answer)."""

    def search(lo: int, hi: int, power: Callable[[int], float]) -> int:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if power(mid) >= POWER:
                hi = mid
            else:
                lo = mid
        return hi

    def approx(size: int) -> float:
        return gate_power(rates, n, k, drop, max_drop, size, confidence, checks)

    def simulated(size: int) -> float:
        return simulated_power(rates, n, k, drop, max_drop, size, confidence, checks)

    if predicted_power(rates, n, k, drop, max_drop, max_problems, confidence, checks) < POWER:
        return None
    lo, hi = 1, 2
    while hi < max_problems and approx(hi) < POWER:
        lo, hi = hi, min(2 * hi, max_problems)
    guess = search(lo, hi, approx)
    if guess <= SIMULATE_UP_TO:
        lo, hi = max(1, guess // 4), min(4 * guess, max_problems)
        while hi < max_problems and simulated(hi) < POWER:
            lo, hi = hi, min(2 * hi, max_problems)
        if simulated(lo) >= POWER:
            lo = 1
        guess = search(lo, hi, simulated)
    return max(guess, 2)


def plan_drop(
    rates: np.ndarray,
    k: int,
    drop: float,
    max_drop: float,
    ns: list[int],
    tokens_per_completion: float | None,
    confidence: float = 0.95,
    checks: int = 1,
    max_problems: int = 1_000_000,
) -> list[Option]:
    """For each n in ``ns`` (each >= k), the fewest problems for power 0.8 and the cost; options that cannot
    reach it within ``max_problems`` are left out."""
    out = []
    for n in ns:
        size = problems_for_power(rates, n, k, drop, max_drop, confidence, checks, max_problems)
        if size is None:
            continue
        power = predicted_power(rates, n, k, drop, max_drop, size, confidence, checks)
        completions = 2 * size * n
        tokens = completions * tokens_per_completion if tokens_per_completion is not None else None
        out.append(Option(size, n, power, completions, tokens))
    return out


def samples_for_bound(bound: float, problems: int, confidence: float = 0.95) -> int:
    """The fewest samples per problem n with 1 - (alpha / N)^(1/n) <= ``bound`` (the RL-only bound)."""
    alpha = 1.0 - confidence
    return math.ceil(math.log(alpha / problems) / math.log(1.0 - bound) - 1e-12)


def beta_rates(a: float, b: float, points: int = 2000) -> np.ndarray:
    """Quantiles of Beta(a, b) at (i + 0.5) / points: a deterministic stand-in for a population of problems."""
    return np.asarray(stats.beta.ppf((np.arange(points) + 0.5) / points, a, b), dtype=np.float64)


__all__ = [
    "Option",
    "beta_rates",
    "detectable_drop",
    "estimator_variance",
    "gate_power",
    "pass_at_k_true",
    "plan_drop",
    "predicted_power",
    "problems_for_power",
    "samples_for_bound",
    "shrink_factor",
    "simulated_power",
]
