"""Benchmark: run store format 1 (JSON lines) vs format 2 (Parquet): size on disk, write time, summary time and
peak memory of ``evalkit summary``.

Synthetic runs of N samples (1,024 per problem), written through :meth:`evalkit.store.RunStore.append_completions`
and ``append_verdicts`` in shards of 8,192 samples (8 problems), as a sampling run writes them. Each text is a
4,096-byte slice at a random offset of a 64 MiB pool of words drawn from a Zipf(1.1) distribution over a
16,384-word vocabulary (word lengths 1-10), so texts differ and compress about as model output does; text
generation is outside the write timer. The summary is the real command, ``python -m evalkit summary RUN``, in a
child process: wall time and the child's peak RSS (``ru_maxrss``).

Disk: a run is deleted as soon as it is measured, and a run whose estimated size (from the bytes per sample of
the first measured run of its format) would pass ``--max-gb`` or the free space less 5 GB is written with texts
cut to fit, which the output says (summary reads no text, so its time is comparable).

Run with ``nox -s bench`` or ``python tests/bench/bench_store.py [--sizes 1000000 10000000] [--v1-max 1000000]``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from evalkit.store import RunStore
from evalkit.types import Completion, Problem, Verdict

PER_PROBLEM = 1024
SHARD = 8192
POOL_BYTES = 64 << 20


def word_pool(seed: int = 0) -> str:
    """About 64 MiB of space-separated words, Zipf(1.1)-distributed over a 16,384-word vocabulary."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    vocab = np.array(["".join(rng.choice(letters, size=rng.integers(1, 11))) for _ in range(16384)])
    weights = 1.0 / np.arange(1, vocab.size + 1) ** 1.1
    parts, size = [], 0
    while size < POOL_BYTES:  # a million words at a time: a list of every word would take about 1 GB
        part = " ".join(vocab[rng.choice(vocab.size, size=1 << 20, p=weights / weights.sum())].tolist()) + " "
        parts.append(part)
        size += len(part)
    return "".join(parts)[:POOL_BYTES]


def write_run(root: Path, store_format: int, samples: int, text_bytes: int, pool: str) -> float:
    """Write a synthetic run; returns the seconds spent in the store's append calls."""
    problems = [Problem(f"p{i:06d}", "bench", f"q{i}", "42", {}) for i in range(samples // PER_PROBLEM)]
    store, _ = RunStore.create_or_resume(
        root, {"model": "bench", "samples": samples}, {"n": PER_PROBLEM}, problems, store_format=store_format
    )
    rng = np.random.default_rng(1)
    rate = rng.beta(0.5, 0.5, size=len(problems))
    spent = 0.0
    for start in range(0, len(problems) * PER_PROBLEM, SHARD):
        pos = np.arange(start, min(start + SHARD, len(problems) * PER_PROBLEM))
        offsets = rng.integers(0, len(pool) - text_bytes, size=pos.size)
        passed = rng.random(pos.size) < rate[pos // PER_PROBLEM]
        length = rng.random(pos.size) < 0.05
        comps = [
            Completion(
                problems[p // PER_PROBLEM].id,
                int(p % PER_PROBLEM),
                pool[o : o + text_bytes],
                text_bytes // 4,
                "length" if cut else "stop",
                int(p),
            )
            for p, o, cut in zip(pos.tolist(), offsets.tolist(), length.tolist(), strict=True)
        ]
        verdicts = [
            (c.problem_id, c.sample_idx, Verdict(ok, float(ok), "truncated" if cut else "ok", f"boxed[last]: {ok}"))
            for c, ok, cut in zip(comps, passed.tolist(), length.tolist(), strict=True)
        ]
        t0 = time.perf_counter()
        store.append_completions(comps)
        store.append_verdicts(verdicts)
        spent += time.perf_counter() - t0
    store.unlock()
    return spent


def disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def summary(root: Path) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of ``python -m evalkit summary ROOT`` in a child process."""
    code = (
        "import resource, subprocess, sys; "
        "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)"
    )
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, sys.executable, "-m", "evalkit", "summary", str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - t0, int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--v1-max", type=int, default=1_000_000, help="largest size measured in format 1")
    parser.add_argument("--text-bytes", type=int, default=4096)
    parser.add_argument("--max-gb", type=float, default=18.0, help="largest run written at once")
    parser.add_argument("--dir", type=Path, default=None, help="where the runs are written (default: a temp dir)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.dir))
    print(f"# {_dt.date.today()} {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"# runs under {base}; {PER_PROBLEM} samples per problem, shards of {SHARD} samples")
    print(
        f"{'format':>6} {'samples':>10} {'text B':>6} {'disk MB':>9} {'B/sample':>8} {'write s':>8} "
        f"{'summary s':>9} {'peak RSS MB':>11}"
    )
    per_sample: dict[int, float] = {}
    pool = word_pool()
    try:
        for samples in args.sizes:
            for fmt in (1, 2):
                if fmt == 1 and samples > args.v1_max:
                    continue
                text_bytes = args.text_bytes
                budget = min(args.max_gb * 1e9, shutil.disk_usage(base).free - 5e9)
                if fmt in per_sample and per_sample[fmt] * samples > budget:
                    scale = budget / (per_sample[fmt] * samples)
                    text_bytes = max(64, int(args.text_bytes * scale * 0.9))
                root = base / f"v{fmt}-{samples}"
                write_s = write_run(root, fmt, samples, text_bytes, pool)
                size = disk_bytes(root)
                if text_bytes == args.text_bytes:
                    per_sample.setdefault(fmt, size / (samples // PER_PROBLEM * PER_PROBLEM))
                secs, rss = summary(root)
                held = samples // PER_PROBLEM * PER_PROBLEM  # whole problems: 1,000,000 -> 976 x 1,024
                print(
                    f"{fmt:>6} {held:>10,} {text_bytes:>6} {size / 1e6:>9,.0f} {size / held:>8,.0f} "
                    f"{write_s:>8.1f} {secs:>9.1f} {rss:>11,.0f}",
                    flush=True,
                )
                shutil.rmtree(root)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
