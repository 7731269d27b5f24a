"""The replay backend: completions produced elsewhere, read from a JSON-lines file (or, through
:mod:`evalkit.sampling.importers`, from lm-evaluation-harness or lighteval files).

Each line is ``{"problem_id": str, "completion": str}`` with optional ``sample_idx`` (int),
``n_tokens`` (int) and ``finish_reason`` ("stop", "length" or "unknown"; a line without one is stored as
"unknown", never assumed to have stopped by itself). Lines without ``sample_idx`` take the
next free index of their problem in file order. Bad lines are errors naming the file and line.

Completions are stored losslessly up to :data:`MAX_TEXT_CHARS` characters (8 million: about 2 million
tokens, many times the longest output of current models); a longer one is refused, naming its file and line,
and is never cut (a cut would lose the final answer and look like the model's own truncation).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.sampling.base import SamplingConfig
from evalkit.sampling.importers import SampleSource, read_rows
from evalkit.store import KeySet
from evalkit.tasks.datafile import file_sha256
from evalkit.types import FINISH_REASONS, Completion, Problem

MAX_TEXT_CHARS = 8_000_000  # the longest completion stored; a longer one is refused, never cut


def iter_samples(
    path: Path, known_ids: set[str] | None = None, source: SampleSource | None = None, hint: str = ""
) -> Iterator[Completion]:
    """Parse and validate a samples file line by line; every problem error names ``path:line``.

    ``source`` reads another format (:mod:`evalkit.sampling.importers`; default: evalkit's JSON lines at
    ``path``); ``hint`` ends the error for a problem id outside ``known_ids`` (what the tasks' ids look like).

    Streams: memory holds one line plus a bit per (problem, index) seen (for duplicate checks), so a
    file of millions of completions is read in constant memory. Lines are decoded with
    ``surrogateescape`` so that non-UTF-8 bytes a model produced survive losslessly into the store
    (task files, read by :mod:`evalkit.tasks.datafile`, must be UTF-8)."""
    if not path.is_file():
        raise EvalkitError(f"{path}: no such file")
    seen = KeySet()
    next_idx: dict[str, int] = defaultdict(int)
    for where, row in read_rows(source or SampleSource(path)):
        pid, text = row.get("problem_id"), row.get("completion")
        if not isinstance(pid, str) or not pid:
            raise EvalkitError(f"{where}: missing or non-string field 'problem_id'")
        if not isinstance(text, str):
            raise EvalkitError(f"{where}: problem {pid}: missing or non-string field 'completion'")
        if known_ids is not None and pid not in known_ids:
            raise EvalkitError(f"{where}: unknown problem id {pid!r} (not in the selected tasks{hint})")
        idx = row.get("sample_idx", next_idx[pid])
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise EvalkitError(f"{where}: problem {pid}: 'sample_idx' must be an integer >= 0")
        if (pid, idx) in seen:
            raise EvalkitError(f"{where}: problem {pid}: sample_idx {idx} appears twice")
        seen.add(pid, idx)
        next_idx[pid] = max(next_idx[pid], idx + 1)
        finish = row.get("finish_reason", "unknown")
        if finish not in FINISH_REASONS:
            raise EvalkitError(f"{where}: problem {pid}: finish_reason must be 'stop', 'length' or 'unknown'")
        if len(text) > MAX_TEXT_CHARS:
            raise EvalkitError(
                f"{where}: problem {pid}: the completion has {len(text):,} characters, more than the "
                f"{MAX_TEXT_CHARS:,} evalkit stores; no model output is this long, so check how the file was "
                "made (evalkit never cuts a completion: a cut would lose its answer)"
            )
        n_tokens = row.get("n_tokens", 0)
        if not isinstance(n_tokens, int) or isinstance(n_tokens, bool) or n_tokens < 0:
            raise EvalkitError(f"{where}: problem {pid}: 'n_tokens' must be an integer >= 0")
        yield Completion(pid, idx, text, n_tokens, finish, -1)


@dataclass(frozen=True)
class SampleScan:
    """What a validated samples file holds: samples per problem id and the largest sample index."""

    counts: dict[str, int]
    largest: int


def scan_samples(
    path: Path, known_ids: set[str] | None = None, source: SampleSource | None = None, hint: str = ""
) -> SampleScan:
    """Validate a whole samples file without keeping its texts.

    Raises:
        EvalkitError: on the first bad line, or when the file holds no sample.
    """
    counts: dict[str, int] = defaultdict(int)
    largest = -1
    for completion in iter_samples(path, known_ids, source, hint):
        counts[completion.problem_id] += 1
        largest = max(largest, completion.sample_idx)
    if not counts:
        raise EvalkitError(f"{path}: no samples in the file")
    return SampleScan(dict(counts), largest)


def read_samples(path: Path, known_ids: set[str] | None = None) -> dict[tuple[str, int], Completion]:
    """Every sample of a file in memory, keyed by (problem_id, sample_idx) (for small files and tests;
    :func:`iter_samples` streams)."""
    out = {(c.problem_id, c.sample_idx): c for c in iter_samples(path, known_ids)}
    if not out:
        raise EvalkitError(f"{path}: no samples in the file")
    return out


def file_hash(path: Path) -> str:
    """Content hash of a samples file (the replay run's model identity)."""
    return file_sha256(path)


class ReplayBackend:
    """Serves the completions of a samples file to the runner: checks the whole file, then streams it."""

    name = "replay"

    def __init__(self, path: Path, source: SampleSource | None = None) -> None:
        self.path = path
        self.source = source or SampleSource(path)
        if not path.is_file():
            raise EvalkitError(f"{path}: no such samples file")

    def describe(self) -> dict[str, Any]:
        return {"model": f"imported:{self.path.name}", "model_hash": file_hash(self.path)}

    def generate(
        self, jobs: Sequence[tuple[Problem, Sequence[int]]], sampling: SamplingConfig, run_seed: int
    ) -> Iterator[list[Completion]]:
        """Yield the stored completions for the requested indices, in file order; indices with no stored
        completion are skipped (the run then has fewer than n samples for that problem, and says so).

        The whole file is checked against the run's problems (every problem is in ``jobs``, complete ones
        with no index) before anything is served, so a bad line stores nothing."""
        known = {problem.id for problem, _ in jobs}
        scan_samples(self.path, known, self.source)
        wanted = KeySet()
        for problem, indices in jobs:
            for idx in indices:
                wanted.add(problem.id, idx)
        chunk: list[Completion] = []
        for completion in iter_samples(self.path, known, self.source):
            if (completion.problem_id, completion.sample_idx) in wanted:
                chunk.append(completion)
                if len(chunk) >= 4096:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk
