"""Benchmark of ``evalkit compare`` on imported runs, with and without the validity section.

Workload: two runs made by ``evalkit import`` of the ``add`` task, 500 problems x 128 samples = 64,000
completions each. Completions are an answer line and a short reasoning text (a few words to ~200 words;
``add`` reads the first line); 5% of the RL run's end in a loop, 3% are empty. By default the lines carry
no finish reason (imported: finish reason unknown, so the loop check reads every text); with ``--finish``
each line has a finish reason and a token count (then only the texts cut at the limit are read). Building
the runs is not timed.

Timed: the ``evalkit compare BASE RL --out DIR`` command in a fresh process, as the user runs it (load both
runs, compare, the validity section, write the report); with ``--before SRC`` also the same command run
from the evalkit source folder SRC (e.g. ``git archive`` of an older commit unpacked there), which is what
compare cost before.

Run: ``python tests/bench/bench_validity.py [--workdir DIR] [--finish] [--before SRC]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from evalkit.compare.results import load_run
from evalkit.compare.summary import compare_runs
from evalkit.tasks import TaskSpec, make_problems
from evalkit.validity.threats import validity_section

PROBLEMS = 500
N = 128
VOCAB = 2000  # reasoning words: w0..w1999, Zipf-distributed (p_i proportional to 1/(i+1)) like prose
ZIPF = 1.0 / np.arange(1, VOCAB + 1) / np.sum(1.0 / np.arange(1, VOCAB + 1))


def write_samples(path: Path, rate: np.ndarray, seed: int, finish: bool, loops: float) -> None:
    rng = np.random.default_rng(seed)
    problems = make_problems(TaskSpec.parse("add"), 0, PROBLEMS)
    with path.open("w") as fh:
        for i, p in enumerate(problems):
            for j in range(N):
                length = int(min(rng.geometric(1 / 40), 200))
                reasoning = " ".join(f"w{w}" for w in rng.choice(VOCAB, size=length, p=ZIPF))
                answer = p.reference if rng.random() < rate[i] else str(int(p.reference) + 1)
                draw = rng.random()
                cut = False
                if draw < loops:
                    text, cut = f"{answer}\n{reasoning}" + " and again" * 80, True
                elif draw < loops + 0.03:
                    text = ""
                else:
                    text = f"{answer}\n{reasoning}"
                row: dict[str, object] = {"problem_id": p.id, "completion": text, "sample_idx": j}
                if finish:
                    row["finish_reason"] = "length" if cut else "stop"
                    row["n_tokens"] = 256 if cut else len(text.split()) + 1
                fh.write(json.dumps(row) + "\n")


def evalkit(*args: str, env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "evalkit", *args], check=True, capture_output=True, env=env)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--finish", action="store_true", help="lines carry finish reasons and token counts")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--before", type=Path, default=None, help="evalkit source folder to time as well")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_validity_"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base_rate = rng.beta(0.5, 1.5, size=PROBLEMS)
    rl_rate = np.clip(base_rate**0.7, 0, 1)
    tag = "finish" if args.finish else "unknown"
    said = "with finish reasons and token counts" if args.finish else "finish reasons unknown"
    runs = {}
    for label, rate, seed, loops in (("base", base_rate, 1, 0.0), ("rl", rl_rate, 2, 0.05)):
        run = work / f"{label}_{tag}"
        if not (run / "manifest.json").is_file():
            samples = work / f"{label}_{tag}.jsonl"
            write_samples(samples, rate, seed, args.finish, loops)
            print(f"importing {label}: {evalkit('import', str(samples), '--task', 'add', '--out', str(run)):.1f} s")
        runs[label] = run
    for _ in range(args.reps):  # in one process: the validity step apart from the rest of compare
        t0 = time.perf_counter()
        base, rl = load_run(runs["base"]), load_run(runs["rl"])
        t1 = time.perf_counter()
        summary = compare_runs(base, rl)
        t2 = time.perf_counter()
        section = validity_section(base, rl, summary)
        t3 = time.perf_counter()
        read = [section["threats"]["health"]["runs"][m]["texts_read"] for m in ("base", "rl")]
        print(f"in process ({said}): load {t1 - t0:.2f} s, compare_runs {t2 - t1:.2f} s, validity_section "
              f"{t3 - t2:.2f} s (texts read for the loop check: {read[0]:,} + {read[1]:,}; "
              f"{len(section['flagged'])} problems flagged)")  # fmt: skip
    todo: list[tuple[str, dict[str, str] | None]] = [("this checkout", None)]
    if args.before is not None:
        todo.insert(0, (f"code of {args.before}", {**os.environ, "PYTHONPATH": str(args.before.resolve())}))
    for name, env in todo:
        times = [evalkit("compare", str(runs["base"]), str(runs["rl"]), "--out", str(work / "cmp"), env=env)
                 for _ in range(args.reps)]  # fmt: skip
        print(f"compare {name} ({said}): " + ", ".join(f"{t:.2f}" for t in times) + " s")


if __name__ == "__main__":
    main()
