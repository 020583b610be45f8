"""The simulation loop: fire the gun, cut the showers of a row range into batches, run the
engine on each. Shower ``i`` has the seed it gets among the ``n`` the gun fires, so any row
range, batch size or thread count gives the same showers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from caloforge.geometry import Geometry
from caloforge.showerset import ShowerSet
from caloforge.simulation.cascade import Cuts
from caloforge.simulation.engine import EngineOutput
from caloforge.simulation.gun import ParticleGun
from caloforge.simulation.registry import get_engine

__all__ = ["BATCH_BYTES", "Batches", "check_job", "default_batch_size"]

#: the default batch size keeps one batch's cells, at 8 bytes a cell (a bound on the engines'
#: per-cell arrays), below this many bytes; it depends on the geometry only, never on the number of showers, so the
#: memory of a streamed job is the same for any ``n``
BATCH_BYTES = 16 << 20
#: the default batch size never falls below this many showers (very fine geometries)
MIN_BATCH = 16


def default_batch_size(geometry: Geometry) -> int:
    """Showers per batch when none is given: ``BATCH_BYTES // (8 * n_cells)``, at least
    ``MIN_BATCH`` (e.g. 323 for the 6480 cells of calochallenge-2); independent of ``n``."""
    return max(MIN_BATCH, BATCH_BYTES // (8 * max(geometry.n_cells, 1)))


def check_job(
    n: int,
    *,
    engine: str,
    cuts: Cuts | None,
    batch_size: int | None,
    workers: int | None,
    rows: tuple[int, int] | None,
) -> tuple[int, int]:
    """Validate a simulation job's arguments; returns its row range (``[0, n)`` by default)."""
    if not isinstance(n, int | np.integer) or n <= 0:
        msg = f"number of showers must be a positive integer, got {n!r}"
        raise ValueError(msg)
    if batch_size is not None and batch_size <= 0:
        msg = f"batch_size must be > 0, got {batch_size}"
        raise ValueError(msg)
    if workers is not None and workers <= 0:
        msg = f"workers must be > 0, got {workers}"
        raise ValueError(msg)
    get_engine(engine)
    if cuts is not None and engine != "cascade":
        msg = f"cuts apply to the cascade engine only, not {engine!r}"
        raise ValueError(msg)
    start, stop = (0, int(n)) if rows is None else (int(rows[0]), int(rows[1]))
    if not 0 <= start < stop <= n:
        msg = f"rows must satisfy 0 <= start < stop <= n = {n}, got [{start}, {stop})"
        raise ValueError(msg)
    return start, stop


@dataclass
class Batches:
    """Showers ``[start, stop)`` of the ``n`` that ``gun`` fires with ``seed``, simulated in
    batches of ``batch_size`` (default: :func:`default_batch_size`) on ``workers`` threads
    (default: all numba threads). Iterating yields each batch's ShowerSet and engine output;
    ``seconds`` sums the engine calls' wall time."""

    geometry: Geometry
    gun: ParticleGun
    n: int
    start: int
    stop: int
    seed: int
    engine: str
    workers: int | None = None
    batch_size: int | None = None
    cuts: Cuts | None = None
    seconds: float = 0.0

    def __iter__(self) -> Iterator[tuple[ShowerSet, EngineOutput]]:
        run: Callable[..., EngineOutput] = get_engine(self.engine)
        sample = self.gun.sample(self.n, self.geometry, self.seed)[self.start : self.stop]
        size = self.batch_size or default_batch_size(self.geometry)
        workers = self.workers
        if workers is None:  # engines get an explicit thread count: all cores
            import numba

            workers = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
        kwargs: dict[str, Any] = {"workers": workers}
        if self.cuts is not None:
            kwargs["cuts"] = self.cuts
        for a in range(0, len(sample), size):
            part = sample[a : a + size]
            t0 = time.perf_counter()
            out = run(self.geometry, part, **kwargs)
            self.seconds += time.perf_counter() - t0
            showers = ShowerSet(
                part.energy_mev, out.cells, self.geometry, self.gun.particle, dict(part.conditions)
            )
            yield showers, out
