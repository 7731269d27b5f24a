"""Verification of stored completions: dedup, worker processes with hard timeouts, verdict shards.

The verifier of a completion is its task family's ``verify(problem, text)``. It runs in worker
processes (:mod:`evalkit.pool`) so that a hang is killed from outside (verdict ``timeout``) and a crash
becomes verdict ``error``; neither ever counts as passed. Identical (problem, text, finish reason)
triples are verified once. Verdicts are appended in blocks, so a kill loses at most one block.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

from evalkit.errors import EvalkitError
from evalkit.pool import run_pool
from evalkit.store import RunStore
from evalkit.tasks import TaskFamily, family_class_for
from evalkit.types import STATUSES, Problem, Verdict

VERIFY_CHARS = 100_000  # completions longer than this are cut before they reach a verifier
BLOCK = 20_000  # unique items verified (and their verdicts persisted) per block

# (task family class, problem, text, finish_reason); the class pickles by reference, so a worker imports
# the module that defines it (built-in or user task) and needs no registry lookup.
Item = tuple[type[TaskFamily], Problem, str, str]


def verify_one(item: Item) -> Verdict:
    """Verify one completion in the current process (the pool calls this in its workers)."""
    family, problem, text, finish_reason = item
    verdict = family().verify(problem, text[:VERIFY_CHARS])
    if not isinstance(verdict, Verdict):
        raise TypeError(f"verifier of task {problem.task!r} returned {type(verdict).__name__}, not Verdict")
    if not (isinstance(verdict.score, float | int) and math.isfinite(verdict.score) and 0 <= verdict.score <= 1):
        raise ValueError(
            f"verifier of task {problem.task!r} returned score {verdict.score!r}; need a finite value in [0, 1]"
        )
    if verdict.status not in STATUSES:
        raise ValueError(f"verifier of task {problem.task!r} returned unknown status {verdict.status!r}")
    if verdict.passed and verdict.status != "ok":
        verdict = Verdict(False, verdict.score, verdict.status, verdict.detail)
    if not verdict.passed and verdict.status == "ok" and finish_reason == "length":
        verdict = Verdict(False, verdict.score, "truncated", verdict.detail)
    return verdict


def _verify_preloaded(families: tuple[type[TaskFamily], ...], item: Item) -> Verdict:
    """:func:`verify_one`, bound to the family classes of the run (see :func:`verify_items`)."""
    return verify_one(item)


def _timeout_verdict(item: Item) -> Verdict:
    return Verdict(False, 0.0, "timeout", "verifier exceeded its time limit and was killed")


def _error_verdict(item: Item, message: str) -> Verdict:
    return Verdict(False, 0.0, "error", message[:300])


def verify_items(
    items: Sequence[tuple[Problem, str, str]],
    workers: int | None = None,
    timeout_s: float = 10.0,
    progress: Callable[[int], None] | None = None,
) -> list[Verdict]:
    """Verify (problem, text, finish_reason) items, deduplicated, in worker processes; results in input order."""
    families: dict[str, type[TaskFamily]] = {}
    for problem, _, _ in items:
        if problem.task not in families:
            families[problem.task] = family_class_for(problem)
    unique: dict[tuple[str, str, str], int] = {}
    order: list[int] = []
    reps: list[Item] = []
    for problem, text, finish in items:
        key = (problem.id, text, finish)
        if key not in unique:
            unique[key] = len(reps)
            reps.append((families[problem.task], problem, text, finish))
        order.append(unique[key])
    # The family classes travel with the worker function, so each worker imports their modules (math-verify,
    # reasoning-gym...) while it starts, not inside the time budget of its first item.
    preloaded = functools.partial(_verify_preloaded, tuple(sorted(set(families.values()), key=repr)))
    verdicts = run_pool(
        preloaded,
        reps,
        workers=workers,
        timeout_s=timeout_s,
        on_timeout=_timeout_verdict,
        on_crash=_error_verdict,
        progress=progress,
    )
    return [verdicts[i] for i in order]


def verify_run(
    store: RunStore,
    rescore: bool = False,
    workers: int | None = None,
    timeout_s: float = 10.0,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Verify every completion of a run that has no verdict yet (all of them with ``rescore``).

    Returns:
        The number of completions verified.
    """
    problems = {p.id: p for p in store.problems()}
    if rescore:
        store.clear_verdicts()
    done = set(store.verdicts())
    todo = [c for c in store.iter_completions() if (c.problem_id, c.sample_idx) not in done]
    for c in todo:
        if c.problem_id not in problems:
            raise EvalkitError(f"{store.root}: completion for unknown problem {c.problem_id!r}")
    finished = 0
    for start in range(0, len(todo), BLOCK):
        block = todo[start : start + BLOCK]
        items = [(problems[c.problem_id], c.text, c.finish_reason) for c in block]
        verdicts = verify_items(items, workers, timeout_s)
        store.append_verdicts((c.problem_id, c.sample_idx, v) for c, v in zip(block, verdicts, strict=True))
        finished += len(block)
        if progress is not None:
            progress(finished, len(todo))
    return finished
