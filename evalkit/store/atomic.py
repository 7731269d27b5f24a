"""Atomic file replacement: write a temporary file, fsync it, rename it into place, fsync the folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def tmp_path_for(path: Path) -> Path:
    """The temporary name a writer uses for ``path`` (``.tmp-<pid>-<name>``, removed by the next writer lock)."""
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def replace_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Have ``write`` fill a temporary file beside ``path``, then put it in place atomically.

    A crash at any moment leaves either the old ``path`` (or none) or the complete new one, plus at most a
    ``.tmp-*`` file that the run's next writer removes.
    """
    tmp = tmp_path_for(path)
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ASCII ``text`` atomically (see :func:`replace_atomic`)."""
    replace_atomic(path, lambda tmp: tmp.write_text(text, encoding="ascii"))
