"""Physics observables of a shower sample, computed chunk by chunk.

Per shower (one column each of :attr:`Observables.values`, float32):

- ``e_tot`` (MeV), ``e_ratio`` = E_tot / E_inc, ``hits_total`` (cells above
  ``hit_threshold_mev``), ``sparsity`` (fraction of cells at or below it);
- ``depth_layer``: energy-weighted layer index; ``depth_x0``: energy-weighted layer depth in X0
  (``geometry.layer_depth_x0()``; only for geometries with a stack);
- per readout layer ``L`` with cells: ``e_layer.L`` (MeV), ``frac.L`` = E_L / E_tot, ``hits.L``,
  and for each of the layer's coordinates ``c`` the energy-weighted centroid ``centroid_c.L`` and
  width (RMS) ``width_c.L``. Coordinates: ``eta``/``phi`` (rad) for eta x phi grids, ``x``/``y``
  (mm) for Cartesian grids, ``x``/``y`` (mm, from r and alpha) and ``r`` (mm) for polar grids.
  A layer without energy in a shower gets centroid and width 0;
- ``dcentroid_c.A-B``: centroid of layer B minus centroid of layer A, for consecutive layers
  with cells that share coordinate ``c``.

Coordinates are always the shower's own: for ``atlas-em-barrel`` each shower's alignment
configuration (condition ``config``) selects its cell centres through
:func:`caloforge.geometry.atlas.config_cell_centres`. Layers with no cells are skipped.

Per sample, split by configuration group (one group when the sample has no ``config``): the
log10 cell-energy spectrum on fixed bins, the summed cell energies (average images) and the
shower counts. Optionally a seeded subsample of low-level classifier inputs
(cells / E_inc, log10 E_inc).

Memory: one chunk of cells plus ``N x n_observables`` float32 (about 220 MB for 100k showers
of ``calochallenge-2``, 545 observables) plus the low-level subsample.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from caloforge.geometry import Geometry
from caloforge.geometry.atlas import config_cell_centres
from caloforge.io import count_showers, iter_showers, read_showers
from caloforge.showerset import ShowerSet

__all__ = [
    "DEFAULT_HIT_THRESHOLD_MEV",
    "SPECTRUM_EDGES_LOG10_MEV",
    "NoConfigWarning",
    "ObservableSpec",
    "Observables",
    "compute_observables",
    "layer_coordinates",
    "observable_specs",
    "summary_correlation",
]

#: default cell threshold for hits and sparsity, MeV (about the CaloChallenge voxel cut)
DEFAULT_HIT_THRESHOLD_MEV = 0.015
#: fixed log10(E / MeV) bins of the cell-energy spectrum (0.05 dex from 0.1 keV to 100 GeV);
#: positive cells outside are folded into the first/last bin
SPECTRUM_EDGES_LOG10_MEV = np.round(np.arange(-4.0, 5.0 + 1e-9, 0.05), 6)


class NoConfigWarning(UserWarning):
    """A geometry with alignment configurations is evaluated without per-shower configs."""


@dataclass(frozen=True)
class ObservableSpec:
    """One per-shower observable: its key, a human label, its unit, whether it belongs to the
    compact summary set (correlation matrix) and the layer it describes (or None)."""

    name: str
    label: str
    unit: str
    summary: bool = False
    layer: str | None = None


_COORD_UNITS = {"eta": "", "phi": "rad", "x": "mm", "y": "mm", "r": "mm"}
_COORD_LABELS = {"eta": "η", "phi": "φ", "x": "x", "y": "y", "r": "r"}


def _layer_coordinate_names(geometry: Geometry, i: int) -> tuple[str, ...]:
    kind = geometry.layers[i].segmentation.kind
    return ("x", "y", "r") if kind == "polar" else geometry.layers[i].segmentation.coordinate_names


def layer_coordinates(
    geometry: Geometry, config: int | None = None
) -> list[tuple[tuple[str, ...], np.ndarray] | None]:
    """Per layer, its coordinate names and the ``(n_cells_layer, k)`` cell centres (float64),
    for alignment configuration ``config``; None for layers without cells."""
    if config is not None and geometry.alignment_configs > 1:
        aligned = config_cell_centres(geometry, int(config))
    else:
        aligned = None
    out: list[tuple[tuple[str, ...], np.ndarray] | None] = []
    for i, layer in enumerate(geometry.layers):
        seg = layer.segmentation
        if seg.n_cells == 0:
            out.append(None)
            continue
        names = _layer_coordinate_names(geometry, i)
        if seg.kind == "polar":
            coords = np.concatenate([seg.centres_mm(), seg.centres()[:, :1]], axis=1)
        elif aligned is not None:
            coords = aligned[geometry.layer_slice(i)]
        else:
            coords = seg.centres()
        out.append((names, np.asarray(coords, dtype=np.float64)))
    return out


def _filled_layers(geometry: Geometry) -> list[int]:
    return [i for i, ly in enumerate(geometry.layers) if ly.n_cells > 0]


def observable_specs(geometry: Geometry) -> list[ObservableSpec]:
    """The per-shower observables of ``geometry``, in column order."""
    filled = _filled_layers(geometry)
    few_layers = len(filled) <= 8
    specs = [
        ObservableSpec("e_tot", "total energy", "MeV"),
        ObservableSpec("e_ratio", "E_tot / E_inc", "", summary=True),
        ObservableSpec("depth_layer", "energy-weighted layer index", "layer", summary=True),
    ]
    if geometry.has_stack:
        specs.append(ObservableSpec("depth_x0", "shower depth", "X0", summary=True))
    specs += [
        ObservableSpec("hits_total", "cells above threshold", "cells", summary=True),
        ObservableSpec("sparsity", "fraction of cells at or below threshold", "", summary=True),
    ]
    for i in filled:
        name = geometry.layers[i].name
        specs += [
            ObservableSpec(f"e_layer.{name}", f"{name}: energy", "MeV", layer=name),
            ObservableSpec(f"frac.{name}", f"{name}: E_layer / E_tot", "", True, name),
            ObservableSpec(f"hits.{name}", f"{name}: cells above threshold", "cells", layer=name),
        ]
        for c in _layer_coordinate_names(geometry, i):
            lab, unit = _COORD_LABELS[c], _COORD_UNITS[c]
            specs.append(
                ObservableSpec(f"centroid_{c}.{name}", f"{name}: {lab} centroid", unit, layer=name)
            )
            specs.append(
                ObservableSpec(
                    f"width_{c}.{name}", f"{name}: {lab} width", unit, few_layers, layer=name
                )
            )
    for a, b in itertools.pairwise(filled):
        na, nb = geometry.layers[a].name, geometry.layers[b].name
        common = [
            c
            for c in _layer_coordinate_names(geometry, a)
            if c in _layer_coordinate_names(geometry, b)
        ]
        for c in common:
            lab = _COORD_LABELS[c]
            specs.append(
                ObservableSpec(
                    f"dcentroid_{c}.{na}-{nb}",
                    f"{lab} centroid {nb} − {na}",
                    _COORD_UNITS[c],
                    layer=nb,
                )
            )
    return specs


@dataclass
class Observables:
    """Observables of one sample (see the module docstring).

    ``values`` (N, n_observables) float32 in the order of ``specs``; ``incident_energy`` (N,)
    MeV; ``config`` (N,) or None; ``groups``: the configuration of each group (``[None]`` when
    the sample has no configurations); ``spectrum_counts`` (n_groups, n_bins) on
    ``SPECTRUM_EDGES_LOG10_MEV``; ``image_sums`` (n_groups, n_cells) MeV; ``group_counts``
    (n_groups,); ``lowlevel`` (M, n_cells + 1) float32 classifier inputs or None.
    """

    name: str
    geometry: Geometry
    specs: list[ObservableSpec]
    values: np.ndarray
    incident_energy: np.ndarray
    config: np.ndarray | None
    groups: list[int | None]
    spectrum_counts: np.ndarray
    image_sums: np.ndarray
    group_counts: np.ndarray
    lowlevel: np.ndarray | None
    hit_threshold_mev: float

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def __len__(self) -> int:
        return len(self.values)

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]

    def rows(self, config: int | None = None) -> np.ndarray:
        """Boolean mask of the showers of one configuration (all when ``config`` is None)."""
        if config is None:
            return np.ones(len(self), dtype=bool)
        if self.config is None:
            msg = f"{self.name}: no per-shower 'config'; cannot select configuration {config}"
            raise ValueError(msg)
        return self.config == config

    def _group_index(self, config: int | None) -> list[int]:
        if config is None:
            return list(range(len(self.groups)))
        if config not in self.groups:
            msg = f"{self.name}: no configuration {config}"
            raise ValueError(msg)
        return [self.groups.index(config)]

    def spectrum(self, config: int | None = None) -> np.ndarray:
        """Counts of positive cells per log10(E/MeV) bin."""
        return self.spectrum_counts[self._group_index(config)].sum(axis=0)

    def average_images(self, config: int | None = None) -> list[np.ndarray]:
        """Per layer with cells, the mean cell energy (MeV) reshaped to the segmentation."""
        idx = self._group_index(config)
        n = max(int(self.group_counts[idx].sum()), 1)
        mean = self.image_sums[idx].sum(axis=0) / n
        return [
            mean[self.geometry.layer_slice(i)].reshape(self.geometry.layers[i].segmentation.shape)
            for i in _filled_layers(self.geometry)
        ]


def summary_correlation(obs: Observables, names: list[str]) -> np.ndarray:
    """(k, k) Pearson correlation matrix of the ``k`` named observables of ``obs`` (rows and
    columns 0 where an observable is constant)."""
    x = np.stack([obs.column(n).astype(np.float64) for n in names], axis=1)
    x = x - x.mean(axis=0)
    norm = np.sqrt((x * x).sum(axis=0))
    safe = np.where(norm > 0, norm, 1.0)
    corr = (x.T @ x) / np.outer(safe, safe)
    corr[norm == 0, :] = 0.0
    corr[:, norm == 0] = 0.0
    return corr


# ---- streaming ---------------------------------------------------------------------------------
def _chunks(
    source: ShowerSet | str | Path, chunk_size: int
) -> tuple[Geometry, int, Iterator[ShowerSet], bool]:
    if isinstance(source, ShowerSet):
        source.validate()

        def gen() -> Iterator[ShowerSet]:
            for start in range(0, len(source), chunk_size):
                yield source[start : start + chunk_size]

        return source.geometry, len(source), gen(), source.config is not None
    path = Path(source)
    head = read_showers(path, stop=0)
    n = count_showers(path)
    return head.geometry, n, iter_showers(path, chunk_size=chunk_size), head.config is not None


class _Features:
    """Column bookkeeping and the per-chunk computation."""

    def __init__(self, geometry: Geometry, threshold: float) -> None:
        self.geometry, self.threshold = geometry, threshold
        self.specs = observable_specs(geometry)
        self.col = {s.name: j for j, s in enumerate(self.specs)}
        self.filled = _filled_layers(geometry)
        self.depth_x0 = geometry.layer_depth_x0() if geometry.has_stack else None
        self._coords: dict[int | None, list] = {}

    def coords(self, config: int | None) -> list:
        if config not in self._coords:
            self._coords[config] = layer_coordinates(self.geometry, config)
        return self._coords[config]

    def compute(self, chunk: ShowerSet, groups: list[tuple[int | None, np.ndarray]]) -> np.ndarray:
        geo, cells, n = self.geometry, chunk.cells, len(chunk)
        out = np.zeros((n, len(self.specs)), dtype=np.float32)
        e_layers = geo.layer_energies(cells)
        hits_total = np.zeros(n)
        centroids: dict[tuple[str, int], np.ndarray] = {}
        for i in self.filled:
            name = geo.layers[i].name
            w = cells[:, geo.layer_slice(i)]
            e = e_layers[:, i]
            hits = (w > self.threshold).sum(axis=1)
            hits_total += hits
            out[:, self.col[f"e_layer.{name}"]] = e
            out[:, self.col[f"hits.{name}"]] = hits
            names = _layer_coordinate_names(geo, i)
            s1 = np.zeros((n, len(names)))
            s2 = np.zeros((n, len(names)))
            for config, rows in groups:
                layer_coords = self.coords(config)[i]
                assert layer_coords is not None
                x = layer_coords[1]
                wg = w[rows].astype(np.float64)
                s1[rows], s2[rows] = wg @ x, wg @ (x * x)
            safe = np.where(e > 0, e, 1.0)[:, None]
            mean = np.where(e[:, None] > 0, s1 / safe, 0.0)
            var = np.where(e[:, None] > 0, s2 / safe - mean**2, 0.0)
            width = np.sqrt(np.clip(var, 0.0, None))
            for k, c in enumerate(names):
                out[:, self.col[f"centroid_{c}.{name}"]] = mean[:, k]
                out[:, self.col[f"width_{c}.{name}"]] = width[:, k]
                centroids[(c, i)] = mean[:, k]
        e_tot = e_layers.sum(axis=1)
        safe_tot = np.where(e_tot > 0, e_tot, 1.0)
        out[:, self.col["e_tot"]] = e_tot
        out[:, self.col["e_ratio"]] = e_tot / chunk.incident_energy
        for i in self.filled:
            out[:, self.col[f"frac.{geo.layers[i].name}"]] = e_layers[:, i] / safe_tot
        out[:, self.col["depth_layer"]] = e_layers @ np.arange(geo.n_layers) / safe_tot
        if self.depth_x0 is not None:
            out[:, self.col["depth_x0"]] = e_layers @ self.depth_x0 / safe_tot
        out[:, self.col["hits_total"]] = hits_total
        out[:, self.col["sparsity"]] = 1.0 - hits_total / geo.n_cells
        for a, b in itertools.pairwise(self.filled):
            na, nb = geo.layers[a].name, geo.layers[b].name
            for c in _layer_coordinate_names(geo, a):
                key = f"dcentroid_{c}.{na}-{nb}"
                if key in self.col:
                    out[:, self.col[key]] = centroids[(c, b)] - centroids[(c, a)]
        return out


def compute_observables(
    source: ShowerSet | str | Path,
    *,
    name: str | None = None,
    hit_threshold_mev: float = DEFAULT_HIT_THRESHOLD_MEV,
    chunk_size: int = 4096,
    lowlevel_rows: int = 0,
    seed: int = 0,
) -> Observables:
    """Stream ``source`` (a ShowerSet or a shower file) and compute its observables.

    ``lowlevel_rows`` > 0 keeps that many showers (chosen with ``seed``, without replacement)
    as classifier inputs ``[cells / E_inc, log10(E_inc / MeV)]``.
    """
    label = name or (str(source) if not isinstance(source, ShowerSet) else "showers")
    geometry, n_total, chunks, has_config = _chunks(source, chunk_size)
    if n_total == 0:
        msg = f"{label}: no showers; expected a non-empty sample"
        raise ValueError(msg)
    features = _Features(geometry, hit_threshold_mev)
    if geometry.alignment_configs > 1 and not has_config:
        warnings.warn(
            f"{label}: geometry {geometry.name!r} has {geometry.alignment_configs} alignment "
            "configurations but the showers carry no 'config'; using the nominal cell centres",
            NoConfigWarning,
            stacklevel=2,
        )
    group_keys: list[int | None] = list(range(geometry.alignment_configs)) if has_config else [None]
    n_bins = len(SPECTRUM_EDGES_LOG10_MEV) - 1
    spectrum = np.zeros((len(group_keys), n_bins), dtype=np.int64)
    image_sums = np.zeros((len(group_keys), geometry.n_cells))
    counts = np.zeros(len(group_keys), dtype=np.int64)
    keep = min(max(lowlevel_rows, 0), n_total)
    chosen = np.sort(np.random.default_rng(seed).choice(n_total, keep, replace=False))
    lowlevel = np.zeros((keep, geometry.n_cells + 1), dtype=np.float32) if keep else None
    parts, energies, configs = [], [], []
    start, filled_low = 0, 0
    lo, hi = SPECTRUM_EDGES_LOG10_MEV[0], np.nextafter(SPECTRUM_EDGES_LOG10_MEV[-1], 0.0)
    for chunk in chunks:
        n = len(chunk)
        cfg = chunk.config
        groups: list[tuple[int | None, np.ndarray]] = (
            [(None, np.ones(n, dtype=bool))]
            if cfg is None
            else [(int(c), cfg == c) for c in np.unique(cfg)]
        )
        parts.append(features.compute(chunk, groups))
        energies.append(chunk.incident_energy)
        if cfg is not None:
            configs.append(cfg.astype(np.int64))
        for config, rows in groups:
            g = group_keys.index(config)
            sub = chunk.cells[rows]
            counts[g] += len(sub)
            image_sums[g] += sub.sum(axis=0, dtype=np.float64)
            positive = sub[sub > 0]
            spectrum[g] += np.histogram(
                np.clip(np.log10(positive), lo, hi), bins=SPECTRUM_EDGES_LOG10_MEV
            )[0]
        if lowlevel is not None:
            sel = chosen[(chosen >= start) & (chosen < start + n)] - start
            rows_ll = slice(filled_low, filled_low + len(sel))
            lowlevel[rows_ll, :-1] = chunk.cells[sel] / chunk.incident_energy[sel, None]
            lowlevel[rows_ll, -1] = np.log10(chunk.incident_energy[sel])
            filled_low += len(sel)
        start += n
    return Observables(
        name=label,
        geometry=geometry,
        specs=features.specs,
        values=np.concatenate(parts),
        incident_energy=np.concatenate(energies),
        config=np.concatenate(configs) if configs else None,
        groups=group_keys,
        spectrum_counts=spectrum,
        image_sums=image_sums,
        group_counts=counts,
        lowlevel=lowlevel,
        hit_threshold_mev=hit_threshold_mev,
    )
