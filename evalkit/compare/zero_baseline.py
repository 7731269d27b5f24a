"""Zero-baseline suites (after MATH-Beyond, arXiv 2510.11653): the problems a base model never solved at its n,
written as a task folder, and the expansion rate of a trained model on them.

:func:`build_suite` reads a base run and writes ``DIR/zero_baseline_<task>.jsonl`` (``--tasks-dir`` format: answer files
with ``problem_id``, ``prompt``, ``answer``; code files with ``tests`` and ``entry_point``) holding every
problem of the run whose n samples all failed, plus ``DIR/zero_baseline.json`` describing the suite: the base
model and run, n, and the bound on the base's per-sample rate on these problems. The bound is family-wise
over every problem of the base run (Bonferroni over all N compared problems, not over the count the data
chose): with probability at least ``confidence``, every problem of the suite has a base rate below
``1 - ((1 - confidence) / N)^(1/n)`` (Clopper-Pearson for 0 of n). It is a bound, not a zero: a base may still
solve a suite problem at larger k.

Each suite row keeps the source problem's id (``problem_id``) and carries a ``zero_baseline`` field (kept in
``Problem.meta["extra"]`` when loaded), so :func:`expansion_rates` can recognise a suite run. The expansion
rate at k is the mean pass@k of a model over the suite's problems (MATH-Beyond's "expansion rate" at that
k), with a bootstrap interval over problems (:func:`evalkit.stats.pass_at_k_ci`).

The suite's problems are verified by the task-folder verifiers (answers: extraction and math equivalence;
code: the sandbox with the problem's tests), which are the built-in math and code tasks' verifiers too; tasks
whose verifier needs more than a reference answer (``rg:*`` scorers, HumanEval's prompt-aware tests) are
refused, naming them.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.compare.results import RunResults
from evalkit.errors import EvalkitError
from evalkit.stats import pass_at_k_ci, powers_of_two
from evalkit.store.atomic import write_atomic

SUITE_FILE = "zero_baseline.json"
_UNSUPPORTED = ("rg:", "humaneval")


def _file_stem(task: str) -> str:
    """The suite task's name (its file stem): ``zero_baseline_<task>``, which no built-in task takes."""
    return "zero_baseline_" + (re.sub(r"[^A-Za-z0-9_.-]+", "_", task).strip("_") or "task")


def _row(problem: Any, extra: dict[str, Any]) -> dict[str, Any]:
    meta = problem.meta if isinstance(problem.meta, dict) else {}
    if "tests" in meta and "entry_point" in meta:
        row = {"problem_id": problem.id, "prompt": problem.prompt, "tests": meta["tests"]}
        row["entry_point"] = meta["entry_point"]
        if problem.reference:
            row["solution"] = problem.reference
    else:
        if not str(problem.reference).strip():
            raise EvalkitError(f"problem {problem.id}: no reference answer to write into a zero-baseline suite")
        row = {"problem_id": problem.id, "prompt": problem.prompt, "answer": problem.reference}
    row["zero_baseline"] = extra
    return row


def build_suite(results: RunResults, out: Path, confidence: float = 0.95) -> dict[str, Any]:
    """Write the zero-baseline suite of a base run into ``out``; returns the suite's description.

    Raises:
        EvalkitError: a task whose verifier needs more than a reference answer, a problem without a reference,
            a base that solved every problem at least once (an empty suite), or problems with unequal n.
    """
    unsupported = sorted({p.task for p in results.problems if p.task.startswith(_UNSUPPORTED)})
    if unsupported:
        raise EvalkitError(
            f"{results.root}: tasks {', '.join(unsupported)} need their own verifier (a scorer or prompt-aware "
            "tests); a zero-baseline suite holds answer and code problems only"
        )
    ns = {results.n(p.id) for p in results.problems}
    if len(ns) != 1 or 0 in ns:
        raise EvalkitError(
            f"{results.root}: problems have different numbers of verified samples ({sorted(ns)[:5]}...); "
            "finish the run (rerun `evalkit sample`) so that every problem has n"
        )
    n = ns.pop()
    total = len(results.problems)
    alpha = 1.0 - confidence
    bound = float(1.0 - (alpha / total) ** (1.0 / n))
    never = [p for p in results.problems if results.c(p.id) == 0]
    if not never:
        raise EvalkitError(f"{results.root}: the base solved every problem at least once in {n} samples: no suite")
    identity = results.manifest.get("identity", {})
    extra = {
        "base_model": identity.get("model"),
        "base_model_hash": identity.get("model_hash"),
        "base_run": str(results.root),
        "n": n,
        "rate_below": bound,
        "confidence": confidence,
        "family": f"Bonferroni over all {total} problems of the base run",
    }
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in never:
        by_task[_file_stem(p.task)].append(_row(p, extra))
    out.mkdir(parents=True, exist_ok=True)
    for stem, rows in sorted(by_task.items()):
        write_atomic(out / f"{stem}.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    description = {**extra, "problems": len(never), "of": total, "tasks": {k: len(v) for k, v in by_task.items()}}
    write_atomic(out / SUITE_FILE, json.dumps(description, indent=1) + "\n")
    return description


def _suite_info(problem: Any) -> dict[str, Any] | None:
    meta = problem.meta if isinstance(problem.meta, dict) else {}
    extra = meta.get("extra")
    info = extra.get("zero_baseline") if isinstance(extra, dict) else None
    return info if isinstance(info, dict) else None


def expansion_rates(runs: dict[str, RunResults], confidence: float = 0.95) -> dict[str, Any] | None:
    """The expansion rate (mean pass@k over the suite's problems) of each run at each k up to the smallest n,
    for runs sampled on a zero-baseline suite; None when the runs hold no suite problem.

    Args:
        runs: Label -> run (``{"base": ..., "rl": ...}``).
        confidence: Nominal coverage of the intervals.
    """
    first = next(iter(runs.values()))
    if any(r.rule is not None for r in runs.values()):  # counts at n: not what an --adaptive run drew
        return None
    suite = [p for p in first.problems if _suite_info(p) is not None]
    if not suite:
        return None
    ids = [p.id for p in suite if all(r.n(p.id) > 0 for r in runs.values())]
    if not ids:
        return None
    n = min(r.n(pid) for r in runs.values() for pid in ids)
    info = _suite_info(suite[0]) or {}
    rates: dict[str, dict[str, list[float]]] = {}
    for label, run in runs.items():
        sizes = np.full(len(ids), n)
        counts = np.array([run.c(pid, n) for pid in ids])
        rates[label] = {}
        for k in powers_of_two(n):
            est, low, high = pass_at_k_ci(sizes, counts, k, confidence=confidence)
            rates[label][str(k)] = [est, max(0.0, low), min(1.0, high)]
    return {
        "problems": len(ids),
        "n": n,
        "built_from": {key: info.get(key) for key in ("base_model", "base_run", "n", "rate_below", "family")},
        "expansion_rate": rates,
        "confidence": confidence,
        "method": "mean pass@k over the suite's problems, studentized bootstrap over problems",
    }
