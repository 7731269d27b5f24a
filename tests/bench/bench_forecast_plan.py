"""The forecast planner's half-width against the forecast's own code in simulation.

For each population of rates and target (pass@K within +-E), ``evalkit plan --forecast-k K --within E``'s
designs (:func:`evalkit.compare.forecast_plan.plan_forecast`, n in {16, 64, 128}, at most 2,000 problems)
are simulated independently of the planner (other seeds, more problem sets): P problems drawn from the
rates, binomial counts at n, :func:`evalkit.stats.forecast.forecast_pass_at_k` on them. Reported: the
planner's 80% quantile and median of the interval's half-width beside the simulated ones; the planner's
probability that the half-width is at most E (the share of its own 64 sets; it aims at 0.8) beside the
share of the simulated sets; and the share whose point forecast lies within +-E of the true mean pass@K of
the drawn problems.

    python tests/bench/bench_forecast_plan.py [--sets 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from evalkit.compare.forecast_plan import PROBABILITY, plan_forecast
from evalkit.compare.power import beta_rates
from evalkit.stats.forecast import forecast_pass_at_k


def populations() -> dict[str, np.ndarray]:
    """The rate settings: a dense mixture, sparse rates, and sparse rates with exact zeros."""
    return {
        "dense: 0.8 Beta(2,2) + 0.2 Beta(0.5,20)": np.concatenate([beta_rates(2, 2, 1600), beta_rates(0.5, 20, 400)]),
        "sparse Beta(0.3,3)": beta_rates(0.3, 3),
        "0.3 zeros + 0.7 Beta(0.3,3)": np.concatenate([np.zeros(600), beta_rates(0.3, 3, 1400)]),
    }


TARGETS = {  # population -> (K, E)
    "dense: 0.8 Beta(2,2) + 0.2 Beta(0.5,20)": (256, 0.03),
    "sparse Beta(0.3,3)": (256, 0.05),
    "0.3 zeros + 0.7 Beta(0.3,3)": (512, 0.08),
}


def simulate(rates: np.ndarray, problems: int, n: int, k: int, sets: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Half-widths and |estimate - true mean pass@k| over ``sets`` simulated problem sets, shape (sets,) each."""
    widths, errors = np.empty(sets), np.empty(sets)
    for s in range(sets):
        rng = np.random.default_rng([seed, 7919, s])
        p = rng.choice(rates, problems)
        fc = forecast_pass_at_k(np.full(problems, n), rng.binomial(n, p), [k], seed=seed + 50_000 + s)
        widths[s] = (fc.ci_high[0] - fc.ci_low[0]) / 2
        errors[s] = abs(fc.estimate[0] - float((1.0 - (1.0 - p) ** k).mean()))
    return widths, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sets", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"{args.sets} simulated problem sets per design")
    print(
        "| rates | K | E | n | P | planned q80 | simulated q80 | planned median | simulated median | "
        "planned P(half-width <= E) | simulated (SE) | P(|estimate - truth| <= E) | plan s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    start = time.monotonic()
    worst = 0.0
    for name, rates in populations().items():
        k, within = TARGETS[name]
        began = time.monotonic()
        options = plan_forecast(rates, k, within, [16, 64, 128], None, max_problems=2000)
        planned = time.monotonic() - began
        for o in options:
            widths, errors = simulate(rates, o.problems, o.n, k, args.sets, args.seed)
            share = float(np.mean(widths <= within))
            se = (share * (1 - share) / args.sets) ** 0.5
            assert o.within_probability is not None
            worst = max(worst, abs(share - o.within_probability))
            print(
                f"| {name} | {k} | {within:g} | {o.n} | {o.problems} | {o.half_width:.4f} | "
                f"{np.quantile(widths, PROBABILITY):.4f} | {o.median_half_width:.4f} | {np.median(widths):.4f} | "
                f"{o.within_probability:.3f} | {share:.3f} ({se:.3f}) | {np.mean(errors <= within):.3f} | "
                f"{planned:.0f} |"
            )
    print(f"largest |planned - simulated P(half-width <= E)|: {worst:.3f}; {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
