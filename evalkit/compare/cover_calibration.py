"""Coverage of the Cover@tau difference's interval, checked by simulation through the code compare runs.

Each simulated data set draws paired per-problem rates (p_base, p_rl) from a paired
:class:`evalkit.compare.calibration.Setting` (Beta marginals joined by a Gaussian copula; ``rho = 1`` with
equal marginals is two identical models) and counts ``c ~ Binomial(n, p)`` for each run. The interval is
the one :func:`evalkit.compare.evidence.cover_comparison` prints (two-sided); the one-sided bounds are
:func:`evalkit.stats.exact.ternary_mean_ci` on the same per-problem indicators.

The interval's target is the population mean of the per-problem difference of plug-in indicators,
``P(c_rl / n >= tau) - P(c_base / n >= tau)`` with p drawn from its Beta (a beta-binomial tail each, in
closed form). The share of problems whose *true* rate is at least tau, ``P(p_rl >= tau) - P(p_base >= tau)``,
differs from it by the plug-in bias (a rate near tau counts with probability about 1/2); its coverage is
reported beside, for reference only.

Run ``python -m evalkit.compare.calibration --cover --problems 1000 --n 128``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from evalkit.compare.calibration import Setting, _rates
from evalkit.compare.evidence import cover_comparison
from evalkit.stats.exact import ternary_mean_ci


@dataclass(frozen=True)
class CoverRow:
    """Coverage of the Cover@tau difference's interval at one tau over ``reps`` simulated data sets."""

    setting: str
    tau: float
    reps: int
    truth: float  # population mean of the plug-in indicator difference (the interval's target)
    two_sided: float
    upper: float  # share of data sets whose one-sided upper bound ("less") is >= the truth
    lower: float  # share of data sets whose one-sided lower bound ("greater") is <= the truth
    mean_width: float
    rate_truth: float  # P(p_rl >= tau) - P(p_base >= tau): the share by true rates (reference)
    rate_two_sided: float  # coverage of rate_truth by the two-sided interval


def plugin_cover_truth(a: float, b: float, n: int, taus: np.ndarray) -> np.ndarray:
    """Population share of problems with ``c / n >= tau`` when p ~ Beta(a, b) and c ~ Binomial(n, p):
    a beta-binomial tail per tau, the comparison done on ``c / n`` as :func:`evalkit.stats.cover_at_tau` does.

    Returns:
        Array of the shape of ``taus``, in [0, 1].
    """
    c = np.arange(n + 1)
    pmf = sps.betabinom.pmf(c, n, a, b)
    return np.array([float(pmf[(c / n) >= t].sum()) for t in np.asarray(taus, dtype=np.float64)])


def cover_coverage(
    setting: Setting, problems: int = 1000, n: int = 128, reps: int = 1000, confidence: float = 0.95, seed: int = 0
) -> list[CoverRow]:
    """Simulate ``reps`` paired data sets and measure how often the Cover@tau difference's interval covers.

    Args:
        setting: A paired setting (base rates Beta(a), RL rates Beta(b)).
        problems: Problems per data set.
        n: Samples per problem (the grid's first tau is 1/n).
        reps: Simulated data sets.
        confidence: Nominal level of the two-sided interval and of each one-sided bound.
        seed: Data set r uses ``default_rng([seed, r])``.

    Returns:
        One :class:`CoverRow` per tau of :func:`evalkit.compare.evidence.cover_grid` (n).

    Raises:
        ValueError: on an unpaired setting.
    """
    if setting.b is None:
        raise ValueError("cover_coverage: the setting must be paired")
    taus = np.empty(0)
    truth = rate_truth = np.empty(0)
    hits = np.empty(0)
    for r in range(reps):
        rng = np.random.default_rng([seed, r])
        pa, pb = _rates(rng, setting, problems)
        assert pb is not None
        cb, cr = rng.binomial(n, pa), rng.binomial(n, pb)
        out = cover_comparison(np.full(problems, n), cb, cr, n, confidence)
        if r == 0:
            taus = np.asarray(out["tau"], dtype=np.float64)
            truth = plugin_cover_truth(*setting.b, n, taus) - plugin_cover_truth(*setting.a, n, taus)
            rate_truth = sps.beta.sf(taus, *setting.b) - sps.beta.sf(taus, *setting.a)
            hits = np.zeros((5, taus.size))
        lo2, hi2 = np.asarray(out["delta_ci"], dtype=np.float64).T
        d = ((cr / n)[:, None] >= taus).astype(np.float64) - ((cb / n)[:, None] >= taus).astype(np.float64)
        hi1 = np.array([ternary_mean_ci(d[:, j], confidence, "less")[2] for j in range(taus.size)])
        lo1 = np.array([ternary_mean_ci(d[:, j], confidence, "greater")[1] for j in range(taus.size)])
        hits[0] += (lo2 <= truth) & (truth <= hi2)
        hits[1] += truth <= hi1
        hits[2] += lo1 <= truth
        hits[3] += hi2 - lo2
        hits[4] += (lo2 <= rate_truth) & (rate_truth <= hi2)
    share = hits / max(reps, 1)
    return [
        CoverRow(
            setting=setting.name,
            tau=float(t),
            reps=reps,
            truth=float(truth[j]),
            two_sided=float(share[0, j]),
            upper=float(share[1, j]),
            lower=float(share[2, j]),
            mean_width=float(share[3, j]),
            rate_truth=float(rate_truth[j]),
            rate_two_sided=float(share[4, j]),
        )
        for j, t in enumerate(taus)
    ]


def format_cover_table(rows: Sequence[CoverRow], band: tuple[float, float]) -> str:
    """A plain-text table; rows whose two-sided or one-sided coverage falls below ``band[0]`` are flagged."""
    head = (
        f"{'setting':40} {'tau':>8} {'truth':>8} {'2-sided':>8} {'upper':>7} {'lower':>7} {'width':>7} "
        f"{'rate truth':>10} {'2-sided':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        flag = "" if min(r.two_sided, r.upper, r.lower) >= band[0] else "  <-- below band"
        lines.append(
            f"{r.setting:40} {r.tau:8.4g} {r.truth:8.4f} {r.two_sided:8.3f} {r.upper:7.3f} {r.lower:7.3f} "
            f"{r.mean_width:7.4f} {r.rate_truth:10.4f} {r.rate_two_sided:8.3f}{flag}"
        )
    return "\n".join(lines)
