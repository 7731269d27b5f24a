"""Compact sets of sample keys, and the fingerprint of a run's identity."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import numpy as np


class KeySet:
    """A set of (problem_id, sample_idx) pairs held as one bitmap per problem.

    A resumed run with 500 problems x 1024 samples needs 64 KiB here, where a Python set of tuples would
    take about 90 MiB; memory stays flat however many completions a run holds.
    """

    def __init__(self) -> None:
        self._bits: dict[str, bytearray] = {}
        self._count = 0

    def _row(self, problem_id: str, largest: int) -> bytearray:
        bits = self._bits.get(problem_id)
        need = (largest >> 3) + 1
        if bits is None:
            bits = self._bits[problem_id] = bytearray(max(need, 128))
        elif len(bits) < need:
            bits.extend(bytes(max(need - len(bits), len(bits))))
        return bits

    def add(self, problem_id: str, sample_idx: int) -> None:
        if sample_idx < 0:
            raise ValueError(f"negative sample index {sample_idx}")
        bits = self._row(problem_id, sample_idx)
        mask = 1 << (sample_idx & 7)
        if not bits[sample_idx >> 3] & mask:
            bits[sample_idx >> 3] |= mask
            self._count += 1

    def add_many(self, problem_id: str, sample_idx: np.ndarray) -> None:
        """Add every index of the integer array ``sample_idx`` (shape (m,), duplicates allowed) for one problem."""
        idx = np.asarray(sample_idx, dtype=np.int64)
        if idx.size == 0:
            return
        if int(idx.min()) < 0:
            raise ValueError(f"negative sample index {int(idx.min())}")
        bits = self._row(problem_id, int(idx.max()))
        view = np.frombuffer(bits, dtype=np.uint8)  # writable: a view of the bytearray
        byte, mask = idx >> 3, (np.left_shift(1, idx & 7)).astype(np.uint8)
        new = idx[(view[byte] & mask) == 0]
        self._count += int(np.unique(new).size)
        np.bitwise_or.at(view, byte, mask)
        del view  # a live view would forbid resizing the bytearray later

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
