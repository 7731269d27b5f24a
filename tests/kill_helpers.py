"""kill -9 at random moments during ``evalkit sample``, shared by the tests of every backend.

Each round starts the command in its own process group, waits until the run's committed shards hold more
samples than a random threshold (so that the kill lands while samples are being produced, whatever the
machine's speed), waits a further random fraction of a second (so that some kills land in the middle of
writing a shard) and then sends SIGKILL to the whole group. After every kill the run must hold no sample
twice and must keep every sample it held before the round. ``finish_and_check`` then reruns the command to
the end and checks the final run; callers add their backend's own checks.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from evalkit.store import RunStore


def committed_samples(run: Path) -> int:
    """Records in the run's committed completion shards (JSON lines, or Parquet rows from the footer), read
    without touching them (a writer may be live)."""
    import pyarrow.parquet as pq

    folder = run / "completions"
    if not folder.is_dir():
        return 0
    total = 0
    for shard in folder.glob("[0-9]*.*"):
        try:
            if shard.suffix == ".parquet":
                total += pq.ParquetFile(shard).metadata.num_rows
            elif shard.suffix == ".jsonl":
                total += shard.read_bytes().count(b"\n")
        except FileNotFoundError:  # renamed away between glob and read
            continue
    return total


def coverage(run: Path) -> Counter[tuple[str, int]]:
    return Counter((c.problem_id, c.sample_idx) for c in RunStore.open(run).iter_completions())


def live_group_members(pgid: int, wait_s: float = 10.0) -> list[int]:
    """Processes still in the group (spawned workers included) after a short grace period."""
    deadline = time.monotonic() + wait_s
    while True:
        alive = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                alive.append(int(entry.name))
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def kill_at_random_points(
    args: Sequence[str],
    run: Path,
    expected: int,
    points: int,
    rng: random.Random,
    max_extra_s: float = 0.5,
    start_timeout_s: float = 300.0,
) -> list[int]:
    """Run ``evalkit ARGS`` ``points`` times, killing it with SIGKILL each time; returns the samples stored
    after each kill.

    Args:
        args: Arguments after ``evalkit``.
        run: The run directory the command writes.
        expected: Samples the finished run holds (problems x n).
        points: Number of kills.
        rng: Source of the thresholds and delays.
        max_extra_s: Upper bound of the random delay after the threshold is reached.
        start_timeout_s: How long a round may take to reach its threshold (engine start included).
    """
    stored_after: list[int] = []
    for point in range(points):
        before = len(coverage(run)) if (run / "manifest.json").exists() else 0
        share = max(1, (expected - before) // (points - point + 1))  # leave work for the later rounds
        # once every sample is stored, the kill lands in start-up or verification
        threshold = min(before + rng.randint(1, share), expected)
        proc = subprocess.Popen(
            [sys.executable, "-m", "evalkit", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + start_timeout_s
        while proc.poll() is None and committed_samples(run) < threshold and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, max_extra_s))
        assert proc.poll() is None, f"kill {point + 1}: the run ended (exit {proc.returncode}) before the kill"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not live_group_members(proc.pid), f"kill {point + 1}: a process of the run outlived the kill"
        cov = coverage(run)
        assert max(cov.values(), default=1) == 1, f"kill {point + 1}: a sample is stored twice"
        assert len(cov) >= before, f"kill {point + 1}: samples stored before this round were lost"
        stored_after.append(len(cov))
    return stored_after


def finish_and_check(args: Sequence[str], run: Path, problems: int, n: int) -> subprocess.CompletedProcess[str]:
    """Rerun ``evalkit ARGS`` to the end after the kills and check the run: every problem holds exactly ``n``
    samples, none twice, the summary says so, and no temporary shard is left. Returns the rerun's result."""
    final = subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-3000:]
    cov = coverage(run)
    assert len(cov) == problems * n and set(cov.values()) == {1}
    summary = subprocess.run(
        [sys.executable, "-m", "evalkit", "summary", str(run), "--json"], capture_output=True, text=True, timeout=300
    )
    assert {p["n"] for p in json.loads(summary.stdout)["problems"]} == {n}
    assert not list(run.glob("*/.tmp-*"))
    return final
