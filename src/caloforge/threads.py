"""How many CPU threads a stage uses when the user did not say: the cores this process may run
on that other work leaves idle.

PyTorch's default (one intra-op thread per core) oversubscribes a busy machine: with other
processes on every core, a training step of the demo went from 0.07 s to 2.6-10 s because the
threads wait on one another. :func:`choose_threads` takes the cores of the process's CPU
affinity mask (``os.sched_getaffinity``, which honours taskset and container CPU sets), minus
the 1-minute load average, rounded, at least 1; an explicit request or ``OMP_NUM_THREADS`` in
the environment wins. The choice carries its reason, which the caller prints.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

__all__ = ["ThreadChoice", "available_cores", "choose_threads"]


@dataclass(frozen=True)
class ThreadChoice:
    """``threads`` to use and why (one line, for the user)."""

    threads: int
    reason: str

    def __str__(self) -> str:
        return f"{self.threads} thread{'s' if self.threads != 1 else ''} ({self.reason})"


def available_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):  # pragma: no cover - macOS / Windows
        return max(os.cpu_count() or 1, 1)


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return None


def choose_threads(
    requested: int | None = None,
    *,
    cores: int | None = None,
    load: float | None = None,
    environ: dict[str, str] | None = None,
) -> ThreadChoice:
    """Threads for a CPU stage: ``requested`` when given; else ``OMP_NUM_THREADS`` when set;
    else the idle cores: round(cores - load), between 1 and ``cores``. ``cores`` and ``load``
    default to :func:`available_cores` and the 1-minute load average."""
    if requested is not None:
        if requested < 1:
            msg = f"threads must be >= 1, got {requested}"
            raise ValueError(msg)
        return ThreadChoice(requested, "as requested")
    env = os.environ if environ is None else environ
    omp = env.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) >= 1:
        return ThreadChoice(int(omp), f"OMP_NUM_THREADS={omp}")
    n_cores = available_cores() if cores is None else cores
    avg = _load_average() if load is None else load
    if avg is None:
        return ThreadChoice(n_cores, f"{n_cores} available cores")
    idle = min(max(math.floor(n_cores - avg + 0.5), 1), n_cores)
    return ThreadChoice(idle, f"{n_cores} available cores, load average {avg:.1f}")
