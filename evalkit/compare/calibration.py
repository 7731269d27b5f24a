"""Coverage of evalkit's intervals over problems, checked by simulation.

Each simulated dataset has P problems with true per-sample success rates p_i ~ Beta(a, b) and counts
c_i ~ Binomial(n, p_i). The target is the population mean of pass@k under the Beta,
``E[1 - (1 - p)^k] = 1 - B(a, b + k) / B(a, b)`` (closed form), so an interval that treats problems as a
sample from a population should cover it at its nominal rate. Paired settings draw (p_A, p_B) through a
Gaussian copula with correlation rho, which keeps both Beta marginals, so the true delta is the
difference of two closed forms. For every setting, k and method this reports the coverage of the
two-sided interval and of each one-sided bound (all at the same nominal level), and the mean width.

Methods checked: the studentized, BCa and percentile bootstrap (:func:`evalkit.stats.bootstrap_ci`, the
engine of ``pass_at_k_ci`` / ``paired_delta_ci``) and the CLT interval with the clustered standard error (the
engine of ``pass_at_k_se_ci`` / ``paired_delta_se_ci``).

``--paired`` checks only paired deltas under :data:`PAIRED_TRUTHS` (identical models and a true effect, dense and
sparse) at k = 1, n/8 and n; ``--cover`` checks the Cover@tau difference's interval under the same truths
(:mod:`evalkit.compare.cover_calibration`).

``--claims`` runs :mod:`evalkit.compare.claims_calibration` instead: how often each kind of verdict claim is
false under known truths (identical models, pure sharpening, true expansion, rare-but-reachable problems).

Run ``python -m evalkit.compare.calibration`` for the full table (``--reps`` to change its size, ``--problems 20 50
200`` for one table per number of problems); the tests run a quick version with an acceptance band derived
from the binomial standard error of the coverage. The studentized bootstrap holds 93-97% (two- and
one-sided) at 200 problems except the sparsest rates and mostly tied paired deltas; at 20 and 50 problems
it falls below 93% where a handful of problems carry the mean (numbers in
:func:`evalkit.stats.bootstrap_ci` and ``reports/BENCHMARKS.md``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from scipy.special import betaln

from evalkit.stats import pass_at_k, problem_mean_ci
from evalkit.stats.intervals import _bootstrap_moments, _interval_from_boot


@dataclass(frozen=True)
class Setting:
    """A simulated population: Beta(a) rates for run A and, when paired, Beta(b) rates for run B."""

    name: str
    a: tuple[float, float]
    b: tuple[float, float] | None = None
    rho: float = 0.0

    @property
    def paired(self) -> bool:
        return self.b is not None


SETTINGS: tuple[Setting, ...] = (
    Setting("uniform Beta(1,1)", (1.0, 1.0)),
    Setting("U-shaped Beta(.5,.5)", (0.5, 0.5)),
    Setting("hard Beta(.3,2)", (0.3, 2.0)),
    Setting("very hard Beta(.1,5)", (0.1, 5.0)),
    Setting("sparse Beta(.05,20)", (0.05, 20.0)),
    Setting("paired Beta(.3,2)->Beta(.6,2) rho=.8", (0.3, 2.0), (0.6, 2.0), 0.8),
    Setting("paired null Beta(.1,5) rho=.9", (0.1, 5.0), (0.1, 5.0), 0.9),
    Setting("paired cross Beta(.3,2)->Beta(1.5,6) rho=.7", (0.3, 2.0), (1.5, 6.0), 0.7),
)

#: Paired truths of ``--paired`` and ``--cover``: identical models (rho = 1, equal marginals: the same rate on
#: each problem, sampled twice) and a true effect, dense and sparse rates.
PAIRED_TRUTHS: tuple[Setting, ...] = (
    Setting("dense identical Beta(1,1)", (1.0, 1.0), (1.0, 1.0), 1.0),
    Setting("dense Beta(1,1)->Beta(1.3,1) rho=.9", (1.0, 1.0), (1.3, 1.0), 0.9),
    Setting("sparse identical Beta(.1,5)", (0.1, 5.0), (0.1, 5.0), 1.0),
    Setting("sparse Beta(.1,5)->Beta(.2,5) rho=.8", (0.1, 5.0), (0.2, 5.0), 0.8),
)

METHODS: tuple[str, ...] = ("studentized", "bca", "percentile", "se")
#: "reported": :func:`evalkit.stats.problem_mean_ci`, the interval compare_runs and evalkit summary print (exact
#: for 0/1 values and -1/0/+1 differences, betting where fewer than 100 problems, or fewer than a third
#: of them, lie off the most common value (every run of fewer than 100 problems), the studentized bootstrap
#: otherwise).
ALL_METHODS: tuple[str, ...] = (*METHODS, "reported")


@dataclass(frozen=True)
class CoverageRow:
    """Coverage of one (setting, k, method) over ``reps`` simulated datasets."""

    setting: str
    k: int
    method: str
    reps: int
    truth: float
    two_sided: float
    upper: float  # share of datasets whose one-sided upper bound ("less") is >= the truth
    lower: float  # share of datasets whose one-sided lower bound ("greater") is <= the truth
    mean_width: float


def true_pass_at_k(a: float, b: float, k: int) -> float:
    """Population mean of pass@k when per-sample success rates are Beta(a, b): 1 - B(a, b+k) / B(a, b)."""
    return float(-math.expm1(betaln(a, b + k) - betaln(a, b)))


def _rates(rng: np.random.Generator, setting: Setting, problems: int) -> tuple[np.ndarray, np.ndarray | None]:
    if setting.b is None:
        return rng.beta(*setting.a, size=problems), None
    z = rng.multivariate_normal([0.0, 0.0], [[1.0, setting.rho], [setting.rho, 1.0]], size=problems)
    u = sps.norm.cdf(z)
    return sps.beta.ppf(u[:, 0], *setting.a), sps.beta.ppf(u[:, 1], *setting.b)


def _se_bounds(x: np.ndarray, confidence: float) -> tuple[np.ndarray, ...]:
    """Column-wise CLT bounds (two-sided low/high, one-sided high, one-sided low), as in evalkit.stats."""
    p = x.shape[0]
    est = x.mean(axis=0)
    se = x.std(axis=0, ddof=1) / math.sqrt(p)
    t2 = sps.t.ppf(1.0 - (1.0 - confidence) / 2.0, p - 1)
    t1 = sps.t.ppf(confidence, p - 1)
    return est - t2 * se, est + t2 * se, est + t1 * se, est - t1 * se


def coverage(
    setting: Setting,
    ks: Sequence[int] = (1, 8, 64),
    problems: int = 200,
    n: int = 128,
    reps: int = 1000,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    methods: Sequence[str] = METHODS,
) -> list[CoverageRow]:
    """Simulate ``reps`` datasets from ``setting`` and measure how often each interval covers the truth.

    Args:
        setting: Population of success rates (paired settings check the paired delta B - A).
        ks: Budgets; each needs k <= n.
        problems: Problems per dataset (the resampling unit).
        n: Samples per problem.
        reps: Simulated datasets.
        confidence: Nominal level of the two-sided interval and of each one-sided bound.
        n_boot: Bootstrap resamples per interval.
        seed: Seed; dataset r uses ``default_rng([seed, r])`` and bootstrap seed r.
        methods: Any of "studentized", "bca", "percentile", "se", "reported" (the interval evalkit prints).

    Returns:
        One :class:`CoverageRow` per (k, method).
    """
    ks_a = np.asarray(ks, dtype=np.int64)
    if np.any(ks_a > n):
        raise ValueError("coverage: every k must be <= n")
    truth = np.array([true_pass_at_k(*setting.a, int(k)) for k in ks_a])
    if setting.b is not None:
        truth = np.array([true_pass_at_k(*setting.b, int(k)) for k in ks_a]) - truth
    hits = {m: np.zeros((4, ks_a.size)) for m in methods}  # two-sided, upper, lower, summed width
    for r in range(reps):
        rng = np.random.default_rng([seed, r])
        pa, pb = _rates(rng, setting, problems)
        values = pass_at_k(n, rng.binomial(n, pa)[:, None], ks_a[None, :])
        if pb is not None:
            values = pass_at_k(n, rng.binomial(n, pb)[:, None], ks_a[None, :]) - values
        moments = _bootstrap_moments(values, r, n_boot) if set(methods) - {"se", "reported"} else None
        for m in methods:
            if m == "reported":
                paired = setting.b is not None
                cols = [problem_mean_ci(values, confidence, alt, paired=paired, seed=r)
                        for alt in ("two-sided", "less", "greater")]  # fmt: skip
                lo2, hi2 = (np.array([c[i] for c in cols[0]]) for i in (1, 2))
                hi1 = np.array([c[2] for c in cols[1]])
                lo1 = np.array([c[1] for c in cols[2]])
            elif m == "se":
                lo2, hi2, hi1, lo1 = _se_bounds(values, confidence)
            else:
                assert moments is not None
                _, lo2, hi2 = _interval_from_boot(values, *moments, confidence, "two-sided", m)  # type: ignore[arg-type]
                _, _, hi1 = _interval_from_boot(values, *moments, confidence, "less", m)  # type: ignore[arg-type]
                _, lo1, _ = _interval_from_boot(values, *moments, confidence, "greater", m)  # type: ignore[arg-type]
            if setting.b is None:  # what pass_at_k_ci / pass_at_k_se_ci report: bounds clipped to [0, 1]
                lo2, hi2, hi1, lo1 = (np.clip(v, 0.0, 1.0) for v in (lo2, hi2, hi1, lo1))
            else:
                lo2, hi2, hi1, lo1 = (np.clip(v, -1.0, 1.0) for v in (lo2, hi2, hi1, lo1))
            h = hits[m]
            h[0] += (lo2 <= truth) & (truth <= hi2)
            h[1] += truth <= hi1
            h[2] += lo1 <= truth
            h[3] += hi2 - lo2
    return [
        CoverageRow(setting.name, int(k), m, reps, float(truth[j]), *(float(hits[m][i, j] / reps) for i in range(4)))
        for j, k in enumerate(ks_a)
        for m in methods
    ]


def acceptance_band(reps: int, confidence: float = 0.95, z: float = 3.0) -> tuple[float, float]:
    """nominal +- z binomial standard errors of a coverage estimated from ``reps`` datasets."""
    half = z * math.sqrt(confidence * (1.0 - confidence) / reps)
    return confidence - half, confidence + half


def format_table(rows: Sequence[CoverageRow], band: tuple[float, float]) -> str:
    """A plain-text table; rows whose two-sided or one-sided coverage falls outside ``band`` are flagged."""
    head = f"{'setting':46} {'k':>3} {'method':11} {'truth':>8} {'2-sided':>8} {'upper':>7} {'lower':>7} {'width':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        flag = "" if all(band[0] <= c <= band[1] for c in (r.two_sided, r.upper, r.lower)) else "  <-- outside band"
        lines.append(
            f"{r.setting:46} {r.k:>3} {r.method:11} {r.truth:8.4f} {r.two_sided:8.3f} {r.upper:7.3f} "
            f"{r.lower:7.3f} {r.mean_width:7.4f}{flag}"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------
# The gate: false alarms on identical models, power against a real drop
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateSetting:
    """Simulated gate inputs: ``tasks`` tasks of ``problems`` problems each, rates Beta(rates), n samples.

    ``drop`` > 0 makes the candidate worse: its rates are the baseline's times ``1 - drop / E[p]``, so its
    population pass@1 is exactly ``drop`` lower.
    """

    name: str
    rates: tuple[float, float]
    problems: int
    n: int
    tasks: int = 1
    drop: float = 0.0


DENSE = (1.0, 1.0)
SPARSE = (0.1, 5.0)  # mean pass@1 0.02; most problems at c = 0, most differences exactly 0
GATE_NULL_SETTINGS: tuple[GateSetting, ...] = (
    *(
        GateSetting(f"{label} P={p} n={n}", rates, p, n)
        for label, rates in (("dense Beta(1,1)", DENSE), ("sparse Beta(.1,5)", SPARSE))
        for p in (20, 50, 200, 1000)
        for n in (16, 64, 1024)
    ),
    GateSetting("sparse Beta(.1,5) 3 tasks x P=50 n=64", SPARSE, 50, 64, tasks=3),
    GateSetting("dense Beta(1,1) 3 tasks x P=50 n=64", DENSE, 50, 64, tasks=3),
)
GATE_POWER_SETTINGS: tuple[GateSetting, ...] = (
    GateSetting("dense Beta(1,1) P=500 n=64 drop .05", DENSE, 500, 64, drop=0.05),
    GateSetting("hard Beta(.3,2) P=500 n=64 drop .05", (0.3, 2.0), 500, 64, drop=0.05),
    GateSetting("hard Beta(.3,2) P=500 n=64 drop .03", (0.3, 2.0), 500, 64, drop=0.03),
)


@dataclass(frozen=True)
class GateRow:
    """How often the gate declared a regression (any check) over ``reps`` simulated pairs of runs."""

    setting: str
    reps: int
    ks: tuple[int, ...]
    max_drop: float
    rate: float  # share of runs with at least one regression (false alarm rate when drop = 0, else power)
    per_check: float  # share of single checks (before adjustment) with p <= alpha, averaged over checks


def _pass_table(n: int, c: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """Per-problem pass@k, (problems, ks); k = 1 and k = n in closed form (c/n, c > 0), which is what
    :func:`evalkit.stats.pass_at_k` gives there, only faster."""
    if all(int(k) in (1, n) for k in ks):
        return np.stack([c / n if int(k) == 1 else (c > 0).astype(np.float64) for k in ks], axis=1)
    return pass_at_k(n, c[:, None], ks[None, :])


def gate_rate(
    setting: GateSetting,
    reps: int = 1000,
    max_drop: float = 0.02,
    confidence: float = 0.95,
    ks: Sequence[int] | None = None,
    seed: int = 0,
) -> GateRow:
    """Simulate ``reps`` baseline/candidate pairs and run the gate's decision rule on each.

    Both runs of a pair share each problem's true rate (drawn once); their counts are independent
    Binomial(n, rate) draws, as when one model is sampled twice (``drop`` = 0). The decision is
    :func:`evalkit.compare.gate.gate_decisions`, the code ``evalkit gate`` runs, with its 10,000 seeded flips.

    Args:
        setting: Rates, problems per task, n, tasks and the true drop of pass@1.
        reps: Simulated pairs.
        max_drop: The gate's tolerance.
        confidence: The gate's confidence.
        ks: Budgets checked (default: 1 and n, the gate's usual pair).
        seed: Pair r uses ``default_rng([seed, r])``.
    """
    from evalkit.compare.gate import gate_decisions

    ks_a = np.asarray(ks if ks is not None else (1, setting.n), dtype=np.int64)
    alpha = 1.0 - confidence
    a, b = setting.rates
    scale = 1.0 - setting.drop / (a / (a + b))
    if scale < 0:
        raise ValueError("gate_rate: drop exceeds the mean pass@1 of the rates")
    any_hit = 0
    single = 0.0
    for r in range(reps):
        rng = np.random.default_rng([seed, r])
        diffs = []
        for _ in range(setting.tasks):
            p = rng.beta(a, b, size=setting.problems)
            cb = rng.binomial(setting.n, p)
            cc = rng.binomial(setting.n, p * scale)
            diffs.append(_pass_table(setting.n, cc, ks_a) - _pass_table(setting.n, cb, ks_a))
        raw, adjusted = gate_decisions(diffs, max_drop, confidence)
        any_hit += int(np.any(adjusted <= alpha))
        single += float(np.mean(raw <= alpha))
    return GateRow(setting.name, reps, tuple(int(k) for k in ks_a), max_drop, any_hit / reps, single / reps)


def format_gate_table(rows: Sequence[GateRow], title: str) -> str:
    head = f"{'setting':42} {'ks':>10} {'max_drop':>8} {'reps':>5} {title:>12} {'per check':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        ks = ",".join(str(k) for k in r.ks)
        lines.append(f"{r.setting:42} {ks:>10} {r.max_drop:8.3f} {r.reps:5d} {r.rate:12.3f} {r.per_check:9.3f}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------
# Gain correlation under "no RL effect"
# ----------------------------------------------------------------------------------------------------


def gain_correlation_null(
    reps: int = 1000, tasks: int = 12, problems: int = 20, n: int = 16, seed: int = 0, unequal: bool = True
) -> dict[str, float]:
    """How often the gain correlation rejects (p < 0.05) when RL changed nothing: naive, split-half with
    Spearman's p-value, and split-half with the sign-flip reference (:func:`evalkit.stats.gain_correlation_test`).

    Each data set has ``tasks`` tasks whose rates are Beta(a_t, 2) with a_t from 0.3 to 0.6; with ``unequal``
    the tasks hold from ``problems / 4`` to ``4 problems`` problems (tasks of unequal variance), else
    ``problems`` each. The base and the "final" checkpoint sample the same rates independently, so the true gain
    is 0 on every task. Naive: x = base pass@n and gain = final pass@n - base pass@n from the same base samples.

    Returns:
        ``naive_reject``, ``split_reject``, ``flip_reject`` (shares with p < 0.05) and ``naive_mean_rho``,
        ``split_mean_rho``.
    """
    from evalkit.stats import gain_correlation, gain_correlation_test

    shape_a = np.geomspace(0.3, 0.6, tasks)
    sizes = np.geomspace(problems / 4, problems * 4, tasks).round().astype(int) if unequal else [problems] * tasks
    rej = np.zeros(3)
    rho_sum = np.zeros(2)
    for r in range(reps):
        rng = np.random.default_rng([seed, r])
        naive_x, naive_g, bases, finals = [], [], [], []
        for a, size in zip(shape_a, sizes, strict=True):
            p = rng.beta(a, 2.0, size=int(size))
            base = rng.random((int(size), n)) < p[:, None]
            final = rng.random((int(size), n)) < p[:, None]
            bx = float(np.mean(base.any(axis=1)))
            naive_x.append(bx)
            naive_g.append(float(np.mean(final.any(axis=1))) - bx)
            bases.append(list(base))
            finals.append(list(final))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            test = gain_correlation_test(bases, finals, n_flip=1000, seed=r)
            for i, (rho, pv) in enumerate(
                (gain_correlation(naive_x, naive_g), gain_correlation(test["x"], test["gain"]))
            ):
                if not math.isnan(rho):
                    rej[i] += pv < 0.05
                    rho_sum[i] += rho
        rej[2] += bool(test["p_value"] < 0.05)
    return {
        "naive_reject": float(rej[0] / reps),
        "split_reject": float(rej[1] / reps),
        "flip_reject": float(rej[2] / reps),
        "naive_mean_rho": float(rho_sum[0] / reps),
        "split_mean_rho": float(rho_sum[1] / reps),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=1000, help="simulated datasets per setting")
    parser.add_argument(
        "--problems", type=int, nargs="+", default=[200], help="problems per dataset (several: one table each)"
    )
    parser.add_argument("--n", type=int, default=128, help="samples per problem")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--methods", nargs="+", default=list(ALL_METHODS), choices=ALL_METHODS,
        help="intervals to check ('reported': the one evalkit prints, evalkit.stats.problem_mean_ci)",
    )  # fmt: skip
    parser.add_argument("--gate", action="store_true", help="the gate's false alarm rate and power instead")
    parser.add_argument(
        "--claims", action="store_true", help="how often each kind of verdict claim is false, per simulated truth"
    )
    parser.add_argument(
        "--paired", action="store_true",
        help="paired deltas only, identical models and a true effect (PAIRED_TRUTHS), at k = 1, n/8 and n",
    )  # fmt: skip
    parser.add_argument(
        "--cover", action="store_true", help="the Cover@tau difference's interval under PAIRED_TRUTHS instead"
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    if args.cover:
        from evalkit.compare.cover_calibration import cover_coverage, format_cover_table

        for problems in args.problems:
            print(
                f"Coverage of the Cover@tau difference's nominal 95% interval (compare's cover_comparison; one-sided "
                f"bounds by ternary_mean_ci): {args.reps} data sets per truth, P={problems}, n={args.n}. Binomial SE "
                f"of each coverage: {math.sqrt(0.95 * 0.05 / args.reps):.4f}."
            )
            print(format_cover_table([], (0.93, 1.0)), flush=True)
            for s in PAIRED_TRUTHS:
                cover_rows = cover_coverage(s, problems=problems, n=args.n, reps=args.reps, seed=args.seed)
                print("\n".join(format_cover_table(cover_rows, (0.93, 1.0)).splitlines()[2:]), flush=True)
        print(f"{time.perf_counter() - t0:.0f}s")
        return
    if args.claims:
        from evalkit.compare.claims_calibration import TRUTHS, claim_error_rates, format_claim_table

        print(
            f"Verdict claims through compare_runs: {args.reps} data sets per truth; 'made' = share of data sets "
            "with a claim of that kind, 'false' = share with at least one false claim of that kind (nominal "
            f"<= 0.05). Binomial SE of a rate near 0.05: {math.sqrt(0.05 * 0.95 / args.reps):.4f}."
        )
        print(format_claim_table([]), flush=True)
        for truth in TRUTHS:
            for claim_row in claim_error_rates(truth, reps=args.reps, seed=args.seed):
                print(format_claim_table([claim_row]).splitlines()[-1], flush=True)
        print(f"{time.perf_counter() - t0:.0f}s")
        return
    if args.gate:
        # A larger max_drop can only raise each check's p-value (the test's p-value is non-increasing in the
        # hypothesised delta), so max_drop = 0 is the worst case of the false alarm rate.
        print("Gate false alarm rate on identical models (nominal <= 0.05 family-wise), max_drop=0 (worst case):")
        print(format_gate_table([], "false alarms"), flush=True)
        for gs in GATE_NULL_SETTINGS:  # 1,000 problems at most args.reps // 2 pairs: the slowest rows
            reps = args.reps if gs.problems < 1000 else max(1, args.reps // 2)
            row = gate_rate(gs, reps=reps, max_drop=0.0, seed=args.seed)
            print(format_gate_table([row], "false alarms").splitlines()[-1], flush=True)
        power = [gate_rate(s, reps=args.reps, seed=args.seed) for s in GATE_POWER_SETTINGS]
        print("\nGate power (share of runs declaring a regression) against a true pass@1 drop, max_drop=0.02:")
        print(format_gate_table(power, "power"))
        null_corr = gain_correlation_null(reps=args.reps, seed=args.seed)
        print(
            f"\nGain correlation with no RL effect (12 tasks of 5-80 problems, n=16), share with p < 0.05: {null_corr}"
        )
        se = math.sqrt(0.05 * 0.95 / args.reps)
        print(f"binomial SE of a rate near 0.05: {se:.4f}; {time.perf_counter() - t0:.0f}s")
        return
    band = (0.93, 0.97)
    for problems in args.problems:
        rows: list[CoverageRow] = []
        ks = (1, max(1, args.n // 8), args.n) if args.paired else (1, 8, 64)
        for s in PAIRED_TRUTHS if args.paired else SETTINGS:
            rows += coverage(s, ks=ks, problems=problems, n=args.n, reps=args.reps, n_boot=args.n_boot,
                             seed=args.seed, methods=args.methods)  # fmt: skip
        print(
            f"Coverage of nominal 95% intervals: {args.reps} datasets per setting, P={problems} problems, "
            f"n={args.n} samples, {args.n_boot} resamples. 2-sided = two-sided interval; upper / lower = "
            "one-sided 95% bounds (alternative='less' / 'greater'). Binomial SE of each coverage: "
            f"{math.sqrt(0.95 * 0.05 / args.reps):.4f}. Rows with any of the three outside "
            f"{band[0]:.2f}-{band[1]:.2f} are flagged."
        )
        print(format_table(rows, band))
        bad = [r for r in rows if not all(band[0] <= c <= band[1] for c in (r.two_sided, r.upper, r.lower))]
        print(f"{len(rows) - len(bad)} of {len(rows)} rows inside the band; {time.perf_counter() - t0:.0f}s\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
