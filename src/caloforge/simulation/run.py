"""The simulation stage: :func:`simulate` (in memory) and :func:`simulate_to_file` (streamed,
atomic; any row range; in this process or fanned out over an executor)."""

from __future__ import annotations

import functools
import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge.geometry import Geometry, get_geometry
from caloforge.io import ShowerWriter, check_output_path
from caloforge.progress import progress_bar
from caloforge.showerset import ShowerSet
from caloforge.simulation.batching import Batches, check_job
from caloforge.simulation.cascade import Cuts
from caloforge.simulation.gun import ParticleGun
from caloforge.simulation.record import provenance
from caloforge.simulation.result import Bookkeeping, SimulationResult

if TYPE_CHECKING:
    from caloforge.fanout import Executor

__all__ = ["simulate", "simulate_to_file"]


def simulate(
    geometry: Geometry | str,
    gun: ParticleGun,
    n: int,
    *,
    seed: int = 0,
    workers: int | None = None,
    engine: str = "cascade",
    batch_size: int | None = None,
    cuts: Cuts | None = None,
    progress: bool = True,
) -> SimulationResult:
    """Simulate ``n`` showers of ``gun`` in ``geometry`` (a Geometry or preset name).

    Returns a :class:`SimulationResult` whose ``showers`` carry the gun's conditions and
    provenance ``attrs`` (engine, seed, cuts, versions, mean sampling fraction). ``workers``:
    threads (default all); ``batch_size``: showers per engine call (default: by memory);
    ``cuts``: the cascade's :class:`Cuts`.
    """
    start, stop = check_job(
        n, engine=engine, cuts=cuts, batch_size=batch_size, workers=workers, rows=None
    )
    geometry = get_geometry(geometry) if isinstance(geometry, str) else geometry
    batches = Batches(geometry, gun, n, start, stop, seed, engine, workers, batch_size, cuts)
    book, parts = Bookkeeping(), []
    with progress_bar("simulate", stop - start, show=progress) as advance:
        for showers, out in batches:
            parts.append(showers)
            book.add(showers.incident_energy, out)
            advance(len(showers))
    attrs = provenance(geometry, gun, n, seed, engine, cuts)
    res = SimulationResult.from_arrays(book.arrays(), batches.seconds, attrs)
    res.showers = ShowerSet.concatenate(parts)
    res.showers.attrs = dict(attrs)
    return res


def simulate_to_file(
    geometry: Geometry | str,
    gun: ParticleGun,
    n: int,
    out: str | Path,
    *,
    seed: int = 0,
    workers: int | None = None,
    engine: str = "cascade",
    batch_size: int | None = None,
    cuts: Cuts | None = None,
    progress: bool = True,
    compression: str | None = None,
    rows: tuple[int, int] | None = None,
    executor: Executor | None = None,
    part_size: int | None = None,
    keep_parts: bool = False,
    overwrite: bool = False,
) -> SimulationResult:
    """Like :func:`simulate`, streaming batches into ``out`` (CaloChallenge HDF5 layout)
    through :class:`~caloforge.io.ShowerWriter`: the file appears only when complete, an error
    leaves no partial file, and memory does not grow with ``n`` beyond the per-shower
    bookkeeping (6 float64 and the gun's few values per shower; cells are never kept). The
    result has ``path`` set and ``showers=None``.

    ``rows=(start, stop)`` writes only showers ``[start, stop)`` of the ``n`` the gun fires,
    each identical to the same row of the whole job. ``executor``
    (:class:`caloforge.fanout.Executor`, e.g. :class:`caloforge.scale.dask.DaskExecutor`)
    runs this function on parts of ``part_size`` showers (default: 4 parts per worker, at
    least 10) and merges them (see :mod:`caloforge.fanout`); ``workers`` is then the engine's
    threads in each part (default 1), and the result's ``seconds`` is the job's wall time.
    An existing ``out`` is refused unless ``overwrite`` (checked before any work).
    """
    start, stop = check_job(
        n, engine=engine, cuts=cuts, batch_size=batch_size, workers=workers, rows=rows
    )
    geometry = get_geometry(geometry) if isinstance(geometry, str) else geometry
    out = check_output_path(out, overwrite=overwrite)
    if executor is not None:
        if rows is not None:
            msg = "simulate_to_file: give rows or an executor, not both"
            raise ValueError(msg)
        return _fan_out(
            executor,
            geometry,
            gun,
            int(n),
            out,
            seed=seed,
            workers=workers or 1,
            engine=engine,
            batch_size=batch_size,
            cuts=cuts,
            compression=compression,
            part_size=part_size,
            keep_parts=keep_parts,
            overwrite=overwrite,
        )
    attrs = provenance(geometry, gun, n, seed, engine, cuts, rows)
    conditions = list(gun.sample(1, geometry, seed).conditions)
    batches = Batches(geometry, gun, n, start, stop, seed, engine, workers, batch_size, cuts)
    book = Bookkeeping()
    writer = ShowerWriter(
        out,
        geometry,
        particle=gun.particle,
        conditions=conditions,
        attrs=attrs,
        compression=compression,
        overwrite=overwrite,
    )
    with writer, progress_bar("simulate", stop - start, show=progress) as advance:
        for showers, eng in batches:
            writer.append(showers)
            book.add(showers.incident_energy, eng)
            advance(len(showers))
        res = SimulationResult.from_arrays(book.arrays(), batches.seconds, attrs)
        writer.update_attrs(mean_sampling_fraction=res.mean_sampling_fraction)
    res.path = out
    return res


def _write_part(start: int, stop: int, path: Path, **job: Any) -> dict[str, np.ndarray]:
    """One part of a fanned-out job (module level: pickled to the executor's workers)."""
    res = simulate_to_file(out=path, rows=(start, stop), progress=False, overwrite=True, **job)
    return res.arrays()


def _fan_out(
    executor: Executor,
    geometry: Geometry,
    gun: ParticleGun,
    n: int,
    out: Path,
    *,
    seed: int,
    workers: int,
    engine: str,
    batch_size: int | None,
    cuts: Cuts | None,
    compression: str | None,
    part_size: int | None,
    keep_parts: bool,
    overwrite: bool,
) -> SimulationResult:
    from caloforge.fanout import fan_out, split_rows

    size = part_size or max(10, math.ceil(n / (4 * max(1, executor.workers))))
    ranges = split_rows(n, size)
    job = {"kind": "simulate", "geometry": geometry.to_json(), "gun": asdict(gun), "n": n}
    job |= {"seed": seed, "engine": engine, "cuts": cuts and cuts.to_dict(), "size": size}
    write = functools.partial(
        _write_part,
        geometry=geometry,
        gun=gun,
        n=n,
        seed=seed,
        workers=workers,
        engine=engine,
        batch_size=batch_size,
        cuts=cuts,
        compression=compression,
    )

    def attrs(arrays: dict[str, np.ndarray], first: Path) -> dict[str, object]:
        a = provenance(geometry, gun, n, seed, engine, cuts)
        return SimulationResult.from_arrays(arrays, 0.0, a).attrs

    fan = fan_out(
        executor,
        write,
        ranges,
        out,
        job=job,
        attrs=attrs,
        keep_parts=keep_parts,
        overwrite=overwrite,
    )
    res = SimulationResult.from_arrays(fan.arrays, fan.seconds, dict(fan.attrs))
    res.attrs[executor.name] = fan.attrs[executor.name] | {
        "wall_seconds": fan.seconds,
        "reused_parts": fan.reused_parts,
    }
    res.path = out
    return res
