"""Module-level functions for tests/test_pool.py: spawned pool workers import them by name.

Each item is ``(kind, arg)``; ``behave`` does one well-behaved or hostile thing per kind.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def square(x: int) -> int:
    return x * x


def behave(item: tuple[str, Any]) -> Any:
    kind, arg = item
    if kind == "ok":
        return arg
    if kind == "pid":
        return os.getpid()
    if kind == "sleep":
        time.sleep(3600)
    if kind == "cpu":
        # One huge big-int power: C code that holds the GIL for minutes and never checks signals. The
        # operands are variables so that the compiler cannot try to fold the constant.
        base = 10
        return base**base**arg
    if kind == "exit":
        os._exit(arg)
    if kind == "segv":
        import ctypes

        ctypes.string_at(0)  # Reads address 0: SIGSEGV.
    if kind == "raise":
        raise ValueError(f"bad item {arg}")
    if kind == "unpicklable_result":
        return lambda: arg
    if kind == "grandchild":
        # Start a subprocess, tell the test its pid, then hang: the timeout must kill both.
        child = subprocess.Popen(["sleep", "600"])
        _write_atomically(Path(arg), str(child.pid))
        time.sleep(3600)
    if kind == "pidfile_sleep":
        _write_atomically(Path(arg) / f"{os.getpid()}.pid", str(os.getpid()))
        time.sleep(3600)
    raise AssertionError(f"unknown kind {kind!r}")


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Unpicklable:
    """An item that refuses to be pickled."""

    def __reduce__(self) -> Any:
        raise pickle.PicklingError("Unpicklable refuses to be pickled")


def on_timeout(item: Any) -> str:
    return "TIMEOUT"


def on_crash(item: Any, message: str) -> str:
    return f"CRASH {message}"


if __name__ == "__main__":
    # Parent for the parent-death test: run a pool whose workers hang, until the test SIGKILLs us.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from evalkit.verify.pool import run_pool

    run_pool(
        behave,
        [("pidfile_sleep", sys.argv[1])] * 2,
        workers=2,
        chunk_size=1,
        timeout_s=600,
        on_timeout=on_timeout,
        on_crash=on_crash,
    )
