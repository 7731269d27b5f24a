"""Forecasts from ``--adaptive`` runs: pass@8192 from n = 1024 under "stop at R = 16 correct samples or n",
against the fixed-n run of the same samples, on the simulated suites of ``bench_forecast.py``.

For each data set (problems with known rates, 1,024 outcomes each): the fixed-n forecast
(:func:`evalkit.stats.forecast.forecast_pass_at_k` on the counts, backtest on the first 256 samples) and the
adaptive one (the same on what the rule read: (T, S) per problem, the low region capped at
``adaptive_low_max(1024, R) = 15``; backtest on the first 256 samples as the rule read them). Reported per
setting: coverage of the truth (mean over problems of 1 - (1 - p)^8192) by each 95% interval, backtest
acceptance, coverage when accepted, median width, the mean absolute difference of the two point forecasts,
and the samples the adaptive run drew as a share of n = 1024.

    python tests/bench/bench_forecast_adaptive.py [--runs 40] [--problems 300] [--successes 16]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

from evalkit.stats.adaptive import AdaptiveRule
from evalkit.stats.forecast import adaptive_low_max, backtest_counts, forecast_pass_at_k

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_forecast import SETTINGS

N, K, RATIO = 1024, 8192, 4


def _read(samples: np.ndarray, successes: int, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, S) per problem: what "stop at R successes or ``cap`` samples" reads of each row."""
    rule = AdaptiveRule.make(successes, cap)
    done = [rule.decide(row[:cap]) for row in samples]
    return np.array([d.used for d in done]), np.array([d.successes for d in done])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--problems", type=int, nargs="+", default=[300])
    parser.add_argument("--successes", type=int, default=16)
    args = parser.parse_args()
    r = args.successes
    m = N // RATIO
    print(f"# forecast from n = {N} -> k = {K}, fixed n vs --adaptive R = {r}, {args.runs} data sets per row")
    print(f"# {platform.node()} {platform.machine()} {time.strftime('%Y-%m-%d')}")
    print(
        "| setting | problems | drawn (adaptive) | coverage: fixed / adaptive | backtest accepts: fixed / adaptive "
        "| coverage when accepted: fixed / adaptive | median width: fixed / adaptive | mean abs. difference | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, rates_of in SETTINGS.items():
        for size in args.problems:
            rng = np.random.default_rng(2026)
            cover = {"fixed": 0, "adaptive": 0}
            accept = {"fixed": 0, "adaptive": 0}
            both = {"fixed": 0, "adaptive": 0}
            width: dict[str, list[float]] = {"fixed": [], "adaptive": []}
            diffs, drawn = [], []
            start = time.perf_counter()
            for run in range(args.runs):
                rates = rates_of(rng, size)
                samples = rng.random((size, N)) < rates[:, None]
                truth = float((1 - (1 - rates) ** K).mean())
                solved = samples.any(axis=1)
                counts = samples.sum(axis=1)
                trials, hits = _read(samples, r, N)
                t_m, s_m = _read(samples, r, m)
                drawn.append(trials.sum() / samples.size)
                cases = {
                    "fixed": (np.full(size, N), counts, None, np.full(size, m), samples[:, :m].sum(axis=1), None),
                    "adaptive": (trials, hits, adaptive_low_max(N, r), t_m, s_m, adaptive_low_max(m, r)),
                }
                estimates = {}
                for label, (n_read, c_read, low_max, n_m, c_m, low_max_m) in cases.items():
                    fc = forecast_pass_at_k(n_read, c_read, [K], seed=run, low_max=low_max)
                    ok = backtest_counts(n_m, c_m, solved, N, seed=run, low_max=low_max_m).ok
                    hit = fc.ci_low[0] <= truth <= fc.ci_high[0]
                    cover[label] += hit
                    accept[label] += ok
                    both[label] += hit and ok
                    width[label].append(fc.ci_high[0] - fc.ci_low[0])
                    estimates[label] = fc.estimate[0]
                diffs.append(abs(estimates["fixed"] - estimates["adaptive"]))
            took = time.perf_counter() - start

            when = {label: f"{both[label] / accept[label]:.3f}" if accept[label] else "-" for label in both}
            print(
                f"| {name} | {size} | {np.mean(drawn):.3f} | {cover['fixed'] / args.runs:.3f} / "
                f"{cover['adaptive'] / args.runs:.3f} | {accept['fixed'] / args.runs:.3f} / "
                f"{accept['adaptive'] / args.runs:.3f} | {when['fixed']} / {when['adaptive']} | "
                f"{np.median(width['fixed']):.3f} / {np.median(width['adaptive']):.3f} | {np.mean(diffs):.4f} | "
                f"{took:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
