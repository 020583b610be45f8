"""Simulation and generation fanned out over a Dask cluster, one part file per task.

The showers ``[0, n)`` are cut into contiguous parts ``[a, b)``; each Dask task writes its part
to ``<out dir>/.<out name>.parts-<job hash>/showers-<a>-<b>.h5`` and the parts are merged, in
order, into ``out`` with :func:`caloforge.io.merge_files` (atomically: ``out`` appears only when
complete). The output is the file a local run writes, shower for shower:

- a simulation task fires the gun for all ``n`` showers with the job's seed and simulates its
  slice ``[a, b)`` of that sample -- every shower keeps the seed it has in a local run;
- a generation task calls :func:`caloforge.models.generate` with ``chunks=range(k0, k1)``: batch
  ``k``'s noise depends on ``(seed, k)`` only.

Failures: a task that raises is retried (``retries``); a worker that dies has its tasks
rescheduled by Dask. Part files are written atomically and a task whose part file exists
returns at once, so a retried or duplicated task neither loses nor repeats showers, and rerunning
an interrupted job (same arguments) reuses the parts already done. The part folder's name
hashes the job's arguments, so parts of another job are never mixed in; it is removed after the
merge unless ``keep_parts``.

Cluster: ``client`` (a ``distributed.Client``), or ``scheduler`` (the address of a running
scheduler, e.g. ``tcp://10.0.0.5:8786``; its workers must see the output folder), or ``cluster``
``"local"`` / ``"local:N"`` (a local cluster of N single-threaded worker processes; default all
cores).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge.geometry import Geometry, get_geometry
from caloforge.io import ShowerWriter, atomic_path, count_showers, merge_files, read_showers
from caloforge.showerset import ShowerSet
from caloforge.simulation import Cuts, SimulationResult, get_engine
from caloforge.simulation.gun import ParticleGun

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["FanOut", "dask_client", "generate_on_dask", "parse_cluster", "simulate_on_dask"]

#: the file attribute holding caloforge's JSON provenance (see :mod:`caloforge.io.hdf5`)
_BOOKKEEPING = ("incident_energy", "active_mev", "passive_mev", "escaped_mev", "below_cut_mev")


@dataclass
class FanOut:
    """How a job was spread: part ranges ``[a, b)`` (showers), tasks run, wall time (s)."""

    parts: list[tuple[int, int]]
    workers: int
    seconds: float
    reused_parts: int = 0
    attrs: dict[str, Any] = field(default_factory=dict)


# ---- the cluster ----------------------------------------------------------------------------


def parse_cluster(text: str) -> int | None:
    """``"local"`` -> None (all cores), ``"local:N"`` -> N; anything else is an error."""
    name, sep, count = text.partition(":")
    if name != "local" or (sep and not count.isdigit()) or (sep and int(count) < 1):
        msg = f"--cluster {text!r}: expected 'local' or 'local:N' with N >= 1 workers"
        raise ValueError(msg)
    return int(count) if sep else None


@contextlib.contextmanager
def dask_client(
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    cluster: str | None = None,
    processes: bool = True,
) -> Iterator[Client]:
    """A Dask client for the job: the given one (left open), one connected to ``scheduler``,
    or a local cluster (``cluster`` ``"local[:N]"``, the default) that is closed afterwards.
    ``processes=False`` runs a local cluster's workers as threads of this process."""
    from distributed import Client, LocalCluster

    if sum(x is not None for x in (client, scheduler, cluster)) > 1:
        msg = "give at most one of a Dask client, --scheduler ADDRESS or --cluster local[:N]"
        raise ValueError(msg)
    if client is not None:
        yield client
        return
    if scheduler is not None:
        try:
            connected = Client(scheduler, timeout="30s")
        except OSError as exc:
            msg = f"--scheduler {scheduler!r}: cannot connect to a Dask scheduler: {exc}"
            raise ValueError(msg) from exc
        with connected:
            yield connected
        return
    n = parse_cluster(cluster or "local")
    local = LocalCluster(
        n_workers=n or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=None,
    )
    with local, Client(local) as c:
        yield c


def _split(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def _job_hash(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _parts_dir(out: Path, doc: dict[str, Any]) -> Path:
    out = Path(out)
    if out.is_dir():
        msg = f"{out}: is a directory; expected a file name such as showers.h5"
        raise ValueError(msg)
    if not out.parent.is_dir():
        msg = f"{out}: cannot write, directory {out.parent} does not exist"
        raise ValueError(msg)
    d = out.parent / f".{out.name}.parts-{_job_hash(doc)}"
    d.mkdir(exist_ok=True)
    return d


def _part_name(a: int, b: int) -> str:
    return f"showers-{a:010d}-{b:010d}.h5"


def _run_tasks(
    client: Client,
    fn: Callable[..., Any],
    specs: Sequence[Any],
    *,
    retries: int,
    prefix: str,
) -> list[Any]:
    """Run ``fn(spec)`` per spec on the cluster (each retried ``retries`` times); results in order."""
    if retries < 0:
        msg = f"retries must be >= 0, got {retries}"
        raise ValueError(msg)
    futures = [
        client.submit(fn, s, key=f"{prefix}-{i}", retries=retries, pure=False)
        for i, s in enumerate(specs)
    ]
    return list(client.gather(futures))


def _merge(parts: list[Path], out: Path, attrs: dict[str, Any]) -> None:
    """Merge ``parts`` in order into ``out`` atomically, with ``attrs`` as the file's provenance."""
    merge_files(parts, out, attrs=attrs)


def _n_workers(client: Client) -> int:
    return len(client.scheduler_info().get("workers", {}))


# ---- simulation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _SimPart:
    path: Path
    start: int
    stop: int
    n: int
    geometry: Geometry
    gun: ParticleGun
    seed: int
    engine: str
    cuts: Cuts | None
    threads: int
    batch_size: int
    attrs: dict[str, Any]
    compression: str | None


def _simulate_part(p: _SimPart) -> dict[str, np.ndarray]:
    """Simulate showers ``[p.start, p.stop)`` into ``p.path`` (skipped if it exists); returns
    the per-shower bookkeeping (MeV), kept beside the part in ``.npz``."""
    book = p.path.with_suffix(".npz")
    if p.path.is_file() and book.is_file():
        with np.load(book) as z:
            return {k: z[k] for k in z.files}
    run = get_engine(p.engine)
    sample = p.gun.sample(p.n, p.geometry, p.seed)[p.start : p.stop]
    kwargs: dict[str, Any] = {"workers": p.threads}
    if p.cuts is not None:
        kwargs["cuts"] = p.cuts
    out: dict[str, list[np.ndarray]] = {k: [] for k in (*_BOOKKEEPING, "visible_mev")}
    with ShowerWriter(
        p.path,
        p.geometry,
        particle=p.gun.particle,
        conditions=list(sample.conditions),
        attrs=p.attrs | {"part": [p.start, p.stop]},
        compression=p.compression,
    ) as writer:
        for a in range(0, len(sample), p.batch_size):
            part = sample[a : a + p.batch_size]
            eng = run(p.geometry, part, **kwargs)
            writer.append(
                ShowerSet(part.energy_mev, eng.cells, p.geometry, p.gun.particle, part.conditions)
            )
            out["incident_energy"].append(np.asarray(part.energy_mev, dtype=np.float64))
            for key in _BOOKKEEPING[1:]:
                out[key].append(np.asarray(getattr(eng, key), dtype=np.float64))
            out["visible_mev"].append(eng.visible())
        arrays = {k: np.concatenate(v) for k, v in out.items()}
        # bookkeeping first: the part file, renamed into place last, marks the task done
        with atomic_path(book) as tmp, tmp.open("wb") as f:
            np.savez(f, **arrays)
    return arrays


def simulate_on_dask(
    geometry: Geometry | str,
    gun: ParticleGun,
    n: int,
    out: str | Path,
    *,
    seed: int = 0,
    engine: str = "cascade",
    cuts: Cuts | None = None,
    client: Client | None = None,
    scheduler: str | None = None,
    cluster: str | None = None,
    processes: bool = True,
    part_size: int | None = None,
    threads_per_task: int = 1,
    batch_size: int = 200,
    retries: int = 2,
    compression: str | None = None,
    keep_parts: bool = False,
) -> SimulationResult:
    """:func:`caloforge.simulation.simulate_to_file` on a Dask cluster: the same showers in
    ``out`` (see the module docstring for the cluster options and the failure model).

    ``part_size``: showers per task (default: ``n`` over 4 tasks per worker, at least 10);
    ``threads_per_task``: the engine's threads in each task; ``batch_size``: showers per engine
    call inside a task. The result's ``seconds`` is the job's wall time (simulation, transfer
    and merge); ``attrs["dask"]`` records the parts and workers.
    """
    from caloforge.simulation import provenance

    geometry = get_geometry(geometry) if isinstance(geometry, str) else geometry
    get_engine(engine)
    if not isinstance(n, int | np.integer) or n <= 0:
        msg = f"number of showers must be a positive integer, got {n!r}"
        raise ValueError(msg)
    if cuts is not None and engine != "cascade":
        msg = f"cuts apply to the cascade engine only, not {engine!r}"
        raise ValueError(msg)
    for name, value in (("threads_per_task", threads_per_task), ("batch_size", batch_size)):
        if value < 1:
            msg = f"{name} must be >= 1, got {value}"
            raise ValueError(msg)
    out = Path(out)
    attrs = provenance(geometry, gun, int(n), seed, engine, cuts)
    t0 = time.perf_counter()
    with dask_client(client=client, scheduler=scheduler, cluster=cluster, processes=processes) as c:
        workers = max(1, _n_workers(c))
        size = part_size or max(10, math.ceil(n / (4 * workers)))
        if size < 1:
            msg = f"part_size must be >= 1, got {size}"
            raise ValueError(msg)
        ranges = _split(int(n), size)
        job = {"kind": "simulate", "geometry": geometry.to_json(), "gun": asdict(gun), "n": n}
        job |= {"seed": seed, "engine": engine, "cuts": cuts and cuts.to_dict(), "size": size}
        parts_dir = _parts_dir(out, job)
        specs = [
            _SimPart(
                parts_dir / _part_name(a, b),
                a,
                b,
                int(n),
                geometry,
                gun,
                seed,
                engine,
                cuts,
                threads_per_task,
                batch_size,
                attrs,
                compression,
            )
            for a, b in ranges
        ]
        reused = sum(s.path.is_file() for s in specs)
        books = _run_tasks(c, _simulate_part, specs, retries=retries, prefix=f"simulate-{out.name}")
    arrays = {k: np.concatenate([b[k] for b in books]) for k in books[0]}
    visible = arrays["visible_mev"]
    attrs["mean_sampling_fraction"] = float((visible / arrays["incident_energy"]).mean())
    attrs["dask"] = {"parts": len(ranges), "part_size": size, "workers": workers}
    _merge([s.path for s in specs], out, attrs)
    if not keep_parts:
        shutil.rmtree(parts_dir, ignore_errors=True)
    seconds = time.perf_counter() - t0
    attrs["dask"] |= {"wall_seconds": seconds, "reused_parts": reused}
    return SimulationResult(
        n=int(n),
        incident_energy=arrays["incident_energy"],
        active_mev=arrays["active_mev"],
        passive_mev=arrays["passive_mev"],
        escaped_mev=arrays["escaped_mev"],
        below_cut_mev=arrays["below_cut_mev"],
        visible_mev=visible,
        seconds=seconds,
        attrs=attrs,
        path=out,
    )


# ---- generation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _GenPart:
    path: Path
    chunks: range
    model_dir: Path
    kwargs: dict[str, Any]


def _generate_part(p: _GenPart) -> dict[str, Any]:
    """Generate batches ``p.chunks`` into ``p.path`` (skipped if it exists); returns its attrs."""
    if not p.path.is_file():
        from caloforge.models import generate

        generate(p.model_dir, p.path, chunks=p.chunks, progress=False, **p.kwargs)
    return dict(read_showers(p.path, stop=0).attrs)


def _rows(n: int | None, energies: float | Sequence[float] | None, like: Path | None) -> int:
    """How many showers :func:`caloforge.models.generate` makes for these arguments."""
    if (energies is None) == (like is None):
        msg = "generate: give exactly one of energies (with n) or like (a reference file)"
        raise ValueError(msg)
    if n is not None and n < 0:
        msg = f"generate: n must be >= 0, got {n}"
        raise ValueError(msg)
    if like is None:
        if n is None:
            msg = "generate: with energies, give n (showers per energy)"
            raise ValueError(msg)
        return n * int(np.atleast_1d(np.asarray(energies)).size)
    rows = count_showers(like)
    return rows if n is None else min(n, rows)


def generate_on_dask(
    model_dir: str | Path,
    out: str | Path,
    *,
    n: int | None = None,
    energies: float | Sequence[float] | None = None,
    like: str | Path | None = None,
    config: int | None = None,
    seed: int = 0,
    batch_size: int = 10_000,
    batches_per_task: int = 1,
    backend: str = "torch",
    onnx_path: str | Path | None = None,
    threads_per_task: int = 1,
    client: Client | None = None,
    scheduler: str | None = None,
    cluster: str | None = None,
    processes: bool = True,
    retries: int = 2,
    keep_parts: bool = False,
) -> FanOut:
    """:func:`caloforge.models.generate` on a Dask cluster (CPU workers): the same showers in
    ``out`` as a local call with the same arguments. Each task generates ``batches_per_task``
    batches of ``batch_size`` showers. Returns how the job was spread."""
    if batch_size < 1 or batches_per_task < 1 or threads_per_task < 1:
        msg = f"batch_size, batches_per_task and threads_per_task must be >= 1, got {batch_size}, {batches_per_task}, {threads_per_task}"
        raise ValueError(msg)
    model_dir, out = Path(model_dir), Path(out)
    if not (model_dir / "model.json").is_file():
        msg = f"{model_dir}: not a model folder (no model.json)"
        raise ValueError(msg)
    like_path = None if like is None else Path(like).resolve()
    rows = _rows(n, energies, like_path)
    n_batches = math.ceil(rows / batch_size)
    kwargs: dict[str, Any] = {
        "n": n,
        "energies": energies,
        "like": like_path,
        "config": config,
        "seed": seed,
        "batch_size": batch_size,
        "backend": backend,
        "onnx_path": None if onnx_path is None else Path(onnx_path).resolve(),
        "threads": threads_per_task,
    }
    job = {"kind": "generate", "model": str(model_dir.resolve()), "per_task": batches_per_task}
    job |= kwargs | {"model_mtime": (model_dir / "weights.safetensors").stat().st_mtime_ns}
    parts_dir = _parts_dir(out, job)
    ks = [
        range(k, min(k + batches_per_task, n_batches))
        for k in range(0, n_batches, batches_per_task)
    ]
    if not ks:  # no showers: one task still writes the (empty) file with its attrs
        ks = [range(0)]
    specs = [
        _GenPart(
            parts_dir / _part_name(r.start * batch_size, min(r.stop * batch_size, rows)),
            r,
            model_dir.resolve(),
            kwargs,
        )
        for r in ks
    ]
    reused = sum(s.path.is_file() for s in specs)
    t0 = time.perf_counter()
    with dask_client(client=client, scheduler=scheduler, cluster=cluster, processes=processes) as c:
        workers = _n_workers(c)
        part_attrs = _run_tasks(
            c, _generate_part, specs, retries=retries, prefix=f"generate-{out.name}"
        )
    attrs = dict(part_attrs[0])  # every part records the whole job (n_outside_trained_range too)
    attrs["dask"] = {"parts": len(specs), "batches_per_task": batches_per_task, "workers": workers}
    _merge([s.path for s in specs], out, attrs)
    if not keep_parts:
        shutil.rmtree(parts_dir, ignore_errors=True)
    parts = [(s.chunks.start * batch_size, min(s.chunks.stop * batch_size, rows)) for s in specs]
    return FanOut(parts, workers, time.perf_counter() - t0, reused, attrs)
