"""``evalkit sample --adaptive`` on the demo's models: samples drawn and claims against the demo's fixed n = 1024.

Input: the runs ``evalkit demo`` writes (``reports/demo/runs/base`` and ``rl``: 80 problems x 1,024 samples of
two ~0.9M-parameter checkpoints). Each run's completions are written to a samples file and replayed through
``evalkit sample --adaptive --backend replay`` (the rule: stop a problem at R correct samples or at n), so the
adaptive run holds a prefix of each problem's fixed-n samples, as a seeded sampler that draws sample ``j`` of a
problem the same way in any batch would give. Then ``evalkit compare --json`` runs on the adaptive pair and on the
demo's fixed-n pair, and their claims are compared (frontier counts, the ``rl_only_bounded`` bound, the exact
McNemar decisions, ``base_only_excess``, the delta claims), as are mean pass@k and its interval at k = 1, 16, 1024.

Reported: samples drawn (each model and both) as a fraction of 80 x 1,024, the floor (samples up to each
problem's first success, or n where there is none), whether the claims are equal, and the pass@k rows side by
side. Not timed: replay costs no model time; the saving is in the samples a model never has to draw.

    python tests/bench/bench_adaptive_demo.py --runs reports/demo/runs [--successes 16] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.compare.results import load_run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_adaptive import _claim_keys  # the claims compared, as in the simulated benchmark

N = 1024
KS = (1, 16, 1024)


def _evalkit(*argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", "evalkit", *argv], capture_output=True, text=True, timeout=3600)
    if done.returncode:
        raise SystemExit(f"evalkit {' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _task_spec(run: Path) -> tuple[str, int, int]:
    """The run's task as ``NAME@key=value,...``, its problem seed and problem count (from the manifest)."""
    identity = json.loads((run / "manifest.json").read_text())["identity"]
    (task,) = identity["tasks"]
    params = ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in task["params"].items())
    return f"{task['name']}@{params}", int(identity["problem_seed"]), int(identity["limit"])


def _write_samples(run: Path, out: Path) -> None:
    """Every completion of a format-2 run as a samples file: problem_id, sample_idx, completion."""
    frame = pd.concat(
        pd.read_parquet(f, columns=["problem_id", "sample_idx", "text"])
        for f in sorted((run / "completions").glob("*.parquet"))
    )
    frame = frame.sort_values(["problem_id", "sample_idx"])
    with out.open("w") as fh:
        for pid, idx, text in frame.itertuples(index=False):
            fh.write(json.dumps({"problem_id": pid, "sample_idx": int(idx), "completion": text}) + "\n")


def _floor(run: Path) -> int:
    """Samples up to each problem's first success (n where there is none), from the fixed run's verdicts: what any
    rule that keeps the solved / never-solved classes must draw."""
    results = load_run(run)
    total = 0
    for outcomes in results.passed.values():
        hits = np.flatnonzero(outcomes)
        total += int(hits[0]) + 1 if hits.size else len(outcomes)
    return total


def _pass_rows(summary: dict[str, Any]) -> list[str]:
    """Mean pass@k with its interval, each model, k in KS (from the overall rows of the compare JSON)."""
    overall = summary["overall"]
    rows = []
    for label in ("base", "rl"):
        for k in KS:
            low, high = overall["pass_at_k_ci"][label][str(k)]
            rows.append(f"{label} pass@{k} {overall['pass_at_k'][label][str(k)]:.4f} [{low:.4f}, {high:.4f}]")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("reports/demo/runs"), help="the demo's runs folder")
    parser.add_argument("--successes", type=int, default=16, help="R of the stopping rule")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_adaptive_demo_"))
    work.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, int] = {}
    for label in ("base", "rl"):
        run = args.runs / label
        spec, seed, limit = _task_spec(run)
        samples = work / f"{label}.jsonl"
        _write_samples(run, samples)
        out = work / f"adaptive_{label}"
        argv = ["sample", str(samples), "--backend", "replay", "--task", spec, "--problem-seed", str(seed)]
        argv += ["--limit", str(limit), "--n", str(N), "--adaptive", "--adaptive-successes", str(args.successes)]
        _evalkit(*argv, "--out", str(out))
        summary = json.loads(_evalkit("summary", str(out), "--json"))
        drawn[label] = sum(int(p["samples_drawn"]) for p in summary["problems"])
        drawn[f"{label}_problems"] = len(summary["problems"])
    floor = sum(_floor(args.runs / label) for label in ("base", "rl"))
    fixed = json.loads(_evalkit("compare", str(args.runs / "base"), str(args.runs / "rl"), "--json"))
    adaptive = json.loads(_evalkit("compare", str(work / "adaptive_base"), str(work / "adaptive_rl"), "--json"))
    keys = {"fixed": _claim_keys(fixed), "adaptive": _claim_keys(adaptive)}
    total = drawn["base_problems"] * N
    print(f"runs: {args.runs}  R = {args.successes}  n = {N}  problems = {drawn['base_problems']}")
    print(
        f"drawn: base {drawn['base'] / total:.3f}, RL {drawn['rl'] / total:.3f}, "
        f"both {(drawn['base'] + drawn['rl']) / (2 * total):.3f} of the fixed-n samples"
    )
    print(f"floor (first success or n): {floor / (2 * total):.3f}")
    for kind in ("frontier", "excess", "delta", "gate"):
        fixed_claim, adaptive_claim = keys["fixed"][kind], keys["adaptive"][kind]
        print(f"{kind}: equal {fixed_claim == adaptive_claim}  fixed {fixed_claim}  adaptive {adaptive_claim}")
    for label, summary in (("fixed", fixed), ("adaptive", adaptive)):
        for row in _pass_rows(summary):
            print(f"{label}: {row}")
    (work / "compare_fixed.json").write_text(json.dumps(fixed, indent=1, default=str))
    (work / "compare_adaptive.json").write_text(json.dumps(adaptive, indent=1, default=str))
    print(f"compare JSON: {work}/compare_fixed.json, {work}/compare_adaptive.json")


if __name__ == "__main__":
    main()
