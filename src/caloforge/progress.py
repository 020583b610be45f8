"""The progress bar of a long stage (on stderr, rich), or nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

__all__ = ["progress_bar"]


@contextlib.contextmanager
def progress_bar(label: str, total: int, *, show: bool = True) -> Iterator[Callable[[int], None]]:
    """A context yielding ``advance(k)``, which moves the bar ``k`` showers of ``total``."""
    if not show:
        yield lambda k: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} showers"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with bar:
        task = bar.add_task(label, total=total)
        yield lambda k: bar.advance(task, k)
