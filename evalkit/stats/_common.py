"""Shared types, input checks and the block size of evalkit.stats (private)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Alternative = Literal["two-sided", "less", "greater"]
BootMethod = Literal["studentized", "bca", "percentile"]

# Upper bound on the elements of one temporary block (tables, resample counts, permutations), so that
# memory stays around 32 MiB whatever the input size.
_BLOCK = 1 << 22


# ----------------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------------


def _as_counts(name: str, n: ArrayLike, c: ArrayLike) -> tuple[IntArray, IntArray]:
    """Validated integer (n, c) arrays; they are not broadcast (callers broadcast lazily)."""
    n_a = np.asarray(n, dtype=np.int64)
    c_a = np.asarray(c, dtype=np.int64)
    np.broadcast_shapes(n_a.shape, c_a.shape)  # raises ValueError on a shape mismatch
    if np.any(n_a < 1):
        raise ValueError(f"{name}: n must be >= 1")
    if np.any(c_a < 0) or np.any(c_a > n_a):
        raise ValueError(f"{name}: c must satisfy 0 <= c <= n")
    return n_a, c_a


def _as_k(name: str, k: ArrayLike) -> IntArray:
    k_a = np.asarray(k, dtype=np.int64)
    if np.any(k_a < 1):
        raise ValueError(f"{name}: k must be >= 1")
    return k_a


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _check_alternative(alternative: str) -> None:
    if alternative not in ("two-sided", "less", "greater"):
        raise ValueError(f"alternative must be 'two-sided', 'less' or 'greater', got {alternative!r}")
