"""The run store: one directory per run, a manifest and append-only shards.

Layout::

    RUN_DIR/
      manifest.json        identity (model, tasks, sampling, seeds) + its fingerprint, "format", plus run info
      problems.jsonl       the problems, so a run can be re-scored and reported without task code
      completions/000000.parquet, 000001.parquet, ...   Completion records (format 2; .jsonl in format 1)
      verdicts/000000.parquet, ...                       Verdict records keyed by (problem_id, sample_idx)
      .lock                held (flock) by the one process writing the run

New runs are format 2 (:mod:`evalkit.store.parquet`); format 1 runs (:mod:`evalkit.store.jsonl`) stay
readable, a resumed format 1 run keeps writing format 1 shards, and :func:`evalkit.store.convert.convert_run`
turns one into format 2. The manifest's ``format`` decides which shard files are the run's: files of the
other format in the shard folders (left by an interrupted conversion) are ignored. Every shard is written to
a temporary file, fsynced and renamed into place with ``os.replace``, so a crash at any moment loses at most
the shard being written.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from evalkit.errors import EvalkitError
from evalkit.store import jsonl, parquet
from evalkit.store.atomic import write_atomic
from evalkit.store.changes import option_changes
from evalkit.store.keys import KeySet, fingerprint
from evalkit.types import Completion, Problem, Verdict

FORMAT_VERSION = 2
FORMATS = (1, 2)
_SUFFIX = {1: jsonl.SUFFIX, 2: parquet.SUFFIX}


def by_problem(problem_ids: pa.ChunkedArray | pa.Array) -> Iterator[tuple[str, np.ndarray]]:
    """Split row positions by problem: (problem_id, positions in their original order) per distinct id.

    One Python step per distinct problem, not per row: the rows are grouped by a stable sort of their
    dictionary codes.
    """
    if len(problem_ids) == 0:
        return
    column = problem_ids.combine_chunks() if isinstance(problem_ids, pa.ChunkedArray) else problem_ids
    encoded = pc.dictionary_encode(column)
    names = encoded.dictionary.to_pylist()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    for j, name in enumerate(names):
        yield name, order[bounds[j] : bounds[j + 1]]


class RunStore:
    """Reads and appends to one run directory. Use :meth:`open` (existing run) or :meth:`create_or_resume`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock_fd: int | None = None
        self._next_number: dict[str, int] = {}
        self._format: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path) -> RunStore:
        """Open an existing run, or raise an EvalkitError naming the directory."""
        store = cls(root)
        if not (store.root / "manifest.json").is_file():
            raise EvalkitError(f"{root}: not an evalkit run directory (no manifest.json)")
        return store

    @classmethod
    def create_or_resume(
        cls,
        root: Path,
        identity: dict[str, Any],
        info: dict[str, Any],
        problems: list[Problem],
        force: bool = False,
        store_format: int = FORMAT_VERSION,
    ) -> tuple[RunStore, bool]:
        """Create a run, or resume the run already there when its fingerprint matches.

        A resumed run keeps the format it was created in; ``store_format`` applies to a new run only.

        Returns:
            (store, resumed).

        Raises:
            EvalkitError: when the directory holds a different run (naming what changed) and ``force``
                is false, or holds files that are not an evalkit run.
        """
        if store_format not in FORMATS:
            raise ValueError(f"unknown run store format {store_format}")
        store = cls(root)
        if (
            store.root.is_dir()
            and not (store.root / "manifest.json").is_file()
            and any(p.name != ".lock" for p in store.root.iterdir())
        ):
            raise EvalkitError(f"{root}: directory exists and is not an evalkit run; choose another --out")
        store.lock()
        try:
            manifest_path = store.root / "manifest.json"
            fp = fingerprint(identity)
            if manifest_path.is_file():
                old = store.manifest()
                if old.get("fingerprint") == fp:
                    merged = {**old, "info": {**old.get("info", {}), **info}}
                    merged["info"]["n"] = max(int(old.get("info", {}).get("n", 0)), int(info.get("n", 0)))
                    store.write_manifest(merged)
                    return store, True
                if not force:
                    changes = option_changes(old.get("identity", {}), identity)
                    raise EvalkitError(
                        f"{root}: refusing to resume a different run ({'; '.join(changes) or 'format changed'}); "
                        "use another --out, or --force to discard it and start again"
                    )
                store.wipe()
            elif store.root.exists() and any(p.name != ".lock" for p in store.root.iterdir()):
                raise EvalkitError(f"{root}: directory exists and is not an evalkit run; choose another --out")
            store.root.mkdir(parents=True, exist_ok=True)
            (store.root / "completions").mkdir(exist_ok=True)
            (store.root / "verdicts").mkdir(exist_ok=True)
            write_atomic(store.root / "problems.jsonl", "".join(jsonl.dumps(p.to_json()) + "\n" for p in problems))
            store.write_manifest({"format": store_format, "fingerprint": fp, "identity": identity, "info": info})
            return store, False
        except BaseException:
            store.unlock()  # a refused or failed attempt must not keep the run locked in this process
            raise

    def lock(self) -> None:
        """Take the run's writer lock, or fail at once if another process holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EvalkitError(f"{self.root}: another evalkit process is writing this run") from None
        self._lock_fd = fd
        # with the lock held no other writer exists: temporary files are leftovers of a killed writer
        for folder in (self.root, self.root / "completions", self.root / "verdicts"):
            if folder.is_dir():
                for stale in folder.glob(".tmp-*"):
                    stale.unlink(missing_ok=True)

    def unlock(self) -> None:
        """Release the writer lock if this store holds it (otherwise it is held until the process exits)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def wipe(self) -> None:
        """Remove a run's files (only the ones evalkit writes)."""
        for name in ("manifest.json", "problems.jsonl"):
            (self.root / name).unlink(missing_ok=True)
        for name in ("completions", "verdicts"):
            shutil.rmtree(self.root / name, ignore_errors=True)
        self._next_number.clear()
        self._format = None

    # -- reading -----------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        path = self.root / "manifest.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise EvalkitError(f"{path}: unreadable manifest ({exc})") from None
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest atomically (the caller holds the writer lock)."""
        write_atomic(self.root / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=True) + "\n")
        self._format = None

    @property
    def format(self) -> int:
        """The run's store format (1: JSON lines, 2: Parquet), from its manifest.

        Raises:
            EvalkitError: when the manifest names a format this evalkit does not read.
        """
        if self._format is None:
            if not (self.root / "manifest.json").is_file():
                return FORMAT_VERSION
            value = self.manifest().get("format", 1)
            if value not in FORMATS:
                raise EvalkitError(f"{self.root}: run store format {value!r} is not one this evalkit reads (1, 2)")
            self._format = int(value)
        return self._format

    def problems(self) -> list[Problem]:
        path = self.root / "problems.jsonl"
        out = []
        for lineno, row in jsonl.read_records(path, repair=False):
            try:
                out.append(
                    Problem(row["problem_id"], row["task"], row["prompt"], row["reference"], row.get("meta", {}))
                )
            except KeyError as exc:
                raise EvalkitError(f"{path}:{lineno}: missing field {exc}") from None
        return out

    def iter_completions(self, problem_ids: Collection[str] | None = None) -> Iterator[Completion]:
        """Every stored completion, shard by shard in file order; only ``problem_ids``' when given.

        In format 2 the problem filter skips the row groups (about 1024 rows) that hold none of the problems,
        so reading a few problems' texts does not decompress the others'.
        """
        wanted = None if problem_ids is None else set(problem_ids)
        for shard in self.shards("completions"):
            if self.format == 2:
                yield from parquet.read_completions(shard, wanted)
            elif wanted is None:
                yield from jsonl.read_completions(shard)
            else:
                yield from (c for c in jsonl.read_completions(shard) if c.problem_id in wanted)

    def texts_of(self, chosen: Mapping[str, int]) -> dict[str, str]:
        """The text of one chosen sample per problem (problem id -> sample index), read without building a
        completion object per stored row: only the chosen problems' row groups are read (format 2), and rows
        are matched to the choice with an Arrow join. Chosen samples that are not stored are left out."""
        if not chosen:
            return {}
        wanted = pa.table(
            {
                "problem_id": pa.array(list(chosen), pa.string()),
                "sample_idx": pa.array(list(chosen.values()), pa.int32()),
            }
        )
        out: dict[str, str] = {}
        columns = ["problem_id", "sample_idx", "text", "text_surrogatepass"]
        for table in self.completion_batches(columns, problem_ids=chosen):
            picked = table.join(wanted, keys=["problem_id", "sample_idx"], join_type="inner")
            for pid, text in zip(picked.column("problem_id").to_pylist(), parquet.texts(picked), strict=True):
                out.setdefault(pid, text)
        return out

    def iter_verdicts(self) -> Iterator[tuple[str, int, Verdict]]:
        """(problem_id, sample_idx, verdict) for each stored verdict, one shard at a time."""
        read = parquet.read_verdicts if self.format == 2 else jsonl.read_verdicts
        for shard in self.shards("verdicts"):
            yield from read(shard)

    def verdicts(self) -> dict[tuple[str, int], Verdict]:
        """Every verdict, keyed by (problem_id, sample_idx) (a Python object each: for small runs and tests;
        :meth:`iter_verdicts` streams)."""
        return {(pid, idx): verdict for pid, idx, verdict in self.iter_verdicts()}

    def completion_batches(
        self, columns: Sequence[str], problem_ids: Collection[str] | None = None
    ) -> Iterator[pa.Table]:
        """The completions one shard at a time, as tables of ``columns`` (names of
        :data:`evalkit.store.parquet.COMPLETION_SCHEMA`; rows in file order).

        In format 2 only those columns are read: keys and finish reasons without the text. A format 1
        shard is parsed whole.
        """
        for shard in self.shards("completions"):
            if self.format == 2:
                yield parquet.read_table(shard, parquet.COMPLETION_SCHEMA, columns, problem_ids)
            else:
                rows = jsonl.read_completions(shard)
                if problem_ids is not None:
                    rows = (c for c in rows if c.problem_id in problem_ids)
                yield parquet.completions_table(rows).select(list(columns))

    def verdict_batches(self, columns: Sequence[str] = parquet.VERDICT_SCHEMA.names) -> Iterator[pa.Table]:
        """The verdicts one shard at a time, as tables of ``columns`` (names of
        :data:`evalkit.store.parquet.VERDICT_SCHEMA`; rows in file order, a later row of a key overrides).

        Raises:
            EvalkitError: naming a shard that is unreadable or holds an unknown status.
        """
        for shard in self.shards("verdicts"):
            if self.format == 2:
                table = parquet.read_table(shard, parquet.VERDICT_SCHEMA, columns)
                if "status" in columns:
                    parquet.check_statuses(shard, table)
                yield table
            else:
                yield parquet.verdicts_table(jsonl.read_verdicts(shard)).select(list(columns))

    def verdict_table(self, columns: Sequence[str] = ("problem_id", "sample_idx", "passed")) -> pa.Table:
        """Every verdict row as one table of ``columns`` (see :meth:`verdict_batches`; holds all rows in memory,
        about 10 bytes per row for the default columns: stream :meth:`verdict_batches` for constant memory)."""
        tables = list(self.verdict_batches(columns))
        if not tables:
            return parquet.VERDICT_SCHEMA.empty_table().select(list(columns))
        return pa.concat_tables(tables)

    def completion_keys(self) -> KeySet:
        """The (problem_id, sample_idx) pairs stored, as a compact :class:`KeySet` (no text is read in format 2)."""
        return _keys(self.completion_batches(("problem_id", "sample_idx")))

    def verdict_keys(self) -> KeySet:
        """The (problem_id, sample_idx) pairs that have a verdict, without building the verdicts."""
        return _keys(self.verdict_batches(("problem_id", "sample_idx")))

    # -- writing -----------------------------------------------------------------------------------
    def append_completions(self, completions: Iterable[Completion]) -> int:
        """Write ``completions`` as one new shard (none when empty); returns how many were written."""
        items = list(completions)
        if not items:
            return 0
        write = parquet.write_completions if self.format == 2 else jsonl.write_completions
        return write(self._next_shard("completions"), items)

    def append_verdicts(self, verdicts: Iterable[tuple[str, int, Verdict]]) -> int:
        """Write (problem_id, sample_idx, verdict) records as one new shard; returns how many were written."""
        items = list(verdicts)
        if not items:
            return 0
        write = parquet.write_verdicts if self.format == 2 else jsonl.write_verdicts
        return write(self._next_shard("verdicts"), items)

    def clear_verdicts(self) -> None:
        """Drop all verdicts (``evalkit score`` re-verifies from scratch)."""
        shutil.rmtree(self.root / "verdicts", ignore_errors=True)
        (self.root / "verdicts").mkdir()
        self._next_number.pop("verdicts", None)

    def shards(self, kind: str, store_format: int | None = None) -> list[Path]:
        """The shard files of ``kind`` ("completions" or "verdicts") in the run's format (or ``store_format``),
        in write order."""
        folder = self.root / kind
        if not folder.is_dir():
            return []
        suffix = _SUFFIX[store_format or self.format]
        shards = [p for p in folder.iterdir() if p.suffix == suffix and p.stem.isdigit()]
        return sorted(shards, key=lambda p: int(p.stem))

    def _next_shard(self, kind: str) -> Path:
        # the folder is listed once per store object; later shards are numbered from memory
        if kind not in self._next_number:
            shards = self.shards(kind)
            self._next_number[kind] = int(shards[-1].stem) + 1 if shards else 0
        number = self._next_number[kind]
        self._next_number[kind] = number + 1
        return self.root / kind / f"{number:06d}{_SUFFIX[self.format]}"


def _keys(batches: Iterable[pa.Table]) -> KeySet:
    keys = KeySet()
    for table in batches:
        idx = table.column("sample_idx").to_numpy()
        for pid, rows in by_problem(table.column("problem_id")):
            keys.add_many(pid, idx[rows])
    return keys
