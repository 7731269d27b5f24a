"""The planner's power against the power of the gate's own code in simulation.

For each setting, the predicted power of one gate check (:func:`evalkit.compare.power.gate_power`, the normal
approximation ``evalkit plan`` and the gate's ``detectable_drop`` use) is compared with the rate at which
:func:`evalkit.compare.decision.gate_decisions` (the code ``evalkit gate`` runs) calls REGRESSION on simulated
runs: P problems drawn from a population of rates, n samples per problem and model, the candidate's rates the
base's shrunk by the common factor that lowers mean pass@k by D (the planner's alternative). Rows marked
"plan" use the design ``evalkit plan`` picks for that target; rows marked "fixed" keep one problem set and
use the drop the gate reports as detectable at power 0.8 on it.

    python tests/bench/bench_power.py [--reps 400]
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import dataclass

import numpy as np

from evalkit.compare.decision import gate_decisions
from evalkit.compare.power import beta_rates, detectable_drop, plan_drop, predicted_power, shrink_factor
from evalkit.stats import pass_at_k

MAX_DROP = 0.02
POPULATIONS = {
    "dense Beta(2,2)": (2.0, 2.0),
    "sparse Beta(0.3,3)": (0.3, 3.0),
    "mixed Beta(0.5,1.5)": (0.5, 1.5),
}


@dataclass
class Setting:
    label: str
    population: str
    problems: int
    n: int
    k: int
    drop: float
    fixed: np.ndarray | None = None  # one problem set's rates for every replicate (the gate's detectable drop)
    checks: int = 1


def simulate(s: Setting, reps: int, seed: int) -> float:
    """The share of replicates in which the gate's test calls REGRESSION (checks > 1: the check is one of
    ``checks`` identical-distribution checks of which only the first has the drop)."""
    rng = np.random.default_rng(seed)
    pop = beta_rates(*POPULATIONS[s.population])
    f = shrink_factor(pop if s.fixed is None else s.fixed, s.k, s.drop)
    assert f is not None
    hits = 0
    for _ in range(reps):
        p = s.fixed if s.fixed is not None else rng.choice(pop, s.problems)
        cols = []
        for j in range(s.checks):
            q = f * p if j == 0 else p
            cb, cc = rng.binomial(s.n, p), rng.binomial(s.n, q)
            cols.append((pass_at_k(s.n, cc, s.k) - pass_at_k(s.n, cb, s.k))[:, None])
        _, adjusted = gate_decisions(cols, MAX_DROP, 0.95)
        hits += bool(adjusted[0] <= 0.05)
    return hits / reps


def predicted(s: Setting) -> float:
    pop = beta_rates(*POPULATIONS[s.population])
    if s.fixed is not None:
        return predicted_power(s.fixed, s.n, s.k, s.drop, MAX_DROP, None, checks=s.checks)
    return predicted_power(pop, s.n, s.k, s.drop, MAX_DROP, s.problems, checks=s.checks)


def settings(seed: int) -> list[Setting]:
    out = [
        Setting("k=1", "dense Beta(2,2)", 100, 16, 1, 0.05),
        Setting("k=1", "sparse Beta(0.3,3)", 200, 16, 1, 0.03),
        Setting("k=8", "sparse Beta(0.3,3)", 300, 32, 8, 0.05),
        Setting("k=n (exact test)", "sparse Beta(0.3,3)", 100, 64, 64, 0.08),
        Setting("k=n (exact test)", "dense Beta(2,2)", 60, 8, 8, 0.06),
        Setting("k=1, 3 checks", "mixed Beta(0.5,1.5)", 150, 16, 1, 0.05, checks=3),
    ]
    for pop, k, drop in (("sparse Beta(0.3,3)", 1, 0.05), ("mixed Beta(0.5,1.5)", 4, 0.06)):
        rates = beta_rates(*POPULATIONS[pop])
        options = plan_drop(rates, k, drop, MAX_DROP, [max(k, 8), 32, 128], None)
        for o in options:
            out.append(Setting(f"plan k={k} D={drop}", pop, o.problems, o.n, k, drop))
    rng = np.random.default_rng(seed)
    for pop, problems, n, k in (("mixed Beta(0.5,1.5)", 200, 16, 1), ("sparse Beta(0.3,3)", 300, 64, 16)):
        fixed = rng.choice(beta_rates(*POPULATIONS[pop]), problems)
        found = detectable_drop(fixed, n, k, MAX_DROP)
        assert found is not None
        out.append(Setting("fixed set, its detectable drop", pop, problems, n, k, found, fixed=fixed))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {args.reps} replicates per row")
    print("| setting | rates | P | n | k | drop | predicted | simulated (SE) | difference |")
    print("|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    start = time.monotonic()
    for s in settings(args.seed):
        pred, sim = predicted(s), simulate(s, args.reps, args.seed + 1)
        se = (sim * (1 - sim) / args.reps) ** 0.5
        worst = max(worst, abs(pred - sim))
        print(
            f"| {s.label} | {s.population} | {s.problems} | {s.n} | {s.k} | {s.drop:.4f} | {pred:.3f} | "
            f"{sim:.3f} ({se:.3f}) | {pred - sim:+.3f} |"
        )
    print(f"largest |predicted - simulated|: {worst:.3f}; {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
