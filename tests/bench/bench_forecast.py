"""Forecast coverage: pass@1024 forecast from the first 128 samples per problem, on simulated suites with known
per-problem rates (mixtures of beta rates, sparse and dense, exact zeros, a band of rare-but-reachable rates).

For each setting: how often the 95% interval covers the truth (the mean over problems of 1 - (1 - p)^1024),
how often the backtest accepts the fit, how often the interval covers when the fit is accepted (what
``evalkit forecast`` prints; refused forecasts print nothing), and the median interval width.

    python tests/bench/bench_forecast.py [--runs 100] [--problems 100 300] [--stress]
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import numpy as np

from evalkit.stats.forecast import backtest, forecast_pass_at_k

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--problems", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--k", type=int, default=1024)
    parser.add_argument("--stress", action="store_true", help="the stress settings instead of the main ones")
    args = parser.parse_args()
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
