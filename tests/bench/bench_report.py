"""Benchmark of the report path: ``load_run`` (both runs) + ``compare_runs`` + ``write_report``.

Workload: 2 runs x 1,000 problems (4 tasks, 2 buckets each) x 1,024 samples, i.e. 1,024,000 completions
and as many verdicts per run, written straight into run stores with :class:`evalkit.store.RunStore` (the
same shards ``evalkit sample`` writes; building them is not timed). Completions are short answers with a
chain of thought of varying length (up to ~1,500 characters, ~60 on average), some hostile to HTML; the
RL run's checkpoint folder holds a 1,000-step GRPO log and a held-out eval log, so every section of the
report is drawn. Goal: the timed path under 30 s and the HTML under 5 MB.

Run with ``nox -s bench`` or ``python tests/bench/bench_report.py [--workdir DIR]`` (a workdir keeps the
runs, and a rerun with the same workdir skips building them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from evalkit.compare import compare_runs
from evalkit.compare.results import load_run
from evalkit.report import write_report
from evalkit.store import RunStore
from evalkit.types import Completion, Problem, Verdict

PROBLEMS = 1000
N = 1024
TASKS = ("add", "mul", "count", "logic")
CHUNK = 50  # problems per shard: 51,200 records
GOAL_S = 30.0
GOAL_BYTES = 5_000_000
HOSTILE = ("<script>alert(1)</script>", "</table></script>", "\u2028", "<img src=x onerror=alert(1)>")


def make_problems() -> list[Problem]:
    problems = []
    for i in range(PROBLEMS):
        task = TASKS[i % len(TASKS)]
        a, b = (i * 7919) % 10_000, (i * 104_729) % 10_000
        bucket = "easy" if i % 3 else "hard"
        problems.append(Problem(f"{task}-{i:05d}", task, f"What is {a} + {b}? Think step by step.", str(a + b),
                                {"bucket": bucket, "a": a, "b": b}))  # fmt: skip
    return problems


def success_rates(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-problem success rates: RL sharpens most problems, expands a few and loses a few."""
    base = rng.beta(0.35, 1.2, size=PROBLEMS)
    base[rng.random(PROBLEMS) < 0.15] = 0.0  # problems the base never solves
    rl = np.clip(base**0.6, 0.0, 1.0)
    expand = (base == 0.0) & (rng.random(PROBLEMS) < 0.3)
    rl[expand] = rng.uniform(0.001, 0.05, size=int(expand.sum()))
    shrink = (base > 0) & (base < 0.01) & (rng.random(PROBLEMS) < 0.5)
    rl[shrink] = 0.0
    return base, rl


def write_run(root: Path, model: str, problems: list[Problem], rates: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    identity = {"model": model, "tasks": list(TASKS), "backend": "replay", "seed": seed,
                "sampling": {"temperature": 1.0, "top_p": 1.0, "max_tokens": 512}}  # fmt: skip
    store, _ = RunStore.create_or_resume(root, identity, {"n": N}, problems, force=True)
    lengths = np.minimum(rng.geometric(1 / 8, size=(PROBLEMS, N)), 300)  # words of reasoning
    passed = rng.random((PROBLEMS, N)) < rates[:, None]
    status_draw = rng.random((PROBLEMS, N))
    for lo in range(0, PROBLEMS, CHUNK):
        completions: list[Completion] = []
        verdicts: list[tuple[str, int, Verdict]] = []
        for i in range(lo, min(lo + CHUNK, PROBLEMS)):
            p = problems[i]
            for j in range(N):
                ok = bool(passed[i, j])
                answer = p.reference if ok else str(int(p.reference) + 1 + j % 7)
                text = "step " * int(lengths[i, j]) + f"so the answer is {answer}"
                if j % 257 == 3:
                    text = HOSTILE[j % len(HOSTILE)] + text
                truncated = lengths[i, j] >= 300
                u = status_draw[i, j]
                status = "ok" if ok or u > 0.01 else ("empty" if u < 0.003 else "timeout" if u < 0.005 else "error")
                finish = "length" if truncated else "stop"
                completions.append(Completion(p.id, j, text, int(lengths[i, j]) + 6, finish, seed * N * N + i * N + j))
                # the detail as the final-answer verifier records it: the rule and the answer it read
                verdicts.append((p.id, j, Verdict(ok, float(ok), status, f"answer is: {answer}")))
        store.append_completions(completions)
        store.append_verdicts(verdicts)
    store.unlock()


def write_training_logs(ckpt: Path, rng: np.random.Generator) -> None:
    ckpt.mkdir(parents=True, exist_ok=True)
    with (ckpt / "train_log.jsonl").open("w") as fh:
        for s in range(1000):
            row = {"step": s, "reward_mean": float(0.3 + 0.3 * s / 1000 + 0.1 * rng.standard_normal()),
                   "kl": 1e-4 * s, "loss": float(rng.standard_normal() * 0.01)}  # fmt: skip
            fh.write(json.dumps(row) + "\n")
    with (ckpt / "eval_log.jsonl").open("w") as fh:
        for s in range(0, 1000, 50):
            fh.write(json.dumps({"step": s, "eval_problems": 64, "eval_n": 64, "pass@1": 0.3 + s / 4000,
                                 "pass@64": 0.7 + s / 10_000}) + "\n")  # fmt: skip


def build(work: Path) -> tuple[Path, Path]:
    base_dir, rl_dir = work / "runs" / "base", work / "runs" / "rl"
    if (base_dir / "manifest.json").is_file() and (rl_dir / "manifest.json").is_file():
        print(f"reusing runs in {work}")
        return base_dir, rl_dir
    rng = np.random.default_rng(0)
    problems = make_problems()
    base_rates, rl_rates = success_rates(rng)
    ckpt = work / "checkpoints" / "rl"
    write_training_logs(ckpt, rng)
    t0 = time.perf_counter()
    write_run(base_dir, str(work / "checkpoints" / "base"), problems, base_rates, seed=1)
    write_run(rl_dir, str(ckpt), problems, rl_rates, seed=2)
    print(f"built 2 runs x {PROBLEMS:,} problems x {N:,} samples in {time.perf_counter() - t0:.1f}s (not timed)")
    return base_dir, rl_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="keep the runs here (reused when present)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="evalkit-bench-report-"))
    try:
        base_dir, rl_dir = build(work)
        store_mb = sum(f.stat().st_size for f in (work / "runs").rglob("*") if f.is_file()) / 1e6
        load = os.getloadavg()  # the machine may be shared: say how busy it was
        cpu0 = time.process_time()  # CPU time is less sensitive than wall time to other processes
        t0 = time.perf_counter()
        base = load_run(base_dir)
        t1 = time.perf_counter()
        rl = load_run(rl_dir)
        t2 = time.perf_counter()
        summary = compare_runs(base, rl, title="bench: 2 runs x 1,000 problems x 1,024 samples")
        t3 = time.perf_counter()
        html = write_report(summary, work / "report" / "report.html")
        t4 = time.perf_counter()
        cpu = time.process_time() - cpu0
        total = t4 - t0
        size = html.stat().st_size
        json_size = html.with_suffix(".json").stat().st_size
        cls = summary["overall"]["classes"]
        print(
            f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, python "
            f"{platform.python_version()}; load average before/after: {load[0]:.1f}/{os.getloadavg()[0]:.1f}"
        )
        print(f"run stores: {store_mb:,.0f} MB on disk; classes {cls}")
        print(
            f"load_run base {t1 - t0:.1f}s, load_run rl {t2 - t1:.1f}s, compare_runs {t3 - t2:.1f}s, "
            f"write_report {t4 - t3:.1f}s; total {total:.1f}s wall, {cpu:.1f}s CPU (goal < {GOAL_S:.0f}s: "
            f"{'met' if total < GOAL_S else 'MISSED'})"
        )
        print(
            f"report.html {size / 1e6:.2f} MB (goal < {GOAL_BYTES / 1e6:.0f} MB: "
            f"{'met' if size < GOAL_BYTES else 'MISSED'}), report.json {json_size / 1e6:.2f} MB, "
            f"{html.read_text(encoding='utf-8').count('<svg')} inline SVG plots"
        )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
