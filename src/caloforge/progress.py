"""Progress and messages on stderr, one system for every stage (simulate, generate, train, the
demo): a rich progress bar in a terminal, plain periodic lines anywhere else, one-line warnings.

In a terminal the bar redraws in place. Anywhere else (a log file, a CI job, a batch system, a
pipe) a redrawing bar would write ``\\r`` updates or nothing at all, so a plain line such as
``simulate: 400/2000 showers (20%), 31.2 showers/s`` or
``wgan-gp seed 0: step 400/2000 (20%), 3.1 steps/s, critic=-0.52 generator=0.31`` is printed
every ``every`` units (default: :data:`LINES_PER_RUN` lines a run) and at the last one.

Warnings raised inside :func:`warnings_as_lines` print as one line, ``warning: MESSAGE``, not in
Python's default format (file, line number and the echoed source line).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Literal, TextIO

from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = [
    "LINES_PER_RUN",
    "StageProgress",
    "TrainingProgress",
    "progress_bar",
    "stderr_console",
    "warnings_as_lines",
]

#: plain lines per run when ``every`` is not given
LINES_PER_RUN = 20


def stderr_console() -> Console:
    """The console progress and messages go to: stderr, never wrapping a long path."""
    return Console(stderr=True, soft_wrap=True)


def _postfix(values: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.3g}" for k, v in list(values.items())[:3])


class StageProgress:
    """Units ``initial..total`` of one stage (``unit``: ``"step"`` for training, ``"shower"``
    for simulation and generation, ``"epoch"`` for the evaluation classifiers);
    ``enabled=False`` prints nothing.

    ``console``: where to write (default stderr); ``every``: units between plain lines."""

    def __init__(
        self,
        total: int,
        *,
        initial: int = 0,
        description: str = "training",
        unit: Literal["step", "shower", "epoch"] = "step",
        enabled: bool = True,
        console: Console | None = None,
        every: int | None = None,
    ) -> None:
        self.total, self.done, self.description, self.unit = total, initial, description, unit
        self.enabled = enabled
        self.console = console if console is not None else stderr_console()
        self.every = every if every is not None else max(1, total // LINES_PER_RUN)
        self._initial, self._t0 = initial, time.perf_counter()
        self._next_line = (initial // self.every + 1) * self.every
        self._postfix = ""
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if enabled and self.console.is_terminal:
            from rich.progress import (  # only for a terminal: keeps the CLI's start light
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(f"{unit}s"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[postfix]}"),
                console=self.console,
            )
            self._task = self._bar.add_task(description, total=total, completed=initial, postfix="")
            self._bar.start()

    @property
    def step(self) -> int:
        """Units done so far (training steps)."""
        return self.done

    def advance(self, values: dict[str, float] | None = None, *, k: int = 1) -> None:
        """``k`` units done; ``values`` (e.g. losses, when given) are shown with the next
        update (the first three)."""
        self.done += k
        if values is not None:
            self._postfix = _postfix(values)
        if not self.enabled:
            return
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=k, postfix=self._postfix)
        elif self.done >= self._next_line or self.done >= self.total:
            self._next_line = (self.done // self.every + 1) * self.every
            self.console.print(self.line(), highlight=False, markup=False, soft_wrap=True)

    def line(self) -> str:
        """The plain progress line for the units done so far."""
        elapsed = time.perf_counter() - self._t0
        rate = (self.done - self._initial) / elapsed if elapsed > 0 else 0.0
        pct = 100 * self.done / self.total if self.total else 100.0
        count = (
            f"step {self.done}/{self.total}"
            if self.unit == "step"
            else f"{self.done}/{self.total} {self.unit}s"
        )
        text = f"{self.description}: {count} ({pct:.0f}%), {rate:.3g} {self.unit}s/s"
        return f"{text}, {self._postfix}" if self._postfix else text

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


#: the trainer's name for a stage counted in steps
TrainingProgress = StageProgress


@contextlib.contextmanager
def progress_bar(
    label: str, total: int, *, show: bool = True, console: Console | None = None
) -> Iterator[Callable[[int], None]]:
    """A context yielding ``advance(k)``, which moves the progress ``k`` showers of ``total``
    (a bar in a terminal, plain periodic lines elsewhere, nothing when ``show`` is False)."""
    with StageProgress(
        total, description=label, unit="shower", enabled=show, console=console
    ) as progress:
        yield lambda k: progress.advance(k=k)


@contextlib.contextmanager
def warnings_as_lines(console: Console | None = None) -> Iterator[None]:
    """Inside: each warning prints as one line ``warning: MESSAGE`` (plain text, no markup)."""
    out = console if console is not None else stderr_console()

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        out.print(
            Text.assemble(("warning:", "yellow"), " ", str(message)),
            highlight=False,
            soft_wrap=True,
        )

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
