"""The ATLAS-like barrel cluster and its 8 alignment configurations (docs/geometry.md).

The middle layer has a global grid of deta = 0.025 and dphi = 2 pi / 256 cells with edges at
integer multiples of the cell size (eta from 0, phi from 0). The 266-cell cluster is centred on
the middle cell hit by the particle, with middle indices (i_eta, i_phi). Strips and presampler are
4 middle cells wide in phi, back cells 2 middle cells wide in eta, so the other layers' cells sit
at one of 4 phi offsets and one of 2 eta offsets relative to the middle cluster:

    config = 4 * (i_eta mod 2) + (i_phi mod 4)          (0..7)

Offsets of the cluster's layer grids relative to the hit middle cell centre, in middle-cell units:
strips and presampler in phi: 1.5 - (i_phi mod 4); back in eta: +0.5 (i_eta even) / -0.5 (odd).
"""

from __future__ import annotations

import math

import numpy as np

from caloforge.geometry.core import Geometry
from caloforge.geometry.segmentation import EtaPhiGrid

__all__ = [
    "MIDDLE_DETA",
    "MIDDLE_DPHI",
    "N_CONFIGS",
    "alignment",
    "config_cell_centres",
    "config_layer_offsets",
]

MIDDLE_DETA = 0.025
MIDDLE_DPHI = 2 * math.pi / 256
N_CONFIGS = 8
#: layer names of the preset, in depth order
LAYER_NAMES = ("presampler", "strips", "middle", "back")


def alignment(
    eta: np.ndarray | float, phi: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Configuration and cluster centre for impact points.

    Returns ``(config, eta_centre, phi_centre)``: the alignment configuration (0..7, int64) and
    the centre of the hit middle cell. Vectorised over ``eta`` and ``phi`` (radians).
    """
    eta_a, phi_a = np.asarray(eta, dtype=float), np.asarray(phi, dtype=float)
    i_eta = np.floor(eta_a / MIDDLE_DETA).astype(np.int64)
    i_phi = np.floor(phi_a / MIDDLE_DPHI).astype(np.int64)
    config = 4 * np.mod(i_eta, 2) + np.mod(i_phi, 4)
    return config, (i_eta + 0.5) * MIDDLE_DETA, (i_phi + 0.5) * MIDDLE_DPHI


def config_layer_offsets(config: int) -> list[tuple[float, float]]:
    """Per layer, the (deta, dphi) shift of that layer's cluster grid for ``config``."""
    if not 0 <= int(config) < N_CONFIGS:
        msg = f"alignment configuration must be in 0..{N_CONFIGS - 1}, got {config}"
        raise ValueError(msg)
    eta_parity, phi_mod = divmod(int(config), 4)
    dphi = (1.5 - phi_mod) * MIDDLE_DPHI
    deta_back = (0.5 if eta_parity == 0 else -0.5) * MIDDLE_DETA
    return [(0.0, dphi), (0.0, dphi), (0.0, 0.0), (deta_back, 0.0)]


def _check(geometry: Geometry) -> None:
    if geometry.alignment_configs != N_CONFIGS or geometry.n_layers != len(LAYER_NAMES):
        msg = f"geometry {geometry.name!r} is not an atlas-em-barrel cluster"
        raise ValueError(msg)


def config_cell_centres(geometry: Geometry, config: int, *, mm: bool = False) -> np.ndarray:
    """(266, 2) cell centres (deta, dphi) relative to the hit middle cell for ``config``;
    with ``mm=True`` in mm at each layer's radius."""
    _check(geometry)
    parts = []
    for layer, off in zip(geometry.layers, config_layer_offsets(config), strict=True):
        seg = layer.segmentation
        assert isinstance(seg, EtaPhiGrid)
        parts.append(seg.centres_mm(off) if mm else seg.centres(off))
    return np.concatenate(parts)
