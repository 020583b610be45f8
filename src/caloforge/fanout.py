"""Running a stage over parts of its rows: the executor interface and the part-file fan-out.

A stage that writes rows ``[0, n)`` to a file (:func:`caloforge.simulation.simulate_to_file`,
:func:`caloforge.generation.generate`) can write any row range ``[a, b)`` on its own and get,
row for row, what the whole job writes there. :func:`fan_out` cuts ``[0, n)`` into contiguous
parts, has an :class:`Executor` run the stage once per part into
``<out dir>/.<out name>.parts-<job hash>/showers-<a>-<b>.h5`` and merges the parts, in order,
into ``out`` with :func:`caloforge.io.merge_files` (atomically: ``out`` appears only when
complete).

Each part also returns per-row arrays (e.g. the simulation's energy bookkeeping, MeV), saved
beside it as ``.npz``. A part whose file and arrays both exist is not run again, so a retried or
duplicated task neither loses nor repeats rows, and rerunning an interrupted job (same
arguments) reuses the parts already done. The part folder's name hashes the job's description,
so parts of another job are never mixed in; it is removed after the merge unless ``keep_parts``.

Executors: :class:`LocalExecutor` (in this process, one part after the other) and
:class:`caloforge.scale.dask.DaskExecutor` (a Dask cluster).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from caloforge.io import atomic_path, check_output_path, merge_files

__all__ = ["Executor", "FanOut", "LocalExecutor", "PartWriter", "fan_out", "split_rows"]

S = TypeVar("S")
T = TypeVar("T")

#: ``write(start, stop, path) -> per-row arrays``: writes rows ``[start, stop)`` to ``path``
PartWriter = Callable[[int, int, Path], dict[str, np.ndarray]]


class Executor(Protocol):
    """Runs independent tasks somewhere and returns their results in order."""

    #: the key under which a fanned-out job records how it was spread (e.g. ``"dask"``)
    name: str

    @property
    def workers(self) -> int:
        """How many tasks run at the same time."""
        ...

    def map(self, fn: Callable[[S], T], items: Sequence[S], *, label: str) -> list[T]:
        """``[fn(x) for x in items]``, run by the executor; ``label`` names the tasks."""
        ...


class LocalExecutor:
    """Runs the parts in this process, one after the other (for tests and small jobs)."""

    name = "local"
    workers = 1

    def map(self, fn: Callable[[S], T], items: Sequence[S], *, label: str) -> list[T]:
        return [fn(x) for x in items]


@dataclass
class FanOut:
    """How a job was spread: part ranges ``[a, b)`` (rows), concurrent workers, wall time (s),
    parts reused from an earlier run, the merged file's provenance and the parts' per-row
    arrays, concatenated in row order."""

    parts: list[tuple[int, int]]
    workers: int
    seconds: float
    reused_parts: int = 0
    attrs: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def split_rows(n: int, size: int, *, align: int = 1) -> list[tuple[int, int]]:
    """``[0, n)`` in contiguous parts of ``size`` rows rounded up to a multiple of ``align``
    (the last part shorter); ``[(0, 0)]`` when ``n == 0`` so an empty file is still written."""
    if size < 1 or align < 1:
        msg = f"part size and alignment must be >= 1, got {size} and {align}"
        raise ValueError(msg)
    size = -(-size // align) * align
    return [(a, min(a + size, n)) for a in range(0, n, size)] or [(0, 0)]


def _job_hash(job: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(job, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _parts_dir(out: Path, job: dict[str, Any], overwrite: bool) -> Path:
    check_output_path(out, overwrite=overwrite)
    d = out.parent / f".{out.name}.parts-{_job_hash(job)}"
    d.mkdir(exist_ok=True)
    return d


@dataclass(frozen=True)
class _Part:
    write: PartWriter
    start: int
    stop: int
    path: Path


def _run_part(p: _Part) -> dict[str, np.ndarray]:
    """Write one part (skipped when its file and arrays exist); returns its per-row arrays."""
    arrays_path = p.path.with_suffix(".npz")
    if p.path.is_file() and arrays_path.is_file():
        with np.load(arrays_path) as z:
            return {k: z[k] for k in z.files}
    arrays = p.write(p.start, p.stop, p.path)
    with atomic_path(arrays_path, overwrite=True) as tmp, tmp.open("wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]
    return arrays


def fan_out(
    executor: Executor,
    write: PartWriter,
    ranges: Sequence[tuple[int, int]],
    out: str | Path,
    *,
    job: dict[str, Any],
    attrs: Callable[[dict[str, np.ndarray], Path], dict[str, Any]],
    keep_parts: bool = False,
    overwrite: bool = False,
) -> FanOut:
    """Run ``write`` on each row range through ``executor`` and merge the parts into ``out``.

    ``job`` describes the job (hashed into the part folder's name); ``attrs(arrays, first
    part)`` gives the merged file's provenance from the concatenated per-row arrays and the
    first part file; ``executor.name`` then records the parts and workers in it. An existing
    ``out`` is refused before any part runs unless ``overwrite``.
    """
    out = Path(out)
    t0 = time.perf_counter()
    parts_dir = _parts_dir(out, job, overwrite)
    parts = [_Part(write, a, b, parts_dir / f"showers-{a:010d}-{b:010d}.h5") for a, b in ranges]
    reused = sum(p.path.is_file() and p.path.with_suffix(".npz").is_file() for p in parts)
    results = executor.map(_run_part, parts, label=out.name)
    keys = results[0].keys()
    arrays = {k: np.concatenate([r[k] for r in results]) for k in keys}
    merged = attrs(arrays, parts[0].path)
    sizes = {b - a for a, b in ranges}
    merged[executor.name] = {
        "parts": len(parts),
        "part_size": max(sizes),
        "workers": executor.workers,
    }
    merge_files([p.path for p in parts], out, attrs=merged, overwrite=overwrite)
    if not keep_parts:
        shutil.rmtree(parts_dir, ignore_errors=True)
    seconds = time.perf_counter() - t0
    return FanOut(list(ranges), executor.workers, seconds, reused, merged, arrays)
