"""Checkpoint turnover: false alarm rate of the chance reference under no change, and power under a change.

Simulated pairs of checkpoints on P problems with known per-sample rates, m samples each
(:func:`evalkit.stats.turnover.turnover_step`). Under **no change** both checkpoints share the rates; the three
tests (``p_gains``, ``p_losses``: more gains / losses than chance; ``p_sign``: gains against losses) should
reject at 5% in at most 5% of data sets. Under a **change** the later checkpoint's rates are moved (some problems
lost, some gained) and the table gives how often each test notices.

    python tests/bench/bench_turnover.py [--runs 2000] [--problems 100] [--m 16]
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import numpy as np

from evalkit.stats.turnover import turnover_step

Pair = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]


def _same(draw: Callable[[np.random.Generator, int], np.ndarray]) -> Pair:
    def pair(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        rates = draw(rng, size)
        return rates, rates

    return pair


def _shift(draw: Callable[[np.random.Generator, int], np.ndarray], share: float, factor: float) -> Pair:
    """A share of the problems has its rate multiplied by ``factor`` (capped at 1) at the later checkpoint."""

    def pair(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        rates = draw(rng, size)
        moved = rng.random(size) < share
        return rates, np.where(moved, np.minimum(1.0, rates * factor), rates)

    return pair


def _sparse(r: np.random.Generator, s: int) -> np.ndarray:
    return r.beta(0.2, 3.0, s)


def _rare(r: np.random.Generator, s: int) -> np.ndarray:
    return np.where(r.random(s) < 0.5, r.uniform(0.005, 0.08, s), r.beta(2, 2, s))


SETTINGS: dict[str, tuple[str, Pair]] = {
    "no change, sparse Beta(.2,3)": ("null", _same(_sparse)),
    "no change, half rare U(.005,.08)": ("null", _same(_rare)),
    "no change, all rates 0.05": ("null", _same(lambda r, s: np.full(s, 0.05))),
    "30% of problems at 1/10 the rate (losses)": ("change", _shift(_sparse, 0.3, 0.1)),
    "30% of problems at 5x the rate (gains)": ("change", _shift(_sparse, 0.3, 5.0)),
}


def run(runs: int, problems: int, m: int, seed: int = 0) -> list[tuple[str, str, float, float, float]]:
    rng = np.random.default_rng(seed)
    out = []
    for name, (kind, pair) in SETTINGS.items():
        hits = np.zeros(3)
        for _ in range(runs):
            before, after = pair(rng, problems)
            step = turnover_step(rng.binomial(m, before), rng.binomial(m, after), np.full(problems, m))
            hits += [step["p_gains"] <= 0.05, step["p_losses"] <= 0.05, step["p_sign"] <= 0.05]
        out.append((name, kind, *(hits / runs)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--problems", type=int, default=100)
    parser.add_argument("--m", type=int, default=16)
    args = parser.parse_args()
    start = time.monotonic()
    rows = run(args.runs, args.problems, args.m)
    print(f"machine: {platform.machine()} {platform.processor() or ''}; runs {args.runs}, problems {args.problems}, "
          f"m {args.m}; {time.monotonic() - start:.0f}s")  # fmt: skip
    print("| setting | truth | rejects: more gains | more losses | gains vs losses |")
    print("|---|---|---|---|---|")
    for name, kind, g, l_, s in rows:
        print(f"| {name} | {kind} | {g:.3f} | {l_:.3f} | {s:.3f} |")


if __name__ == "__main__":
    main()
