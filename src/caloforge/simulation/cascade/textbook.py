"""Textbook checks of the cascade (PDG review "Passage of particles through matter", §34.5):
homogeneous blocks read out in thin slices and rings, and the quantities the review predicts.

- :func:`homogeneous_block`: a block of one material, ``slice_x0`` thick active slices, each read
  out in rings at 0, 1, 2 ... R_M (R_M from the material table) plus one ring to infinity.
- :func:`pdg_tmax`: ``ln(E / Ec) + C``, C = -0.5 (e±), +0.5 (photons), in X0.
- :func:`fit_gamma_profile`: the Gamma-distribution fit ``dE/dt = E b (bt)^(a-1) e^(-bt) / Γ(a)``
  of a mean longitudinal profile, giving ``(a, b, t_max = (a - 1) / b)``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import curve_fit
from scipy.special import gammaln

from caloforge.geometry import Geometry, Layer, PolarGrid, Slab
from caloforge.materials import get_material

__all__ = [
    "containment",
    "fit_gamma_profile",
    "homogeneous_block",
    "longitudinal_profile",
    "pdg_tmax",
]


def homogeneous_block(
    material: str, *, depth_x0: float = 30.0, slice_x0: float = 0.25, rings_rm: int = 3
) -> Geometry:
    """A homogeneous, fully active block of ``material`` in slices of ``slice_x0`` X0, each
    slice read out in rings of one Molière radius (``rings_rm`` rings, then one to r = 1 km)."""
    mat = get_material(material)
    rm = mat.moliere_radius_mm
    edges = (*(i * rm for i in range(rings_rm + 1)), 1e6)
    n = round(depth_x0 / slice_x0)
    layers = tuple(
        Layer(f"slice{i}", PolarGrid(edges, 1), (Slab(material, slice_x0 * mat.x0_mm, True),))
        for i in range(n)
    )
    return Geometry(
        name=f"block-{material}",
        layers=layers,
        description=f"homogeneous {material} block, {depth_x0:g} X0 in {slice_x0:g} X0 slices",
        extra={"slice_x0": slice_x0},
    )


def pdg_tmax(energy_mev: float, material: str, particle: str) -> float:
    """Depth of the shower maximum in X0 predicted by the PDG review."""
    ec = get_material(material).critical_energy_mev
    return math.log(energy_mev / ec) + (0.5 if particle == "photon" else -0.5)


def longitudinal_profile(geometry: Geometry, cells: np.ndarray) -> np.ndarray:
    """(N, n_layers) energy per slice of a :func:`homogeneous_block`."""
    return np.stack(
        [
            np.asarray(cells)[:, geometry.layer_slice(i)].sum(axis=1)
            for i in range(geometry.n_layers)
        ],
        axis=1,
    )


def containment(geometry: Geometry, cells: np.ndarray, n_rm: int) -> np.ndarray:
    """(N,) fraction of the deposited energy within ``n_rm`` Molière radii of the axis."""
    c = np.asarray(cells, dtype=float)
    n_rings = geometry.layers[0].segmentation.n_cells
    per_ring = c.reshape(len(c), geometry.n_layers, n_rings).sum(axis=1)
    return per_ring[:, :n_rm].sum(axis=1) / per_ring.sum(axis=1)


def _gamma_pdf(t: np.ndarray, a: float, b: float) -> np.ndarray:
    return np.exp(np.log(b) + (a - 1) * np.log(b * t) - b * t - gammaln(a))


def fit_gamma_profile(mean_profile: np.ndarray, slice_x0: float) -> tuple[float, float, float]:
    """Fit the normalised mean profile (energy per slice) with a Gamma distribution in t (X0).

    Returns ``(a, b, t_max)``; each slice is compared with the Gamma density integrated over
    the slice (Simpson's rule on its edges and centre)."""
    p = np.asarray(mean_profile, dtype=float)
    p = p / p.sum()
    lo = np.arange(len(p)) * slice_x0
    hi, mid = lo + slice_x0, lo + 0.5 * slice_x0
    lo = np.maximum(lo, 1e-6)

    def model(_: np.ndarray, a: float, b: float) -> np.ndarray:
        f = _gamma_pdf(lo, a, b) + 4 * _gamma_pdf(mid, a, b) + _gamma_pdf(hi, a, b)
        return f * slice_x0 / 6

    t_mean = float((mid * p).sum())
    var = float(((mid - t_mean) ** 2 * p).sum())
    b0 = t_mean / var
    (a, b), _ = curve_fit(model, mid, p, p0=(t_mean * b0, b0), bounds=([1.01, 0.05], [50, 5]))
    return float(a), float(b), float((a - 1) / b)
