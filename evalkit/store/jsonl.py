"""Format 1 shards: JSON lines, one record per line, written atomically.

Text is serialised with JSON's ASCII escapes, which keep lone surrogates and NUL bytes losslessly. A shard
whose last line is torn (a copy made mid-write, a file system without atomic rename) is repaired on load:
the tail is moved to ``<shard>.torn`` and the samples it held are generated again; a broken line in the
middle of a shard is an error naming the file and line.

The log-probabilities recorded while sampling (``logprob_sampler``, ``logprob_raw``, ``logprob_tokens``, see
:class:`evalkit.types.Completion`) are optional fields: written only when recorded, read as None when absent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.store.atomic import write_atomic
from evalkit.types import STATUSES, Completion, Verdict

SUFFIX = ".jsonl"
_OPTIONAL = ("logprob_sampler", "logprob_raw", "logprob_tokens")  # omitted when None (as in runs made before)


def dumps(record: dict[str, Any]) -> str:
    """One record as a line of ASCII JSON (no newline)."""
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"))


def write_completions(path: Path, completions: Iterable[Completion]) -> int:
    """Write ``completions`` as a new shard at ``path`` (atomically); returns the records written (0: no file)."""
    rows = [
        dumps({k: v for k, v in asdict(c).items() if v is not None or k not in _OPTIONAL}) + "\n" for c in completions
    ]
    if rows:
        write_atomic(path, "".join(rows))
    return len(rows)


def write_verdicts(path: Path, verdicts: Iterable[tuple[str, int, Verdict]]) -> int:
    """Write (problem_id, sample_idx, verdict) records as a new shard at ``path``; returns the records written."""
    rows = [
        dumps(
            {
                "problem_id": pid,
                "sample_idx": idx,
                "passed": v.passed,
                "score": v.score,
                "status": v.status,
                "detail": v.detail,
            }
        )
        + "\n"
        for pid, idx, v in verdicts
    ]
    if rows:
        write_atomic(path, "".join(rows))
    return len(rows)


def read_completions(shard: Path) -> Iterator[Completion]:
    """The completions of one shard, in file order (a torn last line is quarantined first).

    Raises:
        EvalkitError: naming the file and line of a corrupt or incomplete record.
    """
    for lineno, row in read_records(shard, repair=True):
        try:
            yield Completion(
                row["problem_id"],
                int(row["sample_idx"]),
                row["text"],
                int(row["n_tokens"]),
                row["finish_reason"],
                int(row["seed"]),
                _float_or_none(row.get("logprob_sampler")),
                _float_or_none(row.get("logprob_raw")),
                None if row.get("logprob_tokens") is None else int(row["logprob_tokens"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EvalkitError(f"{shard}:{lineno}: bad completion record ({exc})") from None


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def read_verdicts(shard: Path) -> Iterator[tuple[str, int, Verdict]]:
    """(problem_id, sample_idx, verdict) for each record of one shard, in file order.

    Raises:
        EvalkitError: naming the file and line of a corrupt record or an unknown status.
    """
    for lineno, row in read_records(shard, repair=True):
        try:
            status = row["status"]
            if status not in STATUSES:
                raise ValueError(f"unknown status {status!r}")
            detail, isolation = row.get("detail", ""), str(row.get("isolation") or "")
            verdict = Verdict(bool(row["passed"]), float(row["score"]), status, detail, isolation)
            pid, idx = row["problem_id"], int(row["sample_idx"])
        except (KeyError, TypeError, ValueError) as exc:
            raise EvalkitError(f"{shard}:{lineno}: bad verdict record ({exc})") from None
        yield pid, idx, verdict


def read_records(path: Path, repair: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, record); a torn last line is quarantined when ``repair`` is set."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EvalkitError(f"{path}: cannot read ({exc})") from None
    if raw.endswith(b"\n") and b"\n\n" not in raw and not raw.startswith(b"\n"):
        # fast path for an intact shard (the usual case): one parse of the whole file as a JSON array,
        # about twice as fast as one json.loads per line; any problem falls through to the line reader
        try:
            whole = json.loads(b"[" + raw[:-1].replace(b"\n", b",") + b"]")
        except (json.JSONDecodeError, UnicodeDecodeError):
            whole = None
        lines_in_file = raw.count(b"\n")
        if isinstance(whole, list) and len(whole) == lines_in_file and all(isinstance(r, dict) for r in whole):
            yield from enumerate(whole, 1)
            return
    lines = raw.split(b"\n")
    complete = raw.endswith(b"\n")
    body = lines[:-1]  # after a final "\n" the last element is b""; otherwise it is the torn tail
    tail = b"" if complete else lines[-1]
    records = []
    for lineno, line in enumerate(body, 1):
        if not line.strip():
            continue
        try:
            records.append((lineno, json.loads(line)))
        except (json.JSONDecodeError, UnicodeDecodeError):
            if lineno == len(body) and not tail and repair:
                tail = line  # the last complete line is itself broken: treat it as the torn tail
                break
            raise EvalkitError(
                f"{path}:{lineno}: corrupt record in the middle of a shard; "
                "move the file away to regenerate its samples"
            ) from None
    if tail.strip():
        if not repair:
            raise EvalkitError(f"{path}:{len(body) + 1}: truncated last line")
        good = "".join(dumps(r) + "\n" for _, r in records)
        with path.with_name(path.name + ".torn").open("ab") as fh:
            fh.write(tail + b"\n")
        write_atomic(path, good)
    yield from records
