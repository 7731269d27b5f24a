"""What the support evidence adds to ``evalkit compare``: :func:`evalkit.compare.support.attach_support` (perplexity
distributions, support dynamics, token- and answer-level entropy, winner-take-all) on two runs written straight
into run stores, beside ``compare_runs`` on the same runs.

Workload: 2 runs x P problems of the ``math`` family x n samples, each completion a short chain of thought ending
in a boxed answer (about 30 distinct texts per problem in the RL run, all distinct in the base run), log-
probabilities recorded, one in 50 cut at the token limit. Building the runs is not timed.

    python tests/bench/bench_support.py [--problems 200] [--n 1024]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from evalkit.compare import compare_runs
from evalkit.compare.results import load_run
from evalkit.compare.support import attach_support
from evalkit.store import RunStore
from evalkit.types import Completion, Problem, Verdict


def build(root: Path, label: str, problems: list[Problem], n: int, distinct: int | None, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    identity = {"model": label, "model_hash": f"sha256:{label}", "sampling": {"temperature": 1.0}, "tasks": ["math"]}
    store, _ = RunStore.create_or_resume(root, identity, {"n": n}, problems)
    for p in problems:
        comps, verdicts = [], []
        for i in range(n):
            j = int(rng.integers(distinct)) if distinct else i
            answer = p.reference if j % 3 == 0 else str(j)
            text = f"Step {j}: we add the numbers and simplify. The answer is $\\boxed{{{answer}}}$."
            tokens = 20 + j % 17
            finish = "length" if i % 50 == 49 else "stop"
            comps.append(Completion(p.id, i, text, tokens, finish, i, -0.8 * tokens, -1.1 * tokens, tokens))
            ok = answer == p.reference and finish == "stop"
            verdicts.append((p.id, i, Verdict(ok, float(ok), "ok")))
        store.append_completions(comps)
        store.append_verdicts(verdicts)
    store.unlock()
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--n", type=int, default=1024)
    args = parser.parse_args()
    problems = [Problem(f"p{i}", "math", f"What is {i} + 1?", str(i + 1)) for i in range(args.problems)]
    with tempfile.TemporaryDirectory() as tmp:
        base_dir = build(Path(tmp) / "base", "base", problems, args.n, None, 0)
        rl_dir = build(Path(tmp) / "rl", "rl", problems, args.n, 30, 1)
        start = time.monotonic()
        base, rl = load_run(base_dir), load_run(rl_dir)
        loaded = time.monotonic()
        summary = compare_runs(base, rl)
        compared = time.monotonic()
        attach_support(summary, base, rl)
        done = time.monotonic()
    print(f"machine: {platform.machine()}; {args.problems} problems x {args.n} samples x 2 runs")
    print(
        f"load_run x 2 {loaded - start:.1f} s, compare_runs {compared - loaded:.1f} s, "
        f"attach_support {done - compared:.1f} s"
    )
    dyn = summary["support"]["dynamics"]["overall"]["at_n"]
    ent = summary["support"]["entropy"]
    print(f"check: P {dyn['P']:.0f}, answer entropy base {ent['answer']['base']:.2f} rl {ent['answer']['rl']:.2f} nats")


if __name__ == "__main__":
    main()
