"""Reference showers: ``simulate`` (in memory) and ``simulate_to_file`` (streamed, atomic).

An engine is a function ``run(geometry, sample, *, workers) -> EngineOutput``
(:mod:`caloforge.simulation.engine`); :data:`ENGINES` names them: ``"cascade"`` (the
electromagnetic cascade Monte Carlo, :mod:`caloforge.simulation.cascade`) and ``"gflash"`` (the
GFlash parametrisation, imported when first used). Showers are fired by a
:class:`~caloforge.simulation.gun.ParticleGun`; each gets its own seed derived from
``(seed, index)``, so the output is the same whatever ``workers`` and ``batch_size`` are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from caloforge.geometry import Geometry, get_geometry
from caloforge.io import ShowerWriter
from caloforge.showerset import ShowerSet
from caloforge.simulation.cascade import Cuts, run_cascade
from caloforge.simulation.engine import EngineOutput
from caloforge.simulation.gun import GunSample, ParticleGun

__all__ = [
    "ENGINES",
    "Cuts",
    "SimulationResult",
    "get_engine",
    "provenance",
    "simulate",
    "simulate_to_file",
]

Engine = Callable[..., EngineOutput]


def _run_gflash(geometry: Geometry, sample: GunSample, *, workers: int | None) -> EngineOutput:
    from caloforge.simulation.gflash import run_gflash  # lazy: optional, written separately

    return run_gflash(geometry, sample, workers=workers)


#: engine name -> ``run(geometry, sample, *, workers) -> EngineOutput``
ENGINES: dict[str, Engine] = {"cascade": run_cascade, "gflash": _run_gflash}

#: cells of float64 accumulated per batch are kept below this many bytes by the default batch
_BATCH_BYTES = 64 << 20


def get_engine(name: str) -> Engine:
    """The engine called ``name``; unknown names list the known ones."""
    try:
        return ENGINES[name]
    except KeyError:
        msg = f"unknown engine {name!r}; engines: {', '.join(ENGINES)}"
        raise ValueError(msg) from None


@dataclass
class SimulationResult:
    """What a simulation produced.

    ``showers`` (None for :func:`simulate_to_file`, whose showers are in ``path``), and per
    shower in MeV the engine's bookkeeping: ``active_mev``, ``passive_mev``, ``escaped_mev``,
    ``below_cut_mev`` (see :mod:`caloforge.simulation.cascade.transport` for their exact
    meaning) and ``visible_mev`` (all energy seen by the active medium). ``seconds`` is the
    wall time of the engine calls.
    """

    n: int
    incident_energy: np.ndarray
    active_mev: np.ndarray
    passive_mev: np.ndarray
    escaped_mev: np.ndarray
    below_cut_mev: np.ndarray
    visible_mev: np.ndarray
    seconds: float
    attrs: dict[str, Any] = field(default_factory=dict)
    showers: ShowerSet | None = None
    path: Path | None = None

    @property
    def sampling_fraction(self) -> np.ndarray:
        """(n,) visible / incident energy."""
        return self.visible_mev / self.incident_energy

    @property
    def mean_sampling_fraction(self) -> float:
        return float(self.sampling_fraction.mean())

    @property
    def showers_per_second(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("inf")


def _versions() -> dict[str, str]:
    import numba

    from caloforge import __version__

    return {"caloforge": __version__, "numpy": np.__version__, "numba": numba.__version__}


def _check(n: int, batch_size: int | None, workers: int | None) -> None:
    if not isinstance(n, int | np.integer) or n <= 0:
        msg = f"number of showers must be a positive integer, got {n!r}"
        raise ValueError(msg)
    if batch_size is not None and batch_size <= 0:
        msg = f"batch_size must be > 0, got {batch_size}"
        raise ValueError(msg)
    if workers is not None and workers <= 0:
        msg = f"workers must be > 0, got {workers}"
        raise ValueError(msg)


def _batches(
    geometry: Geometry,
    gun: ParticleGun,
    n: int,
    *,
    seed: int,
    workers: int | None,
    engine: str,
    batch_size: int | None,
    cuts: Cuts | None,
    progress: bool,
    stats: dict[str, Any],
) -> Iterator[tuple[ShowerSet, EngineOutput]]:
    """Simulate in batches; yields each batch's ShowerSet and engine output."""
    run = get_engine(engine)
    if cuts is not None and engine != "cascade":
        msg = f"cuts apply to the cascade engine only, not {engine!r}"
        raise ValueError(msg)
    sample = gun.sample(n, geometry, seed)
    if batch_size is None:
        batch_size = int(np.clip(_BATCH_BYTES // (8 * max(geometry.n_cells, 1)), 16, 1000))
    if workers is None:  # engines get an explicit thread count: all cores
        import numba

        workers = int(numba.config.NUMBA_NUM_THREADS)
    kwargs: dict[str, Any] = {"workers": workers}
    if cuts is not None:
        kwargs["cuts"] = cuts
    bar = None
    if progress:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(
            TextColumn("simulate"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} showers"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        bar.start()
        task = bar.add_task("simulate", total=n)
    try:
        for start in range(0, n, batch_size):
            part = sample[start : start + batch_size]
            t0 = time.perf_counter()
            out = run(geometry, part, **kwargs)
            stats["seconds"] += time.perf_counter() - t0
            showers = ShowerSet(
                part.energy_mev, out.cells, geometry, gun.particle, dict(part.conditions)
            )
            if bar is not None:
                bar.advance(task, len(part))
            yield showers, out
    finally:
        if bar is not None:
            bar.stop()


def provenance(
    geometry: Geometry, gun: ParticleGun, n: int, seed: int, engine: str, cuts: Cuts | None
) -> dict[str, Any]:
    """The provenance a simulation job writes into its file (engine, seed, geometry, gun, cuts,
    versions); a job fanned out over Dask records the same as a local run."""
    attrs: dict[str, Any] = {
        "engine": engine,
        "seed": int(seed),
        "n_showers": int(n),
        "geometry": geometry.name,
        "gun": {
            "particle": gun.particle,
            "energies_mev": list(gun.energies_mev),
            "energy_range_mev": list(gun.energy_range_mev) if gun.energy_range_mev else None,
            "log_uniform": gun.log_uniform,
        },
        "versions": _versions(),
    }
    if engine == "cascade":
        attrs["cuts"] = (cuts or Cuts()).to_dict()
    return attrs


def _result(
    n: int, outs: list[tuple[np.ndarray, EngineOutput]], seconds: float, attrs: dict[str, Any]
) -> SimulationResult:
    def cat(get: Callable[[EngineOutput], np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(get(o), dtype=np.float64) for _, o in outs])

    res = SimulationResult(
        n=n,
        incident_energy=np.concatenate([e for e, _ in outs]),
        active_mev=cat(lambda o: o.active_mev),
        passive_mev=cat(lambda o: o.passive_mev),
        escaped_mev=cat(lambda o: o.escaped_mev),
        below_cut_mev=cat(lambda o: o.below_cut_mev),
        visible_mev=cat(lambda o: o.visible()),
        seconds=seconds,
        attrs=attrs,
    )
    attrs["mean_sampling_fraction"] = res.mean_sampling_fraction
    return res


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
    _check(n, batch_size, workers)
    geometry = get_geometry(geometry) if isinstance(geometry, str) else geometry
    stats = {"seconds": 0.0}
    parts, outs = [], []
    for showers, out in _batches(
        geometry,
        gun,
        n,
        seed=seed,
        workers=workers,
        engine=engine,
        batch_size=batch_size,
        cuts=cuts,
        progress=progress,
        stats=stats,
    ):
        parts.append(showers)
        outs.append((showers.incident_energy, out))
    attrs = provenance(geometry, gun, n, seed, engine, cuts)
    res = _result(n, outs, stats["seconds"], attrs)
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
) -> SimulationResult:
    """Like :func:`simulate`, streaming batches into ``out`` (CaloChallenge HDF5 layout)
    through :class:`~caloforge.io.ShowerWriter`: the file appears only when complete, and an
    error leaves no partial file. The result has ``path`` set and ``showers=None``."""
    _check(n, batch_size, workers)
    geometry = get_geometry(geometry) if isinstance(geometry, str) else geometry
    get_engine(engine)
    out = Path(out)
    if out.is_dir():
        msg = f"{out}: is a directory; expected a file name such as showers.h5"
        raise ValueError(msg)
    attrs = provenance(geometry, gun, n, seed, engine, cuts)
    conditions = list(gun.sample(1, geometry, seed).conditions)
    stats = {"seconds": 0.0}
    outs = []
    writer = ShowerWriter(
        out,
        geometry,
        particle=gun.particle,
        conditions=conditions,
        attrs=attrs,
        compression=compression,
    )
    with writer:
        for showers, eng in _batches(
            geometry,
            gun,
            n,
            seed=seed,
            workers=workers,
            engine=engine,
            batch_size=batch_size,
            cuts=cuts,
            progress=progress,
            stats=stats,
        ):
            writer.append(showers)
            outs.append((showers.incident_energy, eng))
        res = _result(n, outs, stats["seconds"], attrs)
        writer.update_attrs(mean_sampling_fraction=res.mean_sampling_fraction)
    res.path = out
    return res
