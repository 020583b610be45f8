"""Training progress on stderr: a rich progress bar in a terminal, plain periodic lines otherwise.

In a terminal the bar redraws in place; anywhere else (a log file, a batch job, a pipe) a
redrawing bar would write ``\\r`` updates, so a line like
``wgan-gp seed 0: step 400/2000 (20%), 3.1 steps/s, critic=-0.52 generator=0.31`` is printed
every ``every`` steps (default: 20 lines a run) and at the last step.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["TrainingProgress"]

#: plain lines per run when ``every`` is not given
LINES_PER_RUN = 20


def _postfix(losses: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.3g}" for k, v in list(losses.items())[:3])


class TrainingProgress:
    """Steps ``initial..total`` of one run; ``enabled=False`` prints nothing.

    ``console``: where to write (default stderr); ``every``: steps between plain lines."""

    def __init__(
        self,
        total: int,
        *,
        initial: int = 0,
        description: str = "training",
        enabled: bool = True,
        console: Console | None = None,
        every: int | None = None,
    ) -> None:
        self.total, self.step, self.description = total, initial, description
        self.enabled = enabled
        self.console = console if console is not None else Console(stderr=True)
        self.every = every if every is not None else max(1, total // LINES_PER_RUN)
        self._initial, self._t0 = initial, time.perf_counter()
        self._postfix = ""
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if enabled and self.console.is_terminal:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[postfix]}"),
                console=self.console,
            )
            self._task = self._bar.add_task(description, total=total, completed=initial, postfix="")
            self._bar.start()

    def advance(self, losses: dict[str, float] | None = None) -> None:
        """One step done; ``losses`` (when given) are shown with the next update."""
        self.step += 1
        if losses is not None:
            self._postfix = _postfix(losses)
        if not self.enabled:
            return
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, postfix=self._postfix)
        elif self.step % self.every == 0 or self.step == self.total:
            self.console.print(self.line(), highlight=False, markup=False, soft_wrap=True)

    def line(self) -> str:
        """The plain progress line for the current step."""
        elapsed = time.perf_counter() - self._t0
        rate = (self.step - self._initial) / elapsed if elapsed > 0 else 0.0
        text = (
            f"{self.description}: step {self.step}/{self.total} "
            f"({100 * self.step / self.total:.0f}%), {rate:.3g} steps/s"
        )
        return f"{text}, {self._postfix}" if self._postfix else text

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> TrainingProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
