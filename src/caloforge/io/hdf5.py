"""ShowerSet files in the CaloChallenge HDF5 layout.

Datasets: ``incident_energies`` (N, 1) and ``showers`` (N, n_cells), both MeV; optional
per-shower condition datasets (``config`` int 0..7 for ``atlas-em-barrel``, ...). Our file
attributes: ``geometry`` (preset name), ``caloforge_geometry`` (geometry JSON), ``particle``,
``conditions`` (JSON list of condition dataset names), ``caloforge_attrs`` (JSON provenance).
Files without our attributes (e.g. the CaloChallenge's own) read when a geometry is given.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from caloforge.data.energy_scale import (
    ENERGY_SCALE_ATTR,
    calibration_factor,
    cell_scale,
    describe_scale,
    file_energy_scale,
)
from caloforge.geometry import Geometry, get_geometry
from caloforge.io.atomic import atomic_path
from caloforge.showerset import PARTICLES, ShowerSet

__all__ = [
    "ShowerWriter",
    "count_showers",
    "flush_denormals",
    "iter_showers",
    "merge_files",
    "read_showers",
    "refuse_outside_data",
    "write_showers",
]

E_KEY, CELLS_KEY = "incident_energies", "showers"
DEFAULT_CHUNK = 16384
_PDG_TO_PARTICLE = {v: k for k, v in PARTICLES.items()}


def _open(path: str | Path) -> h5py.File:
    """Open a shower file for reading, refusing one whose data live outside it
    (:func:`refuse_outside_data`)."""
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: no such file"
        raise ValueError(msg)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        msg = f"{path}: not a readable HDF5 file (truncated or another format?): {exc}"
        raise ValueError(msg) from exc
    try:
        refuse_outside_data(f, path)
    except BaseException:
        f.close()
        raise
    return f


def refuse_outside_data(f: h5py.Group, path: str | Path) -> None:
    """Raise ValueError if any object of ``f`` reads data from another file.

    Refused: external links, datasets with external raw storage (``Dataset.external``) and virtual
    datasets with a source outside the file. A crafted file could otherwise make caloforge read
    (and copy into its outputs) any local file. Soft links inside the file are allowed.
    """
    seen: set[Any] = set()

    def walk(group: h5py.Group, prefix: str) -> None:
        for name in group:
            key = f"{prefix}{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                msg = f"{path}: key {key!r} is an external link to {link.filename}:{link.path}; refusing to read data outside the file"
                raise ValueError(msg)
            if isinstance(link, h5py.SoftLink):
                continue
            obj = group[name]
            addr = h5py.h5o.get_info(obj.id).addr
            if addr in seen:
                continue
            seen.add(addr)
            if isinstance(obj, h5py.Group):
                walk(obj, f"{key}/")
            elif isinstance(obj, h5py.Dataset):
                if obj.external:
                    files = ", ".join(str(e[0]) for e in obj.external)
                    msg = f"{path}: key {key!r} stores its data in external file(s) {files}; refusing to read data outside the file"
                    raise ValueError(msg)
                if obj.is_virtual:
                    outside = sorted({s.file_name for s in obj.virtual_sources()} - {"."})
                    if outside:
                        msg = f"{path}: key {key!r} is a virtual dataset reading {', '.join(outside)}; refusing to read data outside the file"
                        raise ValueError(msg)

    walk(f, "")


def _geometry_of(f: h5py.File, path: Path, geometry: Geometry | str | None) -> Geometry:
    if geometry is not None:
        geo = get_geometry(geometry) if isinstance(geometry, str | Path) else geometry
        if "caloforge_geometry" in f.attrs:
            own = Geometry.from_json(str(f.attrs["caloforge_geometry"]))
            if not own.same_readout(geo):
                msg = (
                    f"{path}: the file's geometry {own.name!r} ({own.n_cells} cells) differs "
                    f"from the given geometry {geo.name!r} ({geo.n_cells} cells)"
                )
                raise ValueError(msg)
        return geo
    if "caloforge_geometry" in f.attrs:
        return Geometry.from_json(str(f.attrs["caloforge_geometry"]))
    if "geometry" in f.attrs:
        return get_geometry(str(f.attrs["geometry"]))
    msg = (
        f"{path}: the file names no geometry (attribute 'geometry' missing); pass one "
        "(--geometry NAME|FILE.xml, or geometry=...)"
    )
    raise ValueError(msg)


def _particle_of(f: h5py.File, particle: str | None) -> str:
    if particle is not None:
        return particle
    if "particle" in f.attrs:
        return str(f.attrs["particle"])
    if "pid" in f.attrs:
        return _PDG_TO_PARTICLE.get(int(f.attrs["pid"]), "photon")
    return "photon"


class _Layout:
    """Checked view of one open file: keys, shapes and the condition datasets."""

    def __init__(self, f: h5py.File, path: Path, geometry: Geometry) -> None:
        for key in (E_KEY, CELLS_KEY):
            if key not in f or not isinstance(f[key], h5py.Dataset):
                msg = f"{path}: missing dataset {key!r}; expected CaloChallenge layout ({E_KEY} (N,1), {CELLS_KEY} (N, n_cells))"
                raise ValueError(msg)
        e, s = f[E_KEY], f[CELLS_KEY]
        n = e.shape[0] if e.ndim else 0
        if e.ndim not in (1, 2) or (e.ndim == 2 and e.shape[1] != 1):
            msg = f"{path}: key {E_KEY!r} has shape {e.shape}; expected (N, 1) in MeV"
            raise ValueError(msg)
        if s.ndim != 2 or s.shape != (n, geometry.n_cells):
            msg = (
                f"{path}: key {CELLS_KEY!r} has shape {s.shape}; expected ({n}, "
                f"{geometry.n_cells}) for geometry {geometry.name!r}"
            )
            raise ValueError(msg)
        names = json.loads(f.attrs["conditions"]) if "conditions" in f.attrs else []
        if not names and "config" in f:
            names = ["config"]
        for key in names:
            if key not in f or f[key].shape[:1] != (n,):
                msg = f"{path}: condition dataset {key!r} missing or not of length {n}"
                raise ValueError(msg)
        self.n, self.condition_names = n, list(names)
        self.attrs = json.loads(f.attrs["caloforge_attrs"]) if "caloforge_attrs" in f.attrs else {}
        if ENERGY_SCALE_ATTR in f.attrs:  # a number, or a list of one per layer
            scale = np.asarray(f.attrs[ENERGY_SCALE_ATTR], dtype=np.float64)
            self.attrs[ENERGY_SCALE_ATTR] = float(scale) if scale.ndim == 0 else scale.tolist()


def read_showers(
    path: str | Path,
    geometry: Geometry | str | None = None,
    *,
    particle: str | None = None,
    start: int = 0,
    stop: int | None = None,
) -> ShowerSet:
    """Read rows ``start:stop`` of a shower file (all by default) into memory."""
    path = Path(path)
    with _open(path) as f:
        geo = _geometry_of(f, path, geometry)
        layout = _Layout(f, path, geo)
        sl = slice(start, layout.n if stop is None else min(stop, layout.n))
        return _chunk(f, path, geo, _particle_of(f, particle), layout, sl)


def _chunk(
    f: h5py.File, path: Path, geo: Geometry, particle: str, layout: _Layout, sl: slice
) -> ShowerSet:
    energy = np.asarray(f[E_KEY][sl], dtype=np.float64).reshape(-1)
    cells = np.asarray(f[CELLS_KEY][sl], dtype=np.float32)
    cond = {k: np.asarray(f[k][sl]) for k in layout.condition_names}
    try:
        return ShowerSet(energy, cells, geo, particle, cond, dict(layout.attrs))
    except ValueError as exc:
        msg = str(exc).replace("ShowerSet:", f"{path} (rows {sl.start}:{sl.stop}):", 1)
        raise ValueError(msg) from None


def iter_showers(
    path: str | Path,
    geometry: Geometry | str | None = None,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    particle: str | None = None,
) -> Iterator[ShowerSet]:
    """Stream a file in chunks of ``chunk_size`` showers (memory ~ one chunk)."""
    if chunk_size < 1:
        msg = f"chunk_size must be >= 1, got {chunk_size}"
        raise ValueError(msg)
    path = Path(path)
    with _open(path) as f:
        geo = _geometry_of(f, path, geometry)
        layout = _Layout(f, path, geo)
        part = _particle_of(f, particle)
        for start in range(0, layout.n, chunk_size):
            yield _chunk(f, path, geo, part, layout, slice(start, start + chunk_size))


def count_showers(path: str | Path, geometry: Geometry | str | None = None) -> int:
    """Number of showers in a file (checks the layout, reads no shower)."""
    path = Path(path)
    with _open(path) as f:
        return _Layout(f, path, _geometry_of(f, path, geometry)).n


def file_info(path: str | Path, geometry: Geometry | str | None = None) -> dict[str, Any]:
    """Summary of a file without loading it whole (streams the energies and cell sums)."""
    path = Path(path)
    n, e_min, e_max, ratio_sum, configs = 0, np.inf, -np.inf, 0.0, None
    ratio_sq, zeros, cells_seen = 0.0, 0, 0
    info: dict[str, Any] = {}
    for chunk in iter_showers(path, geometry):
        n += len(chunk)
        e_min = min(e_min, float(chunk.incident_energy.min()))
        e_max = max(e_max, float(chunk.incident_energy.max()))
        ratio = chunk.total_energy / chunk.incident_energy
        ratio_sum += float(ratio.sum())
        ratio_sq += float((ratio * ratio).sum())
        zeros += int((chunk.cells == 0).sum())
        cells_seen += chunk.cells.size
        if chunk.config is not None:
            c = np.bincount(chunk.config, minlength=chunk.geometry.alignment_configs)
            configs = c if configs is None else configs + c
        info = {
            "geometry": chunk.geometry.name,
            "n_cells": chunk.geometry.n_cells,
            "particle": chunk.particle,
            "conditions": sorted(chunk.conditions),
            "attrs": chunk.attrs,
        }
    if n == 0:
        with _open(path) as f:
            geo = _geometry_of(f, path, geometry)
            _Layout(f, path, geo)
        info = {"geometry": geo.name, "n_cells": geo.n_cells}
    info |= {"file": str(path), "n_showers": n, "file_size_mb": path.stat().st_size / 1e6}
    if n:
        info |= {
            "incident_energy_min_mev": e_min,
            "incident_energy_max_mev": e_max,
            "mean_etot_over_einc": ratio_sum / n,
            "std_etot_over_einc": float(np.sqrt(max(ratio_sq / n - (ratio_sum / n) ** 2, 0.0))),
            "sparsity": zeros / cells_seen if cells_seen else None,
        }
    with _open(path) as f:
        scale, found = file_energy_scale(dict(f.attrs), str(info["geometry"]))
    info |= {"energy_scale": describe_scale(scale), "energy_scale_found": found}
    if configs is not None:
        info["config_counts"] = configs.tolist()
    return info


def flush_denormals(values: np.ndarray) -> np.ndarray:
    """``values`` with float32 subnormals (0 < |v| < 1.18e-38, the smallest normal float32) set
    to 0. Cell energies that small are noise of the arithmetic, and subnormals slow down every
    later computation on them (up to ~100x on x86). Returns ``values`` itself when none occur."""
    a = np.asarray(values)
    if a.dtype != np.float32:
        return a
    tiny = np.finfo(np.float32).tiny
    sub = (np.abs(a) < tiny) & (a != 0)
    if not sub.any():
        return a
    out = a.copy()
    out[sub] = 0.0
    return out


#: "auto" compression: gzip when the cells would take more than this many bytes uncompressed
COMPRESS_ABOVE_BYTES = 64 * 2**20
#: rows assumed by "auto" when the writer is not told how many showers will come
AUTO_ROWS_UNKNOWN = 10_000


def compression_options(
    compression: str | None, n_cells: int, expected_rows: int | None
) -> dict[str, Any]:
    """h5py keywords for the cells dataset: ``None`` (none), ``"gzip"`` (level 4 with the
    shuffle filter), ``"lzf"`` (with shuffle; h5py only), or ``"auto"``: gzip when
    ``expected_rows`` (10 000 when unknown) x ``n_cells`` float32 exceed 64 MiB. Chunks stay
    row blocks, so reading stays streaming."""
    if compression == "auto":
        rows = AUTO_ROWS_UNKNOWN if expected_rows is None else expected_rows
        compression = "gzip" if rows * n_cells * 4 > COMPRESS_ABOVE_BYTES else None
    if compression is None:
        return {}
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    if compression == "lzf":
        return {"compression": "lzf", "shuffle": True}
    msg = f"compression must be 'auto', 'gzip', 'lzf' or None, got {compression!r}"
    raise ValueError(msg)


class ShowerWriter:
    """Streaming, atomic writer: append ShowerSet chunks, the file appears only on ``close``.

    The output is checked, locked and written as :func:`caloforge.io.atomic_path` does
    (``overwrite=False`` refuses an existing file); float32 subnormal cell values are written as 0.

    >>> with ShowerWriter("out.h5", geometry, particle="photon") as w:   # doctest: +SKIP
    ...     for chunk in chunks:
    ...         w.append(chunk)
    """

    def __init__(
        self,
        path: str | Path,
        geometry: Geometry,
        *,
        particle: str = "photon",
        conditions: Sequence[str] = (),
        attrs: dict[str, Any] | None = None,
        compression: str | None = "auto",
        overwrite: bool = False,
        expected_rows: int | None = None,
        from_visible: bool = False,
        energy_scale: float | Sequence[float] | None = None,
    ) -> None:
        self.path, self.geometry = Path(path), geometry
        self.particle, self.conditions = particle, list(conditions)
        self._ctx = atomic_path(self.path, overwrite=overwrite)
        self._tmp = self._ctx.__enter__()
        try:
            self._f = h5py.File(self._tmp, "w")
        except BaseException as exc:
            self._ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._n = 0
        rows = max(1, min(1024, (1 << 20) // max(4 * geometry.n_cells, 1)))
        kw = compression_options(compression, geometry.n_cells, expected_rows)
        self._f.create_dataset(E_KEY, (0, 1), np.float64, maxshape=(None, 1), chunks=(4096, 1))
        self._f.create_dataset(
            CELLS_KEY,
            (0, geometry.n_cells),
            np.float32,
            maxshape=(None, geometry.n_cells),
            chunks=(rows, max(geometry.n_cells, 1)),
            **kw,
        )
        self._f.attrs["geometry"] = geometry.name
        self._f.attrs["caloforge_geometry"] = geometry.to_json()
        self._f.attrs["particle"] = particle
        self._f.attrs["pid"] = PARTICLES.get(particle, 0)
        self._f.attrs["conditions"] = json.dumps(self.conditions)
        scale: Any = (
            calibration_factor(geometry)
            if from_visible
            else energy_scale
            if energy_scale is not None
            else (attrs or {}).get(ENERGY_SCALE_ATTR)
        )
        per_cell = None if scale is None else cell_scale(scale, geometry)  # checks the size
        self._visible_factor = per_cell if from_visible else None
        if scale is not None:  # one number, or one per layer
            value = np.asarray(scale, dtype=np.float64)
            self._f.attrs[ENERGY_SCALE_ATTR] = float(value) if value.ndim == 0 else value
        self._attrs: dict[str, Any] = dict(attrs or {})
        self._write_attrs()

    def _stored(self, cells: np.ndarray) -> np.ndarray:
        if self._visible_factor is None:
            return cells
        return (cells.astype(np.float64) * self._visible_factor).astype(np.float32)

    def _write_attrs(self) -> None:
        self._f.attrs["caloforge_attrs"] = json.dumps(self._attrs, sort_keys=True, default=str)

    def update_attrs(self, **attrs: Any) -> None:
        """Add provenance known only at the end (e.g. measured means); written on ``close``."""
        self._attrs.update(attrs)

    def append(self, showers: ShowerSet) -> None:
        if not showers.geometry.same_readout(self.geometry):
            msg = f"{self.path}: appended showers have geometry {showers.geometry.name!r}, file has {self.geometry.name!r}"
            raise ValueError(msg)
        if set(showers.conditions) != set(self.conditions):
            msg = f"{self.path}: appended conditions {sorted(showers.conditions)} differ from {sorted(self.conditions)}"
            raise ValueError(msg)
        n0, n1 = self._n, self._n + len(showers)
        for key, data in [
            (E_KEY, showers.incident_energy.reshape(-1, 1)),
            (CELLS_KEY, flush_denormals(self._stored(showers.cells))),
            *[(k, showers.conditions[k]) for k in self.conditions],
        ]:
            if key not in self._f:
                self._f.create_dataset(
                    key, (0, *data.shape[1:]), data.dtype, maxshape=(None, *data.shape[1:])
                )
            ds = self._f[key]
            ds.resize(n1, axis=0)
            ds[n0:n1] = data
        self._n = n1

    def close(self) -> None:
        for key in self.conditions:  # empty files still carry their condition datasets
            if key not in self._f:
                self._f.create_dataset(key, (0,), np.int64, maxshape=(None,))
        self._write_attrs()
        self._f.close()
        self._ctx.__exit__(None, None, None)

    def abort(self, exc: BaseException | None = None) -> None:
        self._f.close()
        err = exc or RuntimeError("aborted")
        self._ctx.__exit__(type(err), err, None)

    def __enter__(self) -> ShowerWriter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if ev is None:
            self.close()
        else:
            self.abort(ev)


def write_showers(
    path: str | Path,
    showers: ShowerSet,
    *,
    compression: str | None = "auto",
    overwrite: bool = False,
) -> Path:
    """Write a ShowerSet atomically in the CaloChallenge layout; returns the path."""
    with ShowerWriter(
        path,
        showers.geometry,
        particle=showers.particle,
        conditions=list(showers.conditions),
        attrs=showers.attrs,
        compression=compression,
        overwrite=overwrite,
        expected_rows=len(showers),
    ) as w:
        w.append(showers)
    return Path(path)


def merge_files(
    paths: Sequence[str | Path],
    out: str | Path,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    attrs: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Concatenate shower files with the same geometry, particle and conditions, atomically.

    The merged file's provenance is ``attrs`` when given, else the first file's plus the list of
    merged files."""
    if not paths:
        msg = "merge_files: no input files"
        raise ValueError(msg)
    first = read_showers(paths[0], stop=0)
    if attrs is None:
        attrs = dict(first.attrs) | {"merged_from": [str(p) for p in paths]}
    with ShowerWriter(
        out,
        first.geometry,
        particle=first.particle,
        conditions=list(first.conditions),
        attrs=attrs,
        overwrite=overwrite,
        expected_rows=sum(count_showers(q) for q in paths),
    ) as w:
        for p in paths:
            for chunk in iter_showers(p, chunk_size=chunk_size):
                if chunk.particle != first.particle:
                    msg = f"{p}: particle {chunk.particle!r} differs from {first.particle!r} in {paths[0]}"
                    raise ValueError(msg)
                w.append(chunk)
    return Path(out)
