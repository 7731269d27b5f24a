"""Benchmark: peak memory of ``evalkit sample`` does not grow with the number of completions.

Samples 50 and then 500 problems x n=1024 (51,200 and 512,000 completions) from a tiny model trained
here for about 20 s, through the real command line (``python -m evalkit sample``, hf backend, CPU),
verification included. For each run it reports wall time, the peak RSS of the evalkit process
(``ru_maxrss`` of the largest finished child) and the peak summed RSS of the whole process group
(verifier workers included), polled every 0.1 s. The claim is the ratio of the two peaks: close to 1.
Samples and verdicts stream to the run's shards; nothing holds all completions in memory.

``--import`` measures ``evalkit import`` of a samples file of the same size instead (the replay backend
streams the file: it is checked in one pass and served in another).

Run with ``nox -s bench`` or ``python tests/bench/bench_memory.py [--import] [--backend-args ...]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evalkit.tasks import TaskSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the shared tiny model
from tiny_helpers import TINY_TASK, train_tiny

TASK = TINY_TASK


def group_rss_bytes(pgid: int) -> int:
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += int((entry / "statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total


def measure(cmd: list[str]) -> tuple[float, float, float]:
    """Run ``cmd`` in its own process group; returns (seconds, peak group RSS MiB, peak process RSS MiB)."""
    code = (
        "import resource, subprocess, sys; "
        "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)"
    )
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *cmd], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    peak = 0
    while proc.poll() is None:
        peak = max(peak, group_rss_bytes(proc.pid))
        time.sleep(0.1)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit {proc.returncode}")
    return time.perf_counter() - t0, peak / 2**20, int(out.strip().splitlines()[-1]) / 1024


def write_samples(path: Path, size: int) -> Path:
    """A samples file of ``size`` problems x 1024 completions (~60 characters each) for ``evalkit import``."""
    import json
    import random

    from evalkit.tasks import make_problems

    rng = random.Random(size)
    with path.open("w") as fh:
        for problem in make_problems(TaskSpec.parse(TASK), 0, size):
            for _ in range(1024):
                answer = problem.reference if rng.random() < 0.4 else str(rng.randrange(200))
                text = f"adding the digits one by one, carrying as needed: {answer}"
                fh.write(json.dumps({"problem_id": problem.id, "completion": text}) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,500", help="problem counts to compare (n = 1024 each)")
    parser.add_argument("--import", dest="import_", action="store_true", help="measure `evalkit import` instead")
    parser.add_argument("--backend-args", nargs=argparse.REMAINDER, default=[], help="extra `evalkit sample` args")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"machine: {platform.machine()} cpus {os.cpu_count()} python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "tiny"
        train_tiny(ckpt, steps=150, max_positions=128)
        peaks = {}
        for size in sizes:
            run = Path(tmp) / f"run{size}"
            if args.import_:
                samples = write_samples(Path(tmp) / f"samples{size}.jsonl", size)
                cmd = [sys.executable, "-m", "evalkit", "import", str(samples), "--task", TASK]
                cmd += ["--limit", str(size), "--out", str(run)]
            else:
                cmd = [sys.executable, "-m", "evalkit", "sample", str(ckpt), "--task", TASK, "--n", "1024"]
                cmd += ["--limit", str(size), "--max-tokens", "6", "--out", str(run), *args.backend_args]
            seconds, group_mib, process_mib = measure(cmd)
            peaks[size] = (group_mib, process_mib)
            print(
                f"{size:4d} problems x 1024 = {size * 1024:7d} completions: {seconds:6.1f} s, "
                f"peak RSS evalkit process {process_mib:6.0f} MiB, whole group {group_mib:6.0f} MiB",
                flush=True,
            )
        small, large = min(sizes), max(sizes)
        print(
            f"ratio {large}/{small} problems: process {peaks[large][1] / peaks[small][1]:.2f}, "
            f"group {peaks[large][0] / peaks[small][0]:.2f} (flat memory: close to 1)"
        )


if __name__ == "__main__":
    main()
