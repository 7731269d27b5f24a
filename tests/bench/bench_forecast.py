"""Forecast coverage: pass@1024 forecast from the first 128 samples per problem, on simulated suites with known
per-problem rates (mixtures of beta rates, sparse and dense, exact zeros, a band of rare-but-reachable rates).

For each setting: how often the 95% interval covers the truth (the mean over problems of 1 - (1 - p)^1024),
how often the backtest accepts the fit, how often the interval covers when the fit is accepted (what
``evalkit forecast`` prints; refused forecasts print nothing), and the median interval width.

    python tests/bench/bench_forecast.py [--runs 100] [--problems 100 300] [--stress]

With ``--real PATH`` (a counts file such as tests/data/real_counts/math500_qwen25_7b.json: per model, per-problem
correct counts out of n): a held-back check on real counts instead. For each model and each m in ``--seen``,
every draw deals each problem's n outcomes (its c successes among n) in a random order, keeps the first m as
the seen samples (so the seen count is hypergeometric, exactly the law of the first m samples of an
exchangeable sequence), forecasts pass@n from them, and compares with the held-back truth, the share of
problems solved at least once in all n. Reported per (model, m): coverage of the 95% interval of
``forecast_pass_at_k``; coverage of the posterior predictive interval (``backtest`` fitted on the same m,
which adds the Bernoulli noise of the realized share); how often the CLI's own backtest (fitted on m // 4 of
the m) accepts, and coverage when it does; median width; mean estimate against the truth. The draws share the
problems and the truth: this is coverage over the draw of the seen samples, not over problem sets. With
``--bootstrap B`` also B draws that first resample the problems with replacement (the truth is then the
resampled set's share solved at n), a rough stand-in for coverage over problem sets like these.

    python tests/bench/bench_forecast.py --real tests/data/real_counts/math500_qwen25_7b.json --draws 200

``--explain`` (with ``--real``): instead, where the point forecast's error comes from, by the problems' count in
all n samples (see :func:`bias_by_count`).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import special

from evalkit.stats.forecast import backtest, forecast_pass_at_k
from evalkit.stats.forecast_model import low_cap

Rates = Callable[[np.random.Generator, int], np.ndarray]


def _mix(parts: list[tuple[float, Callable[[np.random.Generator, int], np.ndarray]]]) -> Rates:
    def draw(rng: np.random.Generator, size: int) -> np.ndarray:
        u = rng.random(size)
        out = np.zeros(size)
        edge = 0.0
        for weight, sampler in parts:
            pick = (u >= edge) & (u < edge + weight)
            out[pick] = sampler(rng, int(pick.sum()))
            edge += weight
        return out

    return draw


SETTINGS: dict[str, Rates] = {
    "dense: .5 Beta(.3,3) + .5 Beta(3,1)": _mix(
        [(0.5, lambda r, s: r.beta(0.3, 3, s)), (0.5, lambda r, s: r.beta(3, 1, s))]
    ),
    "sparse: Beta(.15,15)": lambda r, s: r.beta(0.15, 15, s),
    "sparse with zeros: .3 at 0 + .7 Beta(.2,10)": _mix(
        [(0.3, lambda r, s: np.zeros(s)), (0.7, lambda r, s: r.beta(0.2, 10, s))]
    ),
    "mixed: .2 at 0 + .4 Beta(.3,6) + .4 Beta(2,2)": _mix(
        [(0.2, lambda r, s: np.zeros(s)), (0.4, lambda r, s: r.beta(0.3, 6, s)), (0.4, lambda r, s: r.beta(2, 2, s))]
    ),
    "three modes: .3 Beta(.5,50) + .3 Beta(1,5) + .4 Beta(5,1)": _mix(
        [
            (0.3, lambda r, s: r.beta(0.5, 50, s)),
            (0.3, lambda r, s: r.beta(1, 5, s)),
            (0.4, lambda r, s: r.beta(5, 1, s)),
        ]
    ),
    "band: .4 U(.0005,.005) + .6 Beta(2,2)": _mix(
        [(0.4, lambda r, s: r.uniform(0.0005, 0.005, s)), (0.6, lambda r, s: r.beta(2, 2, s))]
    ),
}
# stress settings (``--stress``): most of the forecast's gain lies at rates below 1/n, where n samples see little
STRESS: dict[str, Rates] = {
    "very sparse: Beta(.1,200)": lambda r, s: r.beta(0.1, 200, s),
    "hidden: .5 Beta(1,2000) + .5 Beta(2,2)": _mix(
        [(0.5, lambda r, s: r.beta(1, 2000, s)), (0.5, lambda r, s: r.beta(2, 2, s))]
    ),
    "point: .4 at .002 + .6 Beta(2,2)": _mix(
        [(0.4, lambda r, s: np.full(s, 0.002)), (0.6, lambda r, s: r.beta(2, 2, s))]
    ),
}


def _deal(counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Each problem's n outcomes (its count of successes) in a uniformly random order, shape (problems, n)."""
    ordered = np.arange(n)[None, :] < counts[:, None]
    return rng.permuted(ordered, axis=1)


def realized_noise(counts: np.ndarray, n: int) -> float:
    """Standard deviation of the realized share solved at n around the rates' mean pass@n,
    sqrt(sum_i q_i (1 - q_i)) / P with q_i = 1 - (1 - p_i)^n, taking each q_i (1 - q_i) = E(1-p)^n - E(1-p)^2n
    under the problem's Jeffreys posterior Beta(c + 1/2, n - c + 1/2)."""
    a, b = counts + 0.5, n - counts + 0.5
    once = np.exp(special.betaln(a, b + n) - special.betaln(a, b))
    twice = np.exp(special.betaln(a, b + 2 * n) - special.betaln(a, b))
    return float(np.sqrt(np.sum(once - twice)) / counts.size)


def held_back(counts: np.ndarray, n: int, m: int, draws: int, resample: bool, seed: int) -> dict[str, float]:
    """The held-back check of one model at one m over ``draws`` draws (see the module docstring)."""
    rng = np.random.default_rng(seed)
    hit = predictive = accepted = hit_accepted = below = 0
    widths, estimates, truths = [], [], []
    for d in range(draws):
        c = counts[rng.integers(0, counts.size, counts.size)] if resample else counts
        truth = float(np.mean(c > 0))
        outcomes = _deal(c, n, rng)
        seen = outcomes[:, :m]
        fc = forecast_pass_at_k(np.full(c.size, m), seen.sum(axis=1), [n], seed=d)
        covered = fc.ci_low[0] <= truth <= fc.ci_high[0]
        ok = backtest(list(seen), seed=d).ok  # what the CLI would check on the m seen samples
        hit += covered
        below += truth < fc.ci_low[0]
        accepted += ok
        hit_accepted += covered and ok
        predictive += backtest(list(outcomes), ratio=n // m, seed=d).ok
        widths.append(fc.ci_high[0] - fc.ci_low[0])
        estimates.append(fc.estimate[0])
        truths.append(truth)
    return {
        "coverage": hit / draws,
        "truth_below": below / draws,
        "predictive": predictive / draws,
        "accepts": accepted / draws,
        "when_accepted": hit_accepted / accepted if accepted else float("nan"),
        "width": float(np.median(widths)),
        "estimate": float(np.mean(estimates)),
        "truth": float(np.mean(truths)),
    }


BUCKETS = [(0, 0), (1, 1), (2, 3), (4, 8), (9, 16), (17, 10**9)]  # of the full count, for ``--explain``


def bias_by_count(counts: np.ndarray, n: int, m: int, draws: int, seed: int) -> np.ndarray:
    """Where the point forecast's error comes from: per bucket of the full count (``BUCKETS``), the mean over
    draws of sum over the bucket's problems of (point forecast of the problem's pass@n - solved at n) / problems.
    The per-problem point forecast is the one ``forecast_pass_at_k`` averages: the fit's posterior mean for the
    low counts, the Jeffreys posterior mean for the others. Shape (len(BUCKETS),); the sum is the mean bias."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(BUCKETS))
    for d in range(draws):
        c_m = _deal(counts, n, rng)[:, :m].sum(axis=1)
        n_m = np.full(counts.size, m)
        fit = forecast_pass_at_k(n_m, c_m, [n], replicates=20, seed=d).fit
        low = c_m <= low_cap(m)
        per = np.empty(counts.size)
        per[low] = fit.expected_pass_at_k(n_m[low], c_m[low], n)
        a, b = c_m[~low] + 0.5, m - c_m[~low] + 0.5
        per[~low] = 1.0 - np.exp(special.betaln(a, b + n) - special.betaln(a, b))
        err = per - (counts > 0)
        for j, (lo, hi) in enumerate(BUCKETS):
            out[j] += err[(counts >= lo) & (counts <= hi)].sum() / counts.size
    return out / draws


def explain_main(path: Path, seen: list[int], draws: int) -> None:
    """Print the point forecast's bias by the problems' full count, per model and m."""
    data = json.loads(path.read_text())
    n = int(data["n"])
    print(f"# bias of the point forecast of pass@{n} by the problems' count in all {n} samples, {draws} draws")
    heads = [f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi < n else f">={lo}") for lo, hi in BUCKETS]
    print("| model | m | bias | " + " | ".join(f"count {h}" for h in heads) + " |")
    print("|---|---|---|" + "---|" * len(BUCKETS))
    for name, model in data["models"].items():
        counts = np.asarray(model["correct"], dtype=np.int64)
        sizes = [int(np.count_nonzero((counts >= lo) & (counts <= hi))) for lo, hi in BUCKETS]
        for m in seen:
            parts = bias_by_count(counts, n, m, draws, seed=7)
            cells = " | ".join(f"{v:+.4f} ({k})" for v, k in zip(parts, sizes, strict=True))
            print(f"| {name} | {m} | {parts.sum():+.4f} | {cells} |", flush=True)


def real_main(path: Path, seen: list[int], draws: int, boot: int) -> None:
    """Print the held-back table for the counts file at ``path``."""
    data = json.loads(path.read_text())
    n = int(data["n"])
    print(f"# held-back check on {path.name}: forecast pass@{n} from m of {n} samples per problem, nominal 0.95")
    print(f"# {platform.node()} {platform.machine()} {time.strftime('%Y-%m-%d')}")
    print(
        "| model | problems | m -> n | draws | truth | noise sd | coverage | truth below | predictive coverage | "
        "backtest accepts | coverage when accepted | median width | mean estimate | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, model in data["models"].items():
        counts = np.asarray(model["correct"], dtype=np.int64)
        noise = realized_noise(counts, n)
        for m in seen:
            for label, runs, resample in (("", draws, False), (" (problems resampled)", boot, True)):
                if runs == 0:
                    continue
                start = time.perf_counter()
                r = held_back(counts, n, m, runs, resample, seed=2026 + m)
                print(
                    f"| {name}{label} | {counts.size} | {m} -> {n} | {runs} | {r['truth']:.3f} | {noise:.4f} | "
                    f"{r['coverage']:.3f} | {r['truth_below']:.3f} | {r['predictive']:.3f} | {r['accepts']:.3f} | "
                    f"{r['when_accepted']:.3f} | {r['width']:.3f} | {r['estimate']:.3f} | "
                    f"{time.perf_counter() - start:.0f} |",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--problems", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--k", type=int, default=1024)
    parser.add_argument("--stress", action="store_true", help="the stress settings instead of the main ones")
    parser.add_argument("--real", type=Path, help="a counts file: the held-back check on real counts instead")
    parser.add_argument("--seen", type=int, nargs="+", default=[16, 32, 8], help="with --real: seen samples m")
    parser.add_argument("--draws", type=int, default=200, help="with --real: subsample draws per (model, m)")
    parser.add_argument("--bootstrap", type=int, default=0, help="with --real: draws that resample problems")
    parser.add_argument("--explain", action="store_true", help="with --real: the point forecast's bias by count")
    args = parser.parse_args()
    if args.real is not None and args.explain:
        explain_main(args.real, args.seen, args.draws)
        return
    if args.real is not None:
        real_main(args.real, args.seen, args.draws, args.bootstrap)
        return
    print(f"# forecast coverage, n = {args.n} -> k = {args.k}, {args.runs} data sets per row, nominal 0.95")
    print(f"# {platform.node()} {platform.machine()} {time.strftime('%Y-%m-%d')}")
    print("| setting | problems | coverage | backtest accepts | coverage when accepted | median width | s |")
    print("|---|---|---|---|---|---|---|")
    for name, rates_of in (STRESS if args.stress else SETTINGS).items():
        for size in args.problems:
            rng = np.random.default_rng(2026)
            covered = accepted = covered_accepted = 0
            widths = []
            start = time.perf_counter()
            for run in range(args.runs):
                rates = rates_of(rng, size)
                samples = rng.random((size, args.n)) < rates[:, None]
                counts = samples.sum(axis=1)
                truth = float((1 - (1 - rates) ** args.k).mean())
                fc = forecast_pass_at_k(np.full(size, args.n), counts, [args.k], seed=run)
                hit = fc.ci_low[0] <= truth <= fc.ci_high[0]
                ok = backtest(list(samples), seed=run).ok
                covered += hit
                accepted += ok
                covered_accepted += hit and ok
                widths.append(fc.ci_high[0] - fc.ci_low[0])
            took = time.perf_counter() - start
            when = f"{covered_accepted / accepted:.3f}" if accepted else "-"
            print(
                f"| {name} | {size} | {covered / args.runs:.3f} | {accepted / args.runs:.3f} | {when} | "
                f"{np.median(widths):.3f} | {took:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
