"""Timing one callable per batch: warm-up, then the best and median of several repetitions."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Timing", "time_call"]


@dataclass(frozen=True)
class Timing:
    batch: int
    seconds_median: float
    seconds_best: float
    repeats: int

    @property
    def per_shower_s(self) -> float:
        """Median wall time per shower in seconds."""
        return self.seconds_median / self.batch

    @property
    def showers_per_s(self) -> float:
        return self.batch / self.seconds_median


def time_call(
    fn: Callable[[], object],
    batch: int,
    *,
    min_repeats: int = 3,
    max_repeats: int = 50,
    budget_s: float = 2.0,
    warmup: int = 1,
) -> Timing:
    """Time ``fn`` (which generates ``batch`` showers) after ``warmup`` calls: at least
    ``min_repeats`` and at most ``max_repeats`` repetitions, stopping once ``budget_s`` is spent."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    spent = 0.0
    while len(times) < min_repeats or (len(times) < max_repeats and spent < budget_s):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
    return Timing(batch, statistics.median(times), min(times), len(times))
