"""The geometry flattened into plain arrays for the numba kernel.

Slabs (front dead material first, then every readout layer's slabs) are infinite laterally and
normal to z; slab ``k`` spans ``z_lo[k] <= z < z_hi[k]`` (mm, z = 0 at the front face).

Readout per layer (``kind``: 0 Cartesian, 1 polar, 2 eta x phi, -1 no cells):
``int_par`` (n_layers, 2) = (nx, ny) / (n_alpha, n_r) / (n_eta, n_phi);
``float_par`` (n_layers, 4) = (pitch_x, pitch_y, -, -) mm / (-) / (d_eta, d_phi, mm_per_eta,
mm_per_phi); ``pitch`` (n_layers,) the smallest lateral cell size (mm; for polar layers the
narrowest ring, the azimuthal size being 2 pi r / n_alpha at radius r); ``r_edges`` (n_layers, max edges) mm, padded with +inf. Lateral coordinates: x
is along eta and y along phi for eta x phi layers, where the cell is found from
``d_eta = x / mm_per_eta + shift_eta`` with the per-shower ``shift`` of
:func:`etaphi_shifts`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caloforge.geometry import CartesianGrid, EtaPhiGrid, Geometry, PolarGrid
from caloforge.geometry.atlas import N_CONFIGS, config_layer_offsets

__all__ = ["FlatStack", "etaphi_shifts", "flatten"]


@dataclass(frozen=True)
class FlatStack:
    materials: tuple[str, ...]
    z_lo: np.ndarray
    z_hi: np.ndarray
    slab_material: np.ndarray
    slab_active: np.ndarray
    slab_layer: np.ndarray
    kind: np.ndarray
    cell_offset: np.ndarray
    int_par: np.ndarray
    float_par: np.ndarray
    r_edges: np.ndarray
    pitch: np.ndarray
    n_cells: int


def flatten(geometry: Geometry) -> FlatStack:
    """Slab and readout arrays of ``geometry`` (which must have a physical stack)."""
    if not geometry.has_stack:
        msg = f"geometry {geometry.name!r} has no slab stack (readout only): it cannot be simulated"
        raise ValueError(msg)
    slabs, owner = geometry.slabs()
    materials = tuple(dict.fromkeys(s.material for s in slabs))
    edges = np.concatenate([[0.0], np.cumsum([s.thickness_mm for s in slabs])])
    nl = geometry.n_layers
    kind = np.full(nl, -1, dtype=np.int64)
    int_par = np.zeros((nl, 2), dtype=np.int64)
    float_par = np.zeros((nl, 4))
    max_edges = max(
        [
            len(ly.segmentation.r_edges_mm)
            for ly in geometry.layers
            if isinstance(ly.segmentation, PolarGrid)
        ]
        + [1]
    )
    r_edges = np.full((nl, max_edges), np.inf)
    pitch = np.full(nl, np.inf)
    for i, ly in enumerate(geometry.layers):
        seg = ly.segmentation
        if seg.n_cells == 0:
            continue
        if isinstance(seg, CartesianGrid):
            kind[i] = 0
            int_par[i] = (seg.nx, seg.ny)
            float_par[i, :2] = (seg.pitch_x_mm, seg.pitch_y_mm)
            pitch[i] = min(seg.pitch_x_mm, seg.pitch_y_mm)
        elif isinstance(seg, PolarGrid):
            kind[i] = 1
            int_par[i] = (seg.n_alpha, seg.n_r)
            r_edges[i, : len(seg.r_edges_mm)] = seg.r_edges_mm
            pitch[i] = float(np.diff(seg.r_edges_mm).min())
        elif isinstance(seg, EtaPhiGrid):
            kind[i] = 2
            int_par[i] = (seg.n_eta, seg.n_phi)
            float_par[i] = (seg.d_eta, seg.d_phi, seg.mm_per_eta, seg.mm_per_phi)
            pitch[i] = min(seg.d_eta * seg.mm_per_eta, seg.d_phi * seg.mm_per_phi)
        else:  # pragma: no cover - the Segmentation union is closed
            msg = f"unsupported segmentation {type(seg).__name__}"
            raise TypeError(msg)
    return FlatStack(
        materials=materials,
        z_lo=edges[:-1].copy(),
        z_hi=edges[1:].copy(),
        slab_material=np.array([materials.index(s.material) for s in slabs], dtype=np.int64),
        slab_active=np.array([s.active for s in slabs], dtype=np.bool_),
        slab_layer=owner.astype(np.int64),
        kind=kind,
        cell_offset=np.asarray(geometry.layer_offsets[:-1], dtype=np.int64),
        int_par=int_par,
        float_par=float_par,
        r_edges=r_edges,
        pitch=pitch,
        n_cells=geometry.n_cells,
    )


def etaphi_shifts(
    geometry: Geometry,
    offset_eta: np.ndarray,
    offset_phi: np.ndarray,
    config: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(n, n_layers) shifts (eta, phi) from the shower axis to each layer's cluster grid:
    impact offset from the cluster centre minus the configuration's grid offset."""
    n, nl = len(offset_eta), geometry.n_layers
    s_eta = np.repeat(np.asarray(offset_eta, dtype=float)[:, None], nl, axis=1)
    s_phi = np.repeat(np.asarray(offset_phi, dtype=float)[:, None], nl, axis=1)
    if geometry.alignment_configs == N_CONFIGS and config is not None:
        table = np.array([config_layer_offsets(c) for c in range(N_CONFIGS)])  # (8, nl, 2)
        cfg = np.asarray(config, dtype=np.int64)
        s_eta -= table[cfg, :, 0]
        s_phi -= table[cfg, :, 1]
    assert s_eta.shape == (n, nl)
    return s_eta, s_phi
