"""What a run says, read back from its store: per-problem counts, pass@k per task, status rates.

Only the store is read (never live objects), so a summary can be rebuilt from a run directory alone.
A completion without a verdict is not counted; :func:`load_run` says how many there are.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.stats import bootstrap_ci, pass_at_k, powers_of_two
from evalkit.store import RunStore
from evalkit.types import STATUSES, Problem


@dataclass
class RunResults:
    """Per-problem outcomes of one run.

    Attributes:
        passed: For each problem id, the verdicts' ``passed`` in sample_idx order.
        example: For each problem id, one correct completion (the lowest sample_idx), if any.
        unverified: Completions stored without a verdict (not counted anywhere).
        rates: Fraction of verified completions per status, plus "truncated" from finish reasons.
    """

    root: Path
    manifest: dict[str, Any]
    problems: list[Problem]
    passed: dict[str, np.ndarray]
    example: dict[str, str]
    unverified: int
    rates: dict[str, float] = field(default_factory=dict)

    def n(self, pid: str) -> int:
        return int(self.passed[pid].size) if pid in self.passed else 0

    def c(self, pid: str, upto: int | None = None) -> int:
        arr = self.passed.get(pid, np.zeros(0, dtype=bool))
        return int(arr[:upto].sum()) if upto is not None else int(arr.sum())

    def label(self) -> str:
        return str(self.manifest.get("identity", {}).get("model", self.root))


_NO_VERDICT = 255
_PASS_BIT = 0x80  # a verdict's code: its status's index in STATUSES, plus this bit when it passed


def load_run(root: Path) -> RunResults:
    """Read a run directory into per-problem arrays.

    Memory stays proportional to the number of problems times n in bytes (one byte per sample for its
    verdict, one flag for the stored completion), not to Python objects per completion: reading a run of
    500 problems x 1024 samples holds about 1 MiB of outcomes.
    """
    store = RunStore.open(root)
    manifest = store.manifest()
    problems = store.problems()
    codes: dict[str, bytearray] = {}
    for pid, idx, verdict in store.iter_verdicts():
        code = STATUSES.index(verdict.status) | (_PASS_BIT if verdict.passed else 0)
        _grow(codes, pid, idx, _NO_VERDICT)[idx] = code
    stored: dict[str, bytearray] = {}
    example: dict[str, tuple[int, str]] = {}
    unverified = 0
    truncated = 0
    for comp in store.iter_completions():
        pid, idx = comp.problem_id, comp.sample_idx
        pid_codes = codes.get(pid)
        code = pid_codes[idx] if pid_codes is not None and idx < len(pid_codes) else _NO_VERDICT
        if code == _NO_VERDICT:
            unverified += 1
            continue
        _grow(stored, pid, idx, 0)[idx] = 1
        truncated += comp.finish_reason == "length"
        if code & _PASS_BIT and (pid not in example or idx < example[pid][0]):
            example[pid] = (idx, comp.text)
    passed: dict[str, np.ndarray] = {}
    status_counts = np.zeros(len(STATUSES), dtype=np.int64)
    for pid, flags in stored.items():
        indices = np.flatnonzero(np.frombuffer(bytes(flags), dtype=np.uint8))
        outcome = np.frombuffer(bytes(codes[pid]), dtype=np.uint8)[indices]
        passed[pid] = (outcome & _PASS_BIT) != 0
        status_counts += np.bincount(outcome & (_PASS_BIT - 1), minlength=len(STATUSES))[: len(STATUSES)]
    total = sum(a.size for a in passed.values())
    counts = dict(zip(STATUSES, (int(x) for x in status_counts), strict=True))
    rates = {s: (counts[s] / total if total else 0.0) for s in ("empty", "timeout", "error")}
    rates["truncated"] = truncated / total if total else 0.0
    return RunResults(
        Path(root), manifest, problems, passed, {k: v for k, (_, v) in example.items()}, unverified, rates
    )


def _grow(table: dict[str, bytearray], pid: str, idx: int, fill: int) -> bytearray:
    """``table[pid]``, created or extended (with ``fill``) so that ``idx`` is a valid index."""
    row = table.get(pid)
    if row is None:
        row = table[pid] = bytearray([fill]) * max(idx + 1, 1024)
    elif idx >= len(row):
        row.extend(bytearray([fill]) * max(idx + 1 - len(row), len(row)))
    return row


def _bucket(problem: Problem) -> str | None:
    bucket = problem.meta.get("bucket") if isinstance(problem.meta, dict) else None
    return str(bucket) if bucket is not None else None


def task_table(
    results: RunResults, problems: list[Problem], ks: list[int], upto: int | None = None
) -> dict[str, float | None]:
    """Mean pass@k over ``problems`` for each k (None where some problem has fewer than k samples)."""
    if not problems:
        raise EvalkitError(f"{results.root}: no problems selected")
    n = np.array([min(results.n(p.id), upto) if upto else results.n(p.id) for p in problems])
    c = np.array([results.c(p.id, upto) for p in problems])
    table: dict[str, float | None] = {}
    for k in ks:
        if n.min() < max(k, 1):
            table[str(k)] = None
        else:
            table[str(k)] = float(np.mean(pass_at_k(n, c, k)))
    return table


def _task_intervals(
    results: RunResults, problems: list[Problem], ks: list[int], confidence: float
) -> dict[str, list[float] | None]:
    """Bootstrap interval over problems of mean pass@k, per k (None with fewer than two problems)."""
    if len(problems) < 2:
        return {str(k): None for k in ks}
    n = np.array([results.n(p.id) for p in problems])
    c = np.array([results.c(p.id) for p in problems])
    table = pass_at_k(n[:, None], c[:, None], np.array(ks)[None, :])
    _est, low, high = bootstrap_ci(table, confidence=confidence, seed=0)
    low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
    return {str(k): [float(lo), float(hi)] for k, lo, hi in zip(ks, low, high, strict=True)}


def summarize(results: RunResults, confidence: float = 0.95) -> dict[str, Any]:
    """The JSON of ``evalkit summary``: pass@k per task and k with bootstrap intervals over problems, and
    per-problem (n, c)."""
    by_task: dict[str, list[Problem]] = defaultdict(list)
    for p in results.problems:
        by_task[p.task].append(p)
    tasks = {}
    for task, probs in sorted(by_task.items()):
        ns = [results.n(p.id) for p in probs]
        if min(ns) == 0:
            missing = sum(1 for x in ns if x == 0)
            raise EvalkitError(
                f"{results.root}: {missing} problem(s) of task {task} have no verified samples; "
                "rerun the same `evalkit sample` command to finish, or `evalkit score`"
            )
        ks = powers_of_two(min(ns))
        tasks[task] = {
            "n_problems": len(probs),
            "n_min": min(ns),
            "n_max": max(ns),
            "pass_at_k": task_table(results, probs, ks),
            "pass_at_k_ci": _task_intervals(results, probs, ks, confidence),
            "confidence": confidence,
        }
    return {
        "run": str(results.root),
        "model": results.label(),
        "fingerprint": results.manifest.get("fingerprint"),
        "unverified": results.unverified,
        "rates": results.rates,
        "tasks": tasks,
        "problems": [
            {"problem_id": p.id, "task": p.task, "n": results.n(p.id), "c": results.c(p.id)} for p in results.problems
        ],
    }
