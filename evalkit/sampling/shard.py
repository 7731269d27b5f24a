"""Job arrays without a cluster engine: ``evalkit sample --shard i/N`` and ``evalkit merge``.

A shard is a deterministic slice of a run's work by problem: of the run's problem list (a function of the
tasks, ``--problem-seed`` and ``--limit``, so the same on every machine), shard ``i/N`` takes the problems
at positions ``i, i + N, i + 2N, ...``. Round-robin by position rather than a hash of the id keeps the
shards within one problem of each other in size, whatever the task mix. Each shard is an ordinary run
directory whose identity also holds ``shard: {index, count}``, so rerunning the shard's command resumes it,
and rerunning with another ``i/N`` into the same directory is refused. Every sample keeps the seed it has in
the unsharded run (seeds derive from (seed, problem_id, sample_idx) alone, see
:func:`evalkit.sampling.base.sample_seed`).

:func:`merge_runs` combines shard runs (and, optionally, unsharded runs of the same identity) into one run
directory whose manifest is the unsharded run's (same identity, same fingerprint), so rerunning the
unsharded ``evalkit sample`` command on the merged directory resumes it: it fills samples a killed shard
did not finish and verifies what has no verdict yet.

What is implemented: the slice, the manifest checks, merging completions and verdicts in constant memory
per sample (a bitmap of keys; text digests only for problems held by more than one input). What is not:
shards writing concurrently into one directory (each shard has its own directory and writer lock), shards
by sample index within a problem, and merging shards of different counts ``N``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from evalkit.errors import EvalkitError
from evalkit.store import KeySet, RunStore, describe_changes
from evalkit.types import Completion, Problem

T = TypeVar("T")
CHUNK = 4096  # records per merged shard file

_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` as ``(i, N)``.

    Raises:
        EvalkitError: unless it reads ``i/N`` with ``N >= 1`` and ``0 <= i < N``.
    """
    match = _SHARD_RE.match(text)
    if not match:
        raise EvalkitError(f"--shard {text!r}: expected i/N, e.g. 0/4 (shards are numbered 0 .. N-1)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 0 <= index < count:
        raise EvalkitError(f"--shard {text}: i must be in 0..N-1 with N >= 1")
    return index, count


def select_shard(problems: Sequence[T], index: int, count: int) -> list[T]:
    """The problems of shard ``index`` of ``count``: positions ``index, index + count, ...``.

    Raises:
        EvalkitError: when the shard would hold no problem (more shards than problems).
    """
    chosen = list(problems[index::count])
    if not chosen:
        raise EvalkitError(f"--shard {index}/{count}: no problems in this shard (the run has {len(problems)})")
    return chosen


@dataclass(frozen=True)
class MergeResult:
    """What :func:`merge_runs` wrote.

    Attributes:
        out: The merged run directory.
        problems: Problems in the merged run.
        completions: Completions written (each (problem_id, sample_idx) once).
        duplicates: Completions held by more than one input with the same text, written once.
        verdicts: Verdict records written.
    """

    out: Path
    problems: int
    completions: int
    duplicates: int
    verdicts: int


@dataclass
class _Input:
    store: RunStore
    manifest: dict[str, Any]
    shard: tuple[int, int] | None
    problems: list[Problem]


def _open_input(path: Path) -> _Input:
    store = RunStore.open(path)
    manifest = store.manifest()
    identity = manifest.get("identity", {})
    shard = identity.get("shard")
    pair = (int(shard["index"]), int(shard["count"])) if isinstance(shard, dict) else None
    return _Input(store, manifest, pair, store.problems())


def _comparable(inp: _Input) -> dict[str, Any]:
    """What must agree between merged runs: the identity without its shard, and n (not the store format: the
    merged run is written in the current format whatever its inputs' formats)."""
    identity = {k: v for k, v in inp.manifest.get("identity", {}).items() if k != "shard"}
    return {**identity, "n": inp.manifest.get("info", {}).get("n")}


def _check_manifests(inputs: Sequence[_Input]) -> None:
    first = inputs[0]
    for other in inputs[1:]:
        changes = describe_changes(_comparable(first), _comparable(other))
        if changes:
            raise EvalkitError(
                f"cannot merge {first.store.root} and {other.store.root}: "
                f"they are different runs ({'; '.join(changes)})"
            )
    counts = sorted({inp.shard[1] for inp in inputs if inp.shard is not None})
    if len(counts) > 1:
        raise EvalkitError(f"cannot merge shards of different counts ({' and '.join(map(str, counts))})")
    if counts and all(inp.shard is not None for inp in inputs):
        have = {inp.shard[0] for inp in inputs if inp.shard is not None}
        missing = [f"{i}/{counts[0]}" for i in range(counts[0]) if i not in have]
        if missing:
            raise EvalkitError(f"cannot merge: shard(s) {', '.join(missing)} missing; merge needs every shard")


def _merged_problems(inputs: Sequence[_Input]) -> tuple[list[Problem], set[str]]:
    """The merged run's problems in the unsharded order, and the ids held by more than one input."""
    at: dict[int, tuple[Problem, Path]] = {}
    position_of: dict[str, int] = {}
    held: dict[str, int] = {}
    for inp in inputs:
        index, count = inp.shard if inp.shard is not None else (0, 1)
        for j, problem in enumerate(inp.problems):
            pos = index + j * count
            held[problem.id] = held.get(problem.id, 0) + 1
            if pos in at and at[pos][0] != problem:
                raise EvalkitError(
                    f"cannot merge {at[pos][1]} and {inp.store.root}: problem {pos} differs "
                    f"({at[pos][0].id!r} vs {problem.id!r})"
                )
            if position_of.setdefault(problem.id, pos) != pos:
                raise EvalkitError(f"{inp.store.root}: problem {problem.id!r} is at another place than in other runs")
            at[pos] = (problem, inp.store.root)
    if sorted(at) != list(range(len(at))):
        gap = next(i for i in range(len(at) + 1) if i not in at)
        raise EvalkitError(f"cannot merge: no input holds problem {gap} of the run (is a shard missing?)")
    return [at[pos][0] for pos in range(len(at))], {pid for pid, times in held.items() if times > 1}


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _chunks(items: Iterable[T], size: int = CHUNK) -> Iterable[list[T]]:
    block: list[T] = []
    for item in items:
        block.append(item)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


def merge_runs(runs: Sequence[Path], out: Path, command: str = "") -> MergeResult:
    """Combine shard runs into one run directory equal to the unsharded run.

    The inputs must be runs of one identity (model, tasks, problem seed and limit, sampling config,
    seed, prompt format) and one ``n``, differing only in their shard; together they must hold every
    problem (all ``N`` shards, or an unsharded run). A (problem_id, sample_idx) held by several inputs
    is written once when its texts agree. The merge is written beside ``out`` and renamed into place at
    the end, so a killed merge leaves no half-merged ``out``.

    Args:
        runs: Run directories (``evalkit sample --shard i/N`` outputs, or unsharded runs).
        out: The merged run directory; must not exist.
        command: The command line, recorded in the merged manifest.

    Returns:
        What was written.

    Raises:
        EvalkitError: one line naming what differs between two manifests, the shards missing, a key whose
            texts differ, or an ``out`` that exists.
    """
    if not runs:
        raise EvalkitError("merge needs at least one run directory")
    out = Path(out)
    if out.exists():
        raise EvalkitError(f"{out}: already exists; merge writes a new run directory, choose another --out")
    inputs = [_open_input(Path(r)) for r in runs]
    _check_manifests(inputs)
    problems, shared = _merged_problems(inputs)
    known = {p.id for p in problems}
    first = inputs[0].manifest
    identity = {k: v for k, v in first.get("identity", {}).items() if k != "shard"}
    info = {
        **first.get("info", {}),
        "updated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "merged_from": [str(Path(r).resolve()) for r in runs],
        "command": command,
    }
    tmp = out.with_name(f".{out.name}.merging-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    store, _ = RunStore.create_or_resume(tmp, identity, info, problems)
    try:
        result = _copy_samples(store, inputs, known, shared)
    except BaseException:
        store.unlock()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    store.unlock()
    out.parent.mkdir(parents=True, exist_ok=True)
    os.rename(tmp, out)
    return MergeResult(out, len(problems), *result)


def _copy_samples(store: RunStore, inputs: Sequence[_Input], known: set[str], shared: set[str]) -> tuple[int, int, int]:
    """Stream every input's completions, then its verdicts of the completions taken from it, into ``store``."""
    seen = KeySet()
    digests: dict[tuple[str, int], tuple[bytes, Path]] = {}  # only keys of problems held by several inputs
    written = duplicates = verdicts = 0
    for inp in inputs:
        taken = KeySet()

        def fresh(inp: _Input = inp, taken: KeySet = taken) -> Iterable[Completion]:
            nonlocal duplicates
            for c in inp.store.iter_completions():
                key = (c.problem_id, c.sample_idx)
                if c.problem_id not in known:
                    raise EvalkitError(f"{inp.store.root}: completion for unknown problem {c.problem_id!r}")
                if c.problem_id in shared:
                    digest = _digest(c.text)
                    if key in digests:
                        if digests[key][0] != digest:
                            raise EvalkitError(
                                f"cannot merge {digests[key][1]} and {inp.store.root}: sample {c.sample_idx} of "
                                f"problem {c.problem_id!r} has different texts"
                            )
                        duplicates += 1
                        continue
                    digests[key] = (digest, inp.store.root)
                elif key in seen:
                    continue  # the same key twice within one run: the first is the one the run counts
                seen.add(*key)
                taken.add(*key)
                yield c

        for block in _chunks(fresh()):
            written += store.append_completions(block)
        judged = ((pid, idx, v) for pid, idx, v in inp.store.iter_verdicts() if (pid, idx) in taken)
        for vblock in _chunks(judged):
            verdicts += store.append_verdicts(vblock)
    return written, duplicates, verdicts
