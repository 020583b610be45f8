"""Grid observables: what the 3DGAN and ILD-ECAL papers validate, for Cartesian and polar grids.

For geometries whose every layer with cells is a Cartesian or a polar grid (``clic-ecal``,
``ild-ecal``, ``calochallenge-2/3``; :func:`is_grid`), streamed chunk by chunk like
:mod:`caloforge.evaluation.observables`:

- the hit-energy spectrum in MIP units: each cell's energy divided by its layer's MIP energy
  (:func:`mip_energy_mev`: the PDG dE/dx_min of the layer's active slabs times their
  thickness, i.e. the mean loss of a minimum-ionising particle at normal incidence), on
  :data:`MIP_EDGES_LOG10` bins, and the position of its MIP peak (:func:`mip_peak`: the
  maximum of dN/dE in 0.5-3 MIP, the most probable hit energy, from a parabola fitted over
  +-0.125 dex);
- per shower: the number of hits above ``hit_threshold_mip`` (0.5 MIP), the visible energy
  ``e_vis`` (the cell sum, MeV), the MIP-weighted energy ``e_mip`` = sum over layers of
  E_layer / f_mip (``f_mip``: the layer's MIP sampling fraction, the CALICE calibration; the
  plain sum of a Si-W stack with thicker back absorbers is not a calorimeter energy), and the
  centre of gravity along each axis: ``cog_x``, ``cog_y`` (mm, about the geometry's axis) and
  ``cog_z`` (the energy-weighted layer index);
- per sample: the longitudinal profile (mean energy per layer, MeV) and the radial profile
  (mean energy per shower in rings of the distance r of the cell centre from the axis, MeV),
  each with its standard error;
- linearity and resolution of ``e_mip`` versus the incident energy
  (:func:`caloforge.evaluation.response.energy_response`).

:func:`compare_grid` turns a reference and candidates into JSON-ready metrics (separation
power of each per-shower observable, the MIP peak, the profile ratios, the response). numpy
only: no torch, scikit-learn or matplotlib (figures: :mod:`caloforge.evaluation.grid_plots`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from caloforge.evaluation.inputs import GeometryFile
from caloforge.evaluation.metrics import separation_power
from caloforge.evaluation.response import EnergyBinning, energy_binning, energy_response
from caloforge.geometry import Geometry, mip_loss_mev, mip_weights
from caloforge.io import iter_showers, read_showers
from caloforge.showerset import ShowerSet

__all__ = [
    "GRID_OBSERVABLES",
    "MIP_EDGES_LOG10",
    "GridObservables",
    "compare_grid",
    "compute_grid_observables",
    "has_grid_observables",
    "is_grid",
    "mip_energy_mev",
    "mip_peak",
    "radial_edges_mm",
]

#: log10(E / E_MIP) bins of the hit-energy spectrum: 0.025 dex from 0.01 to 10^4 MIP
MIP_EDGES_LOG10 = np.round(np.arange(-2.0, 4.0 + 1e-9, 0.025), 6)
#: the per-shower observables, in column order: (name, label, unit)
GRID_OBSERVABLES: tuple[tuple[str, str, str], ...] = (
    ("e_vis", "visible energy", "MeV"),
    ("e_mip", "MIP-weighted energy", "MeV"),
    ("n_hits", "hits above threshold", "cells"),
    ("cog_x", "centre of gravity x", "mm"),
    ("cog_y", "centre of gravity y", "mm"),
    ("cog_z", "centre of gravity z", "layer"),
)
#: the MIP peak is searched for in this window (MIP units): from the hit threshold (0.5 MIP)
PEAK_WINDOW_MIP = (0.5, 3.0)
#: half-width (dex) of the range of log10 E the MIP peak's parabola is fitted over, and of the
#: running mean whose maximum starts the fit
PEAK_FIT_HALF_WIDTH_DEX = 0.125
PEAK_START_HALF_WIDTH_DEX = 0.05


def is_grid(geometry: Geometry) -> bool:
    """True when every layer with cells is a Cartesian or polar grid (and some layer has)."""
    kinds = {ly.segmentation.kind for ly in geometry.layers if ly.n_cells > 0}
    return bool(kinds) and kinds <= {"cartesian", "polar"}


def has_grid_observables(geometry: Geometry) -> bool:
    """True when :func:`compute_grid_observables` applies: a grid whose every layer has an
    active slab (a MIP scale); readout-only geometries (a binning XML alone) have none."""
    return is_grid(geometry) and all(any(s.active for s in ly.slabs) for ly in geometry.layers)


def mip_energy_mev(geometry: Geometry) -> np.ndarray:
    """(n_layers,) mean energy a MIP at normal incidence leaves in each layer's active slabs
    (sum of dE/dx_min x thickness, MeV). ValueError when a layer has no active slab (a
    readout-only geometry has no MIP scale)."""
    out = np.zeros(geometry.n_layers)
    for i, ly in enumerate(geometry.layers):
        active = [s for s in ly.slabs if s.active]
        if not active:
            msg = (
                f"geometry {geometry.name!r}: layer {ly.name!r} has no active slab, so no MIP "
                "energy; grid observables need a geometry with its slab stack"
            )
            raise ValueError(msg)
        out[i] = mip_loss_mev(ly.slabs)
    return out


def _cell_xy_mm(geometry: Geometry) -> np.ndarray:
    """(n_cells, 2) cell centres in mm about the geometry's axis (x, y for both grid kinds)."""
    return np.asarray(geometry.cell_centres_mm(), dtype=np.float64)


def radial_edges_mm(geometry: Geometry) -> np.ndarray:
    """Ring edges of the radial profile: a polar grid's own r edges (of its first layer with
    cells); for Cartesian grids rings of half the smallest cell pitch, out to the farthest
    cell centre."""
    for ly in geometry.layers:
        seg = ly.segmentation
        if seg.n_cells and seg.kind == "polar":
            return np.asarray(seg.r_edges_mm, dtype=np.float64)  # type: ignore[attr-defined]
    r = np.hypot(*_cell_xy_mm(geometry).T)
    step = 0.5 * float(geometry.cell_sizes_mm().min())
    return np.arange(0.0, r.max() + step, step)


def mip_peak(counts: np.ndarray, edges_log10: np.ndarray = MIP_EDGES_LOG10) -> float:
    """Position (MIP units) of the MIP peak of a hit-energy spectrum: the most probable hit
    energy, the maximum of dN/dE (counts per MIP, from the counts per log10 E bin) in
    ``PEAK_WINDOW_MIP``, which starts at the 0.5-MIP hit threshold.

    Found as the vertex of a least-squares parabola (in log10 E) through dN/dE within
    ``PEAK_FIT_HALF_WIDTH_DEX`` of the fullest bin of its running mean over
    +-``PEAK_START_HALF_WIDTH_DEX``, fitted again about each vertex (three fits at most); when
    a fit has no maximum within its range, the last centre. NaN without counts in the window,
    and NaN when the window holds no peak: its fullest running-mean bin is not a local maximum
    of the running mean (a spectrum that falls or rises through the window, such as the
    smeared cells of an auto-encoder without its post-processor, whose fullest bin is the
    window's edge). Bins of equal width in log10 E.

    dN/dE, not the counts per log bin (E dN/dE, the spectrum as drawn on a log axis): with
    Landau fluctuations (cascade transport 9) the counts per log bin of ild-ecal photon showers
    are flat within ~6% from 1 to 3 MIP (cells crossed by several particles), and their maximum
    moved between 1.90, 2.06 and 2.14 MIP for a 1000-shower sample and its two halves, while
    the maximum of dN/dE, the single-particle peak, was 0.882, 0.878 and 0.886 MIP (0.5 mm Si:
    the Landau most probable loss at ~0.75 of the mean, raised by the particles' angles). The
    fit over ~11 bins, not the fullest single bin, halves the counting noise; its price: on a
    falling background the vertex of a narrow peak is pulled down (``tests/test_evaluation_grid.py``
    measures it)."""
    c = np.asarray(counts, dtype=np.float64)
    edges = np.asarray(edges_log10, dtype=np.float64)
    centres = 0.5 * (edges[1:] + edges[:-1])
    lo, hi = np.log10(PEAK_WINDOW_MIP[0]), np.log10(PEAK_WINDOW_MIP[1])
    window = np.flatnonzero((centres >= lo) & (centres <= hi))
    density = c / np.diff(10.0**edges)  # dN/dE, counts per MIP
    if window.size == 0 or density[window].sum() <= 0:
        return float("nan")
    half = max(1, round(PEAK_START_HALF_WIDTH_DEX / float(np.median(np.diff(edges)))))
    smooth = np.convolve(density, np.full(2 * half + 1, 1.0 / (2 * half + 1)), mode="same")
    start = int(window[np.argmax(smooth[window])])
    if any(smooth[j] > smooth[start] for j in (start - 1, start + 1) if 0 <= j < len(smooth)):
        return float("nan")  # the window's fullest bin is on a slope: no peak inside it
    centre = float(centres[start])
    for _ in range(3):
        near = np.abs(centres - centre) <= PEAK_FIT_HALF_WIDTH_DEX + 1e-9
        a, b, _ = np.polyfit(centres[near] - centre, density[near], 2)
        if not a < 0 or abs(b / (2 * a)) > PEAK_FIT_HALF_WIDTH_DEX:
            break
        centre -= b / (2 * a)
    return float(10.0**centre)


@dataclass
class GridObservables:
    """Grid observables of one sample (module docstring). ``values`` (N, 6) float64 in the
    order of :data:`GRID_OBSERVABLES`; ``spectrum`` counts of positive cells on
    :data:`MIP_EDGES_LOG10` (folded into the edge bins); ``longitudinal`` / ``radial``
    (n_layers,) / (n_rings,) mean MeV per shower with ``*_err`` standard errors."""

    name: str
    values: np.ndarray
    incident_energy: np.ndarray
    spectrum: np.ndarray
    longitudinal: np.ndarray
    longitudinal_err: np.ndarray
    radial_edges_mm: np.ndarray
    radial: np.ndarray
    radial_err: np.ndarray
    hit_threshold_mip: float

    def column(self, name: str) -> np.ndarray:
        return self.values[:, [n for n, _, _ in GRID_OBSERVABLES].index(name)]

    @property
    def mip_peak(self) -> float:
        return mip_peak(self.spectrum)


def _chunks(source: ShowerSet | str | Path | GeometryFile, chunk_size: int) -> tuple[Geometry, Any]:
    if isinstance(source, ShowerSet):
        return source.geometry, (
            source[a : a + chunk_size] for a in range(0, len(source), chunk_size)
        )
    path, geo = (
        (source.path, source.geometry) if isinstance(source, GeometryFile) else (Path(source), None)
    )
    head = read_showers(path, geo, stop=0)
    return head.geometry, iter_showers(path, geo, chunk_size=chunk_size)


def compute_grid_observables(
    source: ShowerSet | str | Path | GeometryFile,
    *,
    name: str | None = None,
    hit_threshold_mip: float = 0.5,
    chunk_size: int = 2048,
) -> GridObservables:
    """Stream ``source`` and compute its grid observables. ValueError for a geometry that is
    not a grid (:func:`is_grid`) or has no MIP scale, and for an empty sample."""
    label = name or (str(source) if not isinstance(source, ShowerSet) else "showers")
    geometry, chunks = _chunks(source, chunk_size)
    if not is_grid(geometry):
        msg = f"{label}: geometry {geometry.name!r} is not a Cartesian or polar grid"
        raise ValueError(msg)
    mip_cell = mip_energy_mev(geometry)[geometry.cell_layer]
    inv_f = mip_weights([ly.slabs for ly in geometry.layers])
    assert inv_f is not None  # mip_energy_mev has raised for a layer without an active slab
    xy = _cell_xy_mm(geometry)
    edges = radial_edges_mm(geometry)
    ring = np.clip(np.searchsorted(edges, np.hypot(*xy.T), side="right") - 1, 0, len(edges) - 2)
    ring_matrix = np.zeros((geometry.n_cells, len(edges) - 1))
    ring_matrix[np.arange(geometry.n_cells), ring] = 1.0
    n_bins = len(MIP_EDGES_LOG10) - 1
    spectrum = np.zeros(n_bins, dtype=np.int64)
    lon = np.zeros((2, geometry.n_layers))
    rad = np.zeros((2, len(edges) - 1))
    lo, hi = MIP_EDGES_LOG10[0], np.nextafter(MIP_EDGES_LOG10[-1], 0.0)
    parts, energies = [], []
    for chunk in chunks:
        cells = np.asarray(chunk.cells, dtype=np.float64)
        layers = geometry.layer_energies(cells)
        e_vis = layers.sum(axis=1)
        safe = np.where(e_vis > 0, e_vis, 1.0)
        in_mip = cells / mip_cell
        cog = np.where(e_vis[:, None] > 0, cells @ xy / safe[:, None], 0.0)
        cog_z = np.where(e_vis > 0, layers @ np.arange(geometry.n_layers) / safe, 0.0)
        hits = (in_mip > hit_threshold_mip).sum(axis=1)
        parts.append(np.column_stack([e_vis, layers @ inv_f, hits, cog, cog_z]))
        energies.append(np.asarray(chunk.incident_energy, dtype=np.float64))
        positive = in_mip[in_mip > 0]
        spectrum += np.histogram(np.clip(np.log10(positive), lo, hi), bins=MIP_EDGES_LOG10)[0]
        rings = cells @ ring_matrix
        lon += [layers.sum(axis=0), (layers**2).sum(axis=0)]
        rad += [rings.sum(axis=0), (rings**2).sum(axis=0)]
    values = np.concatenate(parts) if parts else np.zeros((0, len(GRID_OBSERVABLES)))
    n = len(values)
    if n == 0:
        msg = f"{label}: no showers; expected a non-empty sample"
        raise ValueError(msg)

    def mean_err(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = s[0] / n
        var = np.clip(s[1] / n - mean**2, 0.0, None) * n / max(n - 1, 1)
        return mean, np.sqrt(var / n)

    lon_m, lon_e = mean_err(lon)
    rad_m, rad_e = mean_err(rad)
    return GridObservables(
        name=label,
        values=values,
        incident_energy=np.concatenate(energies),
        spectrum=spectrum,
        longitudinal=lon_m,
        longitudinal_err=lon_e,
        radial_edges_mm=edges,
        radial=rad_m,
        radial_err=rad_e,
        hit_threshold_mip=hit_threshold_mip,
    )


def _profile_ratio(
    ref: np.ndarray, ref_err: np.ndarray, cand: np.ndarray, cand_err: np.ndarray
) -> dict[str, list[float | None]]:
    """candidate / reference per bin with the propagated error (None where the reference or
    the candidate bin is empty)."""
    safe = np.where(ref > 0, ref, np.nan)
    ratio = cand / safe
    err = np.abs(ratio) * np.sqrt(
        (cand_err / np.where(cand > 0, cand, np.nan)) ** 2 + (ref_err / safe) ** 2
    )
    return {"ratio": _finite(ratio), "error": _finite(err)}


def _finite(values: np.ndarray) -> list[float | None]:
    """JSON-ready list: non-finite values as None (null)."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64)]


def _summary(g: GridObservables, binning: EnergyBinning) -> dict[str, Any]:
    return {
        "n_showers": len(g.values),
        "mip_peak": g.mip_peak,
        "longitudinal_mev": g.longitudinal.tolist(),
        "radial_mev": g.radial.tolist(),
        "response_mip_weighted": energy_response(g.incident_energy, g.column("e_mip"), binning),
    }


def compare_grid(
    reference: GridObservables,
    candidates: dict[str, GridObservables],
    *,
    n_bins: int = 40,
    n_bootstrap: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """JSON-ready grid metrics: the reference's summary and, per candidate, its summary, the
    separation power (with bootstrap error) of each per-shower observable and of the
    hit-energy spectrum, the MIP-peak ratio, the profile ratios, and the ratio of its
    linearity and resolution (of ``e_mip``) to the reference's at each energy point."""
    binning = energy_binning(reference.incident_energy)
    ref_sum = _summary(reference, binning)
    out: dict[str, Any] = {
        "hit_threshold_mip": reference.hit_threshold_mip,
        "radial_edges_mm": reference.radial_edges_mm.tolist(),
        "reference": ref_sum,
        "candidates": {},
    }
    ref_resp = ref_sum["response_mip_weighted"]
    for label, cand in candidates.items():
        summary = _summary(cand, binning)
        seps = {}
        for j, (obs, _, _) in enumerate(GRID_OBSERVABLES):
            s, e = separation_power(
                reference.values[:, j],
                cand.values[:, j],
                bins=n_bins,
                n_bootstrap=n_bootstrap,
                seed=seed,
            )
            seps[obs] = {"separation": s, "error": e}
        resp = summary["response_mip_weighted"]
        shared = [e for e in resp["e_inc_mev"] if e in ref_resp["e_inc_mev"]]
        ri = [ref_resp["e_inc_mev"].index(e) for e in shared]
        ci = [resp["e_inc_mev"].index(e) for e in shared]
        out["candidates"][label] = summary | {
            "observables": seps,
            "spectrum_separation": _spectrum_separation(reference.spectrum, cand.spectrum),
            "mip_peak_ratio": cand.mip_peak / reference.mip_peak,
            "longitudinal_ratio": _profile_ratio(
                reference.longitudinal,
                reference.longitudinal_err,
                cand.longitudinal,
                cand.longitudinal_err,
            ),
            "radial_ratio": _profile_ratio(
                reference.radial, reference.radial_err, cand.radial, cand.radial_err
            ),
            "response_ratio": {
                "e_inc_mev": shared,
                "linearity": [
                    resp["linearity"][c] / ref_resp["linearity"][r]
                    for r, c in zip(ri, ci, strict=True)
                ],
                "resolution": [
                    resp["resolution"][c] / ref_resp["resolution"][r]
                    for r, c in zip(ri, ci, strict=True)
                ],
            },
        }
    return out


def _spectrum_separation(p: np.ndarray, q: np.ndarray) -> float:
    from caloforge.evaluation.metrics import histogram_separation

    return histogram_separation(p, q) if p.sum() > 0 and q.sum() > 0 else float("nan")
