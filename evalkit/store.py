"""The run store: one directory per run, a manifest and append-only shards.

Layout::

    RUN_DIR/
      manifest.json        identity (model, tasks, sampling, seeds) + its fingerprint, plus run info
      problems.jsonl       the problems, so a run can be re-scored and reported without task code
      completions/000000.jsonl, 000001.jsonl, ...   Completion records
      verdicts/000000.jsonl, ...                     Verdict records keyed by (problem_id, sample_idx)
      .lock                held (flock) by the one process writing the run

Shards are JSON lines written to a temporary file, fsynced and renamed into place with ``os.replace``,
so a crash at any moment loses at most the shard being written. Text is serialised with JSON's ASCII
escapes, which keep lone surrogates and NUL bytes losslessly. A shard whose last line is torn (a copy
made mid-write, a file system without atomic rename) is repaired on load: the tail is moved to
``<shard>.torn`` and the samples it held are generated again; a broken line in the middle of a shard
is an error naming the file and line.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.types import STATUSES, Completion, Problem, Verdict

FORMAT_VERSION = 1


class KeySet:
    """A set of (problem_id, sample_idx) pairs held as one bitmap per problem.

    A resumed run with 500 problems x 1024 samples needs 64 KiB here, where a Python set of tuples would
    take about 90 MiB; memory stays flat however many completions a run holds.
    """

    def __init__(self) -> None:
        self._bits: dict[str, bytearray] = {}
        self._count = 0

    def add(self, problem_id: str, sample_idx: int) -> None:
        if sample_idx < 0:
            raise ValueError(f"negative sample index {sample_idx}")
        bits = self._bits.get(problem_id)
        need = (sample_idx >> 3) + 1
        if bits is None:
            bits = self._bits[problem_id] = bytearray(max(need, 128))
        elif len(bits) < need:
            bits.extend(bytes(max(need - len(bits), len(bits))))
        mask = 1 << (sample_idx & 7)
        if not bits[sample_idx >> 3] & mask:
            bits[sample_idx >> 3] |= mask
            self._count += 1

    def count(self, problem_id: str) -> int:
        """How many indices of ``problem_id`` the set holds."""
        bits = self._bits.get(problem_id)
        return 0 if bits is None else int.from_bytes(bits, "little").bit_count()

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        problem_id, sample_idx = key
        bits = self._bits.get(problem_id)
        if bits is None or not isinstance(sample_idx, int) or sample_idx < 0 or (sample_idx >> 3) >= len(bits):
            return False
        return bool(bits[sample_idx >> 3] & (1 << (sample_idx & 7)))

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[tuple[str, int]]:
        for problem_id, bits in self._bits.items():
            for byte_idx, byte in enumerate(bits):
                if byte:
                    for bit in range(8):
                        if byte & (1 << bit):
                            yield problem_id, (byte_idx << 3) | bit

    def __eq__(self, other: object) -> bool:
        if isinstance(other, KeySet | set | frozenset):
            return len(self) == len(other) and all(key in self for key in other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable


def fingerprint(identity: dict[str, Any]) -> str:
    """Sixteen hex digits over the canonical JSON of a run's identity."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def describe_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable differences between two identities, e.g. ``sampling.temperature: 1.0 -> 0.7``."""
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes.extend(describe_changes(a, b, f"{prefix}{key}."))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            # name the element that changed (``tasks.1.params.digits``): a whole-list summary is cut at
            # 80 characters and can hide the difference
            as_dict = [{str(i): v for i, v in enumerate(items)} for items in (a, b)]
            changes.extend(describe_changes(as_dict[0], as_dict[1], f"{prefix}{key}."))
        elif a != b:
            changes.append(f"{prefix}{key}: {_short(a)} -> {_short(b)}")
    return changes


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    with tmp.open("w", encoding="ascii") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class RunStore:
    """Reads and appends to one run directory. Use :meth:`open` (existing run) or :meth:`create`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock_fd: int | None = None
        self._next_number: dict[str, int] = {}

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
    ) -> tuple[RunStore, bool]:
        """Create a run, or resume the run already there when its fingerprint matches.

        Returns:
            (store, resumed).

        Raises:
            EvalkitError: when the directory holds a different run (naming what changed) and ``force``
                is false, or holds files that are not an evalkit run.
        """
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
                    _write_atomic(manifest_path, json.dumps(merged, indent=1, ensure_ascii=True) + "\n")
                    return store, True
                if not force:
                    changes = describe_changes(old.get("identity", {}), identity)
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
            _write_atomic(store.root / "problems.jsonl", "".join(_dumps(p.to_json()) + "\n" for p in problems))
            manifest = {"format": FORMAT_VERSION, "fingerprint": fp, "identity": identity, "info": info}
            _write_atomic(manifest_path, json.dumps(manifest, indent=1, ensure_ascii=True) + "\n")
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

    # -- reading -----------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        path = self.root / "manifest.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise EvalkitError(f"{path}: unreadable manifest ({exc})") from None
        return data

    def problems(self) -> list[Problem]:
        path = self.root / "problems.jsonl"
        out = []
        for lineno, row in _read_jsonl(path, repair=False):
            try:
                out.append(
                    Problem(row["problem_id"], row["task"], row["prompt"], row["reference"], row.get("meta", {}))
                )
            except KeyError as exc:
                raise EvalkitError(f"{path}:{lineno}: missing field {exc}") from None
        return out

    def iter_completions(self) -> Iterator[Completion]:
        for shard in self._shards("completions"):
            for lineno, row in _read_jsonl(shard, repair=True):
                try:
                    yield Completion(
                        row["problem_id"],
                        int(row["sample_idx"]),
                        row["text"],
                        int(row["n_tokens"]),
                        row["finish_reason"],
                        int(row["seed"]),
                    )
                except (KeyError, TypeError, ValueError) as exc:
                    raise EvalkitError(f"{shard}:{lineno}: bad completion record ({exc})") from None

    def completion_keys(self) -> KeySet:
        """The (problem_id, sample_idx) pairs stored, as a compact :class:`KeySet`."""
        keys = KeySet()
        for c in self.iter_completions():
            keys.add(c.problem_id, c.sample_idx)
        return keys

    def verdict_keys(self) -> KeySet:
        """The (problem_id, sample_idx) pairs that have a verdict, without building the verdicts."""
        keys = KeySet()
        for shard in self._shards("verdicts"):
            for lineno, row in _read_jsonl(shard, repair=True):
                try:
                    keys.add(row["problem_id"], int(row["sample_idx"]))
                except (KeyError, TypeError, ValueError) as exc:
                    raise EvalkitError(f"{shard}:{lineno}: bad verdict record ({exc})") from None
        return keys

    def verdicts(self) -> dict[tuple[str, int], Verdict]:
        """Every verdict, keyed by (problem_id, sample_idx) (a Python object each: for small runs and tests;
        :meth:`iter_verdicts` streams)."""
        return {(pid, idx): verdict for pid, idx, verdict in self.iter_verdicts()}

    def iter_verdicts(self) -> Iterator[tuple[str, int, Verdict]]:
        """(problem_id, sample_idx, verdict) for each stored verdict, one shard at a time."""
        for shard in self._shards("verdicts"):
            for lineno, row in _read_jsonl(shard, repair=True):
                try:
                    status = row["status"]
                    if status not in STATUSES:
                        raise ValueError(f"unknown status {status!r}")
                    verdict = Verdict(bool(row["passed"]), float(row["score"]), status, row.get("detail", ""))
                    pid, idx = row["problem_id"], int(row["sample_idx"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise EvalkitError(f"{shard}:{lineno}: bad verdict record ({exc})") from None
                yield pid, idx, verdict

    # -- writing -----------------------------------------------------------------------------------
    def append_completions(self, completions: Iterable[Completion]) -> int:
        rows = [_dumps(asdict(c)) + "\n" for c in completions]
        if rows:
            _write_atomic(self._next_shard("completions"), "".join(rows))
        return len(rows)

    def append_verdicts(self, verdicts: Iterable[tuple[str, int, Verdict]]) -> int:
        rows = [_dumps({"problem_id": pid, "sample_idx": idx, **asdict(v)}) + "\n" for pid, idx, v in verdicts]
        if rows:
            _write_atomic(self._next_shard("verdicts"), "".join(rows))
        return len(rows)

    def clear_verdicts(self) -> None:
        """Drop all verdicts (``evalkit score`` re-verifies from scratch)."""
        shutil.rmtree(self.root / "verdicts", ignore_errors=True)
        (self.root / "verdicts").mkdir()
        self._next_number.pop("verdicts", None)

    def _shards(self, kind: str) -> list[Path]:
        folder = self.root / kind
        if not folder.is_dir():
            return []
        shards = [p for p in folder.iterdir() if p.suffix == ".jsonl" and p.stem.isdigit()]
        return sorted(shards, key=lambda p: int(p.stem))

    def _next_shard(self, kind: str) -> Path:
        # the folder is listed once per store object; later shards are numbered from memory
        if kind not in self._next_number:
            shards = self._shards(kind)
            self._next_number[kind] = int(shards[-1].stem) + 1 if shards else 0
        number = self._next_number[kind]
        self._next_number[kind] = number + 1
        return self.root / kind / f"{number:06d}.jsonl"


def _read_jsonl(path: Path, repair: bool) -> Iterator[tuple[int, dict[str, Any]]]:
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
        good = b"".join(json.dumps(r, ensure_ascii=True, separators=(",", ":")).encode() + b"\n" for _, r in records)
        with path.with_name(path.name + ".torn").open("ab") as fh:
            fh.write(tail + b"\n")
        _write_atomic(path, good.decode("ascii"))
    yield from records
