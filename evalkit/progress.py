"""A rich progress bar on stderr, or nothing when disabled."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def progress_bar(label: str, total: int | None, disable: bool = False) -> Iterator[Callable[..., None]]:
    """Yield ``advance(k, **update)``: advances by k and applies rich ``update`` fields (total, completed)."""
    if disable:
        yield lambda *args, **kwargs: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=total)

        def advance(k: int = 1, **update: Any) -> None:
            if update:
                progress.update(task, **update)
            if k:
                progress.advance(task, k)

        yield advance
