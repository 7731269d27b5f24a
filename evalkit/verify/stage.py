"""Verification of stored completions: dedup, worker processes with hard timeouts, verdict shards.

The verifier of a completion is its task family's ``verify(problem, text)``. It runs in worker
processes (:mod:`evalkit.verify.pool`, one per usable core by default) so that a hang is killed from outside
(verdict ``timeout``) and a crash becomes verdict ``error``; neither ever counts as passed. The workers are
confined (:mod:`evalkit.verify.confine`: namespaces, a minimal read-only root, a throw-away uid, rlimits, no
network, an audit hook that refuses answers that are code), because verifiers read model text and some
evaluate it; :class:`Verifier` keeps such workers across calls, for GRPO's reward.

One exception: families whose verifier runs model text only as a program in the code sandbox (HumanEval,
task-folder code files; :func:`evalkit.tasks.sandbox_only`) are verified in unconfined workers, and the
items are split by family. The sandbox is their confinement, and it needs the worker's rights to build
all of it: nested in a confined worker it would lose the throw-away uids (program and tests process would
share one, and the program could reach the harness's confirmation pipe through ``/proc``), the PID
namespace (a ``setsid`` daemon would outlive its item and forge a later one) and the minimal root.

Dedup: completions of one problem whose ``dedup_key(problem, text)`` are equal (the same extracted answer,
the same program; see :meth:`evalkit.tasks.TaskFamily.dedup_key`) are verified once and share the verdict.
The key is computed in this process on the text as the verifier sees it (cut at :data:`VERIFY_CHARS`),
scoped by problem id, tagged apart from the raw-text fallback (a key of None, or a ``dedup_key`` that
raised) and compared as a 128-bit BLAKE2 digest, so that the cache stays small whatever the texts.
The finish reason is not part of the key: a verdict depends on it only through the rules applied after
the verifier (:func:`with_finish_reason`: a pass whose ``requires`` the finish reason does not meet is
a miss, and a non-passing ``ok`` cut at max tokens is ``truncated``), which are applied to every
completion on its own; ``requires`` follows from the reading, which the key holds.

:func:`verify_run` streams a run's completions in blocks of :data:`BLOCK`: memory stays flat in the size
of the run, and a kill loses at most the block in flight. The dedup cache lives for one block.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence

from evalkit.errors import EvalkitError
from evalkit.store import KeySet, RunStore
from evalkit.tasks.registry import TaskFamily, family_class_for, sandbox_only
from evalkit.types import STATUSES, Completion, Problem, Verdict
from evalkit.verify import confine as confinement
from evalkit.verify.pool import _EXPECTED_LAYERS, WorkerPool, run_pool

VERIFY_CHARS = 100_000  # completions longer than this are cut before they reach a verifier
BLOCK = 20_000  # completions verified (and their verdicts persisted) per block

# (task family class, problem, text, finish_reason); the class pickles by reference, so a worker imports
# the module that defines it (built-in or user task) and needs no registry lookup.
Item = tuple[type[TaskFamily], Problem, str, str]
# What a worker verifies: an item without its finish reason, which is applied in the parent.
Job = tuple[type[TaskFamily], Problem, str]


def judge(job: Job) -> Verdict:
    """The checked verdict of the family's verifier for one text, before the finish reason is applied.

    In a confined worker, a verdict that does not say how it was reached (a program in the code sandbox
    says ``sandbox:...``) records the worker's layers (``confined:...``)."""
    family, problem, text = job
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
        verdict = dataclasses.replace(verdict, passed=False)
    if confinement.LAYERS is not None and not verdict.isolation.startswith("sandbox:"):
        verdict = dataclasses.replace(verdict, isolation="confined:" + ",".join(confinement.LAYERS))
    return verdict


def with_finish_reason(verdict: Verdict, finish_reason: str) -> Verdict:
    """The only ways a finish reason changes a verdict.

    A pass read by a rule that a cut-off text cannot use (``verdict.requires``: the last-number fallback
    needs a completion not cut at max tokens, an unclosed last box one known to have stopped) does not
    stand otherwise: it becomes a miss whose detail says why. Then a non-passing ``ok`` cut at max tokens
    is ``truncated``. An ``unknown`` finish reason (imported completions) is not ``stop``.
    """
    if verdict.passed and (
        (verdict.requires == "not length" and finish_reason == "length")
        or (verdict.requires == "stop" and finish_reason != "stop")
    ):
        why = "cut at max tokens" if finish_reason == "length" else "not known to have stopped"
        verdict = Verdict(False, 0.0, "ok", f"{verdict.detail} (not counted: the completion was {why})"[:300])
    if not verdict.passed and verdict.status == "ok" and finish_reason == "length":
        return dataclasses.replace(verdict, status="truncated")
    return verdict


def verify_one(item: Item) -> Verdict:
    """Verify one completion in the current process."""
    family, problem, text, finish_reason = item
    return with_finish_reason(judge((family, problem, text)), finish_reason)


def _judge_preloaded(families: tuple[type[TaskFamily], ...], job: Job) -> Verdict:
    """:func:`judge`, bound to the family classes of the run (see :func:`verify_items`)."""
    return judge(job)


def _timeout_verdict(job: Job) -> Verdict:
    return Verdict(False, 0.0, "timeout", "verifier exceeded its time limit and was killed")


def _error_verdict(job: Job, message: str) -> Verdict:
    return Verdict(False, 0.0, "error", message[:300])


def dedup_digest(family: TaskFamily, problem: Problem, text: str) -> bytes:
    """The cache key of a text (already cut at :data:`VERIFY_CHARS`): its family's dedup key, or the text.

    Problem id, key and a tag (dedup key or raw-text fallback) are hashed together with unambiguous
    lengths, so different problems, or a key and a text that happen to be equal strings, never meet.
    """
    try:
        key = family.dedup_key(problem, text)
    except Exception:  # a buggy key must not stop the run; the text is always a safe key
        key = None
    tag, value = ("k", key) if isinstance(key, str) else ("t", text)
    digest = hashlib.blake2b(digest_size=16)
    for part in (problem.id, tag, value):
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.digest()


def verify_items(
    items: Sequence[tuple[Problem, str, str]],
    workers: int | None = None,
    timeout_s: float = 10.0,
    progress: Callable[[int], None] | None = None,
    dedup: bool = True,
) -> list[Verdict]:
    """Verify (problem, text, finish_reason) items in worker processes; results in input order.

    Args:
        items: The completions to judge.
        workers: Verifier processes; default one per usable core.
        timeout_s: Hard wall-clock limit per verification; past it the verdict is ``timeout``.
        progress: Called with the number of verifications newly finished (distinct keys, with ``dedup``).
        dedup: Verify completions of a problem with the same dedup key once (see the module docstring).
            False verifies every item (benchmarks, and checking that dedup changes no verdict).
    """
    families: dict[str, type[TaskFamily]] = {}
    instances: dict[str, TaskFamily] = {}
    for problem, _, _ in items:
        if problem.task not in families:
            families[problem.task] = family_class_for(problem)
            instances[problem.task] = families[problem.task]()  # as a worker makes it: no arguments
    unique: dict[bytes, int] = {}
    order: list[int] = []
    jobs: list[Job] = []
    for problem, text, _ in items:
        text = text[:VERIFY_CHARS]
        if dedup:
            key = dedup_digest(instances[problem.task], problem, text)
            index = unique.get(key)
            if index is None:
                index = unique[key] = len(jobs)
                jobs.append((families[problem.task], problem, text))
        else:
            index = len(jobs)
            jobs.append((families[problem.task], problem, text))
        order.append(index)
    del unique
    verdicts: list[Verdict | None] = [None] * len(jobs)
    for confine in (False, True):  # code families in unconfined workers (the sandbox confines them)
        picked = [i for i, job in enumerate(jobs) if sandbox_only(job[0]) != confine]
        if not picked:
            continue
        # The family classes travel with the worker function, so each worker imports their modules
        # (math-verify, reasoning-gym...) while it starts, not inside the time budget of its first item.
        classes = tuple(sorted({jobs[i][0] for i in picked}, key=repr))
        results = run_pool(
            functools.partial(_judge_preloaded, classes),
            [jobs[i] for i in picked],
            workers=workers,
            timeout_s=timeout_s,
            on_timeout=_timeout_verdict,
            on_crash=_error_verdict,
            progress=progress,
            confine=confine,
        )
        for i, verdict in zip(picked, results, strict=True):
            verdicts[i] = verdict
    done = [v for v in verdicts if v is not None]
    assert len(done) == len(jobs)
    return [with_finish_reason(done[i], finish) for i, (_, _, finish) in zip(order, items, strict=True)]


class Verifier:
    """Verifier workers that stay alive across calls (GRPO's reward verifies a few texts at a time).

    As in :func:`verify_items`, families that run model text only through the code sandbox
    (:func:`evalkit.tasks.sandbox_only`) are verified in unconfined workers, every other family in
    confined ones; each kind of worker is started when a first item needs it.

    Args:
        families: The task family classes whose verifiers will run; their modules are imported in the
            workers before they confine themselves.
        workers: Worker processes (of each kind).
        timeout_s: Hard wall-clock limit per verification; past it the verdict is ``timeout``.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, families: Iterable[type[TaskFamily]], workers: int = 1, timeout_s: float = 10.0) -> None:
        classes = set(families)
        self.pools: dict[bool, WorkerPool] = {}  # confine -> pool
        for confine in (False, True):
            preloaded = functools.partial(
                _judge_preloaded, tuple(sorted((c for c in classes if sandbox_only(c) != confine), key=repr))
            )
            self.pools[confine] = WorkerPool(
                preloaded, workers, timeout_s, _timeout_verdict, _error_verdict, confine=confine
            )
        self.pool = self.pools[True]  # the confined pool (its ``isolation`` names the layers)

    def verify(self, problem: Problem, text: str, finish_reason: str = "stop") -> Verdict:
        """The verdict of one completion (as :func:`verify_items` gives it, without dedup)."""
        return self.verify_many([(problem, text, finish_reason)])[0]

    def verify_many(self, items: Sequence[tuple[Problem, str, str]]) -> list[Verdict]:
        """Verdicts of ``(problem, text, finish_reason)`` items, in order, in one pass through the workers.

        Items with the same problem and text are verified once (the verdict depends on nothing else
        before the finish reason is applied)."""
        unique: dict[tuple[str, str], int] = {}
        jobs: list[tuple[type[TaskFamily], Problem, str]] = []
        for problem, text, _ in items:
            key = (problem.id, text[:VERIFY_CHARS])
            if key not in unique:
                unique[key] = len(jobs)
                jobs.append((family_class_for(problem), problem, key[1]))
        verdicts: list[Verdict | None] = [None] * len(jobs)
        for confine, pool in self.pools.items():
            picked = [i for i, job in enumerate(jobs) if sandbox_only(job[0]) != confine]
            if picked:
                for i, verdict in zip(picked, pool.map([jobs[i] for i in picked]), strict=True):
                    verdicts[i] = verdict
        done = [v for v in verdicts if v is not None]
        assert len(done) == len(jobs)
        return [
            with_finish_reason(done[unique[(problem.id, text[:VERIFY_CHARS])]], finish_reason)
            for problem, text, finish_reason in items
        ]

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def verify_run(
    store: RunStore,
    rescore: bool = False,
    workers: int | None = None,
    timeout_s: float = 10.0,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Verify every completion of a run that has no verdict yet (all of them with ``rescore``).

    The completions are read twice, one shard at a time, never all at once: first to check that every
    one belongs to a known problem (before any verdict is written) and to count them, then in blocks of
    :data:`BLOCK` that are verified and persisted one after the other.

    Returns:
        The number of completions verified.
    """
    problems = {p.id: p for p in store.problems()}
    if rescore:
        store.clear_verdicts()
    done = store.verdict_keys()
    total = 0
    for c in _todo(store, done):
        if c.problem_id not in problems:
            raise EvalkitError(f"{store.root}: completion for unknown problem {c.problem_id!r}")
        total += 1
    finished = 0
    block: list[Completion] = []
    for c in _todo(store, done):
        block.append(c)
        if len(block) == BLOCK:
            finished += _verify_block(store, problems, block, workers, timeout_s)
            block = []
            if progress is not None:
                progress(finished, total)
    if block:
        finished += _verify_block(store, problems, block, workers, timeout_s)
        if progress is not None:
            progress(finished, total)
    return finished


# Layers without which a verdict of each kind (see Verdict.isolation) counts as weakly isolated, whatever
# the rest of its run had.
EXPECTED_LAYERS = {"confined": _EXPECTED_LAYERS, "sandbox": ("pidns", "minimal-root", "seccomp", "no-caps")}


def isolation_shortfall(store: RunStore) -> str | None:
    """A one-line warning when some verdicts of the run held fewer isolation layers than they could have.

    A verdict (of kind ``confined`` or ``sandbox``, see :attr:`evalkit.types.Verdict.isolation`) falls
    short when it lacks a layer that another verdict of the same kind in this run had (the machine
    offered it: a worker that lost its user namespace, a fall-back in the middle of a run), or one of
    :data:`EXPECTED_LAYERS`. Verdicts that record no layers (older runs, timeouts) are not judged. Reads
    only the ``isolation`` column. None when nothing falls short.
    """
    import pyarrow.compute as pc

    counts: dict[str, int] = {}
    for table in store.verdict_batches(("isolation",)):
        for row in pc.value_counts(table.column("isolation")).to_pylist():
            if row["values"]:
                counts[row["values"]] = counts.get(row["values"], 0) + int(row["counts"])
    offered: dict[str, set[str]] = {}
    for value in counts:
        kind, _, layers = value.partition(":")
        offered.setdefault(kind, set(EXPECTED_LAYERS.get(kind, ()))).update(layers.split(","))
    short, missing = 0, set()
    for value, n in counts.items():
        kind, _, layers = value.partition(":")
        lacking = offered[kind] - set(layers.split(","))
        if lacking:
            short += n
            missing |= {f"{kind} {layer}" for layer in lacking}
    if not short:
        return None
    return (
        f"{short} of {sum(counts.values())} verdicts ran with fewer isolation layers than the machine offers "
        f"(missing: {', '.join(sorted(missing))}); re-verify them with `evalkit score` where every layer holds"
    )


def _todo(store: RunStore, done: KeySet) -> Iterator[Completion]:
    return (c for c in store.iter_completions() if (c.problem_id, c.sample_idx) not in done)


def _verify_block(
    store: RunStore,
    problems: dict[str, Problem],
    block: list[Completion],
    workers: int | None,
    timeout_s: float,
) -> int:
    items = [(problems[c.problem_id], c.text, c.finish_reason) for c in block]
    verdicts = verify_items(items, workers, timeout_s)
    store.append_verdicts((c.problem_id, c.sample_idx, v) for c, v in zip(block, verdicts, strict=True))
    return len(block)
