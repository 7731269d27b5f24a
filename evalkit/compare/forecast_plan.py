"""Problems and samples per problem for a forecast of pass@K (K beyond n) to within +-E.

The target. ``evalkit forecast`` states pass@K for K > n with a 95% interval
(:func:`evalkit.stats.forecast.forecast_pass_at_k`: a zero-inflated beta-binomial fitted to the low counts,
Jeffreys posteriors elsewhere). "Within +-E" means the interval's half-width, (high - low) / 2, is at most E.
That half-width varies from one problem set to the next, so a design is said to reach the target when the
half-width is at most E with probability :data:`PROBABILITY` (0.8, as the drop plan's power): the planner
predicts the 80th percentile of the half-width over problem sets, not its median (a median plan misses E on
half of all runs). The median is stated beside it.

The prediction. For P problems at n samples each, :data:`SETS` problem sets are simulated: P rates drawn
(with replacement) from the population of rates, binomial counts at n, and the forecast's own code run on
them (its default 400 posterior replicates, seeded per set). The sets are nested across P (set s at P
problems holds the first P problems and counts of two streams), so the half-width falls smoothly with P and
the search below is not thrown by noise. The search starts from the 1/sqrt(P) scaling of the half-width
(from :data:`START` problems), then replaces it by the exponent
measured between the simulated points and bisects (in log P) between the largest P that misses E and the
smallest that reaches it, until they are within :data:`BRACKET` of each other or a hit lies within
:data:`CLOSE` x E of E (:data:`SETS` sets per P). The smallest P that reaches E is then simulated with
:data:`CHECK_SETS` sets (the first ones shared); where that misses E, one correction step with the measured
exponent goes to a P simulated with as many sets, and its half-width is the one stated (it may then lie a
little above E). The exponent is needed: where the interval is dominated by the extrapolation (sparse
rates, n far below K) it shrinks much more slowly than 1/sqrt(P) (measured 0.23 to 0.19 for 4x the
problems, Beta(0.3, 3), n = 16, K = 1024). Above :data:`SIMULATE_UP_TO` problems the half-width is
extrapolated with the exponent between the two largest simulated P (such designs are marked
``simulated: false``; that exponent is measured on 16 sets and the extrapolation is rough).

Checked against independent simulation at the planned designs (``tests/bench/bench_forecast_plan.py``,
results in reports/BENCHMARKS.md). Not covered: the backtest, which may refuse a forecast whatever its
width; several tasks at once.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from evalkit.stats.forecast import MIN_N, forecast_pass_at_k

PROBABILITY = 0.8  # the half-width is at most E with this probability over problem sets
CONFIDENCE = 0.95  # the interval `evalkit forecast` states
SETS = 16  # simulated problem sets per design the search evaluates ...
CHECK_SETS = 64  # ... and at the design it picks (the 80% quantile's standard error: about 0.1 of the spread)
SIMULATE_UP_TO = 2000  # beyond this many problems the half-width is extrapolated
BRACKET = 1.25  # the search stops when the misses and the hits are within this factor of P ...
CLOSE = 0.95  # ... or when a hit has a half-width of at least this share of E
EVALUATIONS = 5  # at most this many simulated P per n
START = 100  # the first P simulated at every n
MAX_WORKERS = 4  # processes searching designs in parallel
AIM = 0.97  # the correction step aims at this share of E


def half_widths(
    rates: np.ndarray, problems: int, n: int, k: int, sets: int = SETS, seed: int = 0, first: int = 0
) -> np.ndarray:
    """Half-widths (high - low) / 2 of the forecast's 95% interval of pass@k on simulated problem sets.

    Args:
        rates: The population of per-sample rates, shape (R,), in [0, 1].
        problems: Problems per set (P >= 2), drawn with replacement from ``rates``.
        n: Samples per problem (>= :data:`evalkit.stats.forecast.MIN_N`); k: the forecast's K (> n).
        sets: Simulated problem sets.
        seed: Seed; set s draws its problems from the stream (seed, s, 0) and their counts from (seed, s, 1), so
            sets at different P share their first problems and counts.
        first: The first set's index s (sets ``first`` to ``first + sets - 1``).

    Returns:
        Half-widths, shape (sets,).
    """
    out = np.empty(sets)
    sizes = np.full(problems, n)
    for i, s in enumerate(range(first, first + sets)):
        p = rates[np.random.default_rng([seed, s, 0]).integers(0, len(rates), problems)]
        c = np.random.default_rng([seed, s, 1]).binomial(n, p)
        fc = forecast_pass_at_k(sizes, c, [k], CONFIDENCE, seed=seed * 100_003 + s)
        out[i] = (fc.ci_high[0] - fc.ci_low[0]) / 2
    return out


@dataclass
class ForecastOption:
    """One design for a forecast target (one model's samples).

    Attributes:
        problems, n: Problems and samples per problem.
        half_width: Predicted 80th percentile of the interval's half-width.
        median_half_width: Predicted median half-width.
        completions: problems x n (one model: a forecast is of one run).
        tokens: completions x tokens per completion, None when unknown.
        simulated: False when the half-width is extrapolated beyond :data:`SIMULATE_UP_TO` problems.
        within_probability: Predicted probability that the half-width is at most E (the share of the
            simulated sets at this design); None when extrapolated.
    """

    problems: int
    n: int
    half_width: float
    median_half_width: float
    completions: int
    tokens: float | None
    simulated: bool
    within_probability: float | None = None


def _next_size(points: dict[int, float], within: float, cap: int, extrapolate: bool) -> int | None:
    """The next P to simulate (None: done): a log-log step or bisection between a miss and a hit."""
    hits = [p for p, h in points.items() if h <= within]
    misses = [p for p, h in points.items() if h > within]
    if any(points[p] >= CLOSE * within for p in hits):
        return None
    if hits and misses:
        lo, hi = max((p for p in misses if p < min(hits)), default=None), min(hits)
        if lo is None or hi / lo <= BRACKET or hi - lo <= 1:
            return None
        h_lo, h_hi = points[lo], points[hi]
        if h_lo > h_hi:  # interpolate log h linearly in log P, kept inside the bracket
            t = math.log(h_lo / within) / math.log(h_lo / h_hi)
            guess = math.exp(math.log(lo) + t * math.log(hi / lo))
        else:
            guess = math.sqrt(lo * hi)
        span = math.log(hi / lo)
        guess = min(max(guess, lo * math.exp(0.2 * span)), lo * math.exp(0.8 * span))
        size = round(guess)
        return size if lo < size < hi else None
    if misses and max(misses) >= cap:
        below = [p for p in points if p < cap]
        # the extrapolation beyond the cap needs a second point: half the cap
        return cap // 2 if extrapolate and not below and cap // 2 >= 2 else None
    if hits and min(hits) <= 2:
        return None
    ordered = sorted(points)
    last = max(misses) if misses else min(hits)
    exponent = 0.5
    if len(ordered) >= 2:
        a, b = ordered[-2:] if misses else ordered[:2]
        if points[a] > points[b] > 0:
            exponent = min(max(math.log(points[a] / points[b]) / math.log(b / a), 0.1), 1.0)
    size = min(max(math.ceil(last * (points[last] / within) ** (1.0 / exponent)), 2), cap)
    size = max(size, math.ceil(last * 1.05)) if misses else min(size, int(last / 1.05))
    size = min(max(size, 2), cap)
    return None if size in points else size


def _checked(
    rates: np.ndarray, n: int, k: int, within: float, searched: dict[int, np.ndarray], cap: int, seed: int
) -> ForecastOption:
    """The search's smallest hit, checked with :data:`CHECK_SETS` sets; where the check misses E, one
    correction step (the exponent measured between the hit and the largest miss below it, else 1/2) aimed at
    :data:`AIM` x E, to a P simulated with as many sets. The stated half-width is that of the last simulation."""

    points = {p: float(np.quantile(w, PROBABILITY)) for p, w in searched.items()}

    def simulate(size: int) -> np.ndarray:  # the search's sets at this P (when it had them) and more
        known = searched[size] if size in searched else half_widths(rates, size, n, k, SETS, seed)
        return np.concatenate([known, half_widths(rates, size, n, k, CHECK_SETS - SETS, seed, first=SETS)])

    best = min(p for p, h in points.items() if h <= within)
    widths = simulate(best)
    q = float(np.quantile(widths, PROBABILITY))
    if q > within and best < cap:
        below = [p for p, h in points.items() if p < best and h > q]
        exponent = 0.5
        if below:
            lo = max(below)
            exponent = min(max(math.log(points[lo] / q) / math.log(best / lo), 0.1), 1.0)
        aim = AIM * within  # a little inside E: the step itself is an estimate
        best = min(max(math.ceil(best * (q / aim) ** (1.0 / exponent)), best + 1), cap)
        widths = simulate(best)
        q = float(np.quantile(widths, PROBABILITY))
    share = float(np.mean(widths <= within))
    return ForecastOption(best, n, q, float(np.median(widths)), best * n, None, True, share)


def problems_for_width(
    rates: np.ndarray, n: int, k: int, within: float, max_problems: int, start: int = 100, seed: int = 0
) -> ForecastOption | None:
    """The fewest problems at n samples per problem whose forecast interval of pass@k has half-width at most
    ``within`` with probability 0.8 (module docstring), or None when more than ``max_problems`` are needed.

    Args:
        rates: The population of rates, shape (R,); n: samples per problem; k: the forecast's K (> n).
        within: The target half-width E; max_problems: the most problems available (>= 2).
        start: The first P simulated.
        seed: Seed of the simulation.
    """
    cap = min(max_problems, SIMULATE_UP_TO)
    points: dict[int, float] = {}
    medians: dict[int, float] = {}
    searched: dict[int, np.ndarray] = {}
    size: int | None = min(max(start, 2), cap)
    while size is not None and len(points) < EVALUATIONS:
        widths = searched[size] = half_widths(rates, size, n, k, seed=seed)
        points[size] = float(np.quantile(widths, PROBABILITY))
        medians[size] = float(np.median(widths))
        size = _next_size(points, within, cap, max_problems > SIMULATE_UP_TO)
    hits = [p for p, h in points.items() if h <= within]
    if hits:
        return _checked(rates, n, k, within, searched, cap, seed)
    top = max(points)
    if top < cap or max_problems <= SIMULATE_UP_TO:
        return None
    below = [p for p in points if p < top]
    if not below:
        return None
    other = max(below)
    if not points[other] > points[top] > 0:
        return None
    exponent = math.log(points[other] / points[top]) / math.log(top / other)
    log_needed = math.log(top) + math.log(points[top] / within) / exponent
    if log_needed > math.log(max_problems):
        return None
    needed = math.ceil(math.exp(log_needed))
    scale = (top / needed) ** exponent
    return ForecastOption(needed, n, points[top] * scale, medians[top] * scale, needed * n, None, False)


def forecast_ns(k: int, n_max: int) -> list[int]:
    """The candidate samples per problem: powers of two (the drop plan's list) from
    :data:`evalkit.stats.forecast.MIN_N`, below k and at most ``n_max``."""
    ns, n = [], 1
    while n <= n_max:
        if MIN_N <= n < k:
            ns.append(n)
        n *= 2
    return ns


def plan_forecast(
    rates: np.ndarray,
    k: int,
    within: float,
    ns: list[int],
    tokens_per_completion: float | None,
    max_problems: int = 100_000,
    seed: int = 0,
) -> list[ForecastOption]:
    """For each n in ``ns`` (each >= MIN_N and < k), the fewest problems for a forecast of pass@k within
    +-``within`` (80th percentile, module docstring) and its cost; designs that need more than
    ``max_problems`` are left out. The designs are searched in parallel (one process per n, at most
    :data:`MAX_WORKERS`, the CPUs this process may use); deterministic for a given seed."""
    search = partial(_search, rates, k, within, max_problems, seed)
    workers = min(len(ns), MAX_WORKERS, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    if workers > 1 and "fork" in mp.get_all_start_methods():
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
            found = list(pool.map(search, ns))
    else:
        found = [search(n) for n in ns]
    out = [option for option in found if option is not None]
    for option in out:
        if tokens_per_completion is not None:
            option.tokens = option.completions * tokens_per_completion
    return out


def _search(rates: np.ndarray, k: int, within: float, max_problems: int, seed: int, n: int) -> ForecastOption | None:
    return problems_for_width(rates, n, k, within, max_problems, START, seed)


__all__ = [
    "CONFIDENCE",
    "PROBABILITY",
    "SETS",
    "SIMULATE_UP_TO",
    "ForecastOption",
    "forecast_ns",
    "half_widths",
    "plan_forecast",
    "problems_for_width",
]
