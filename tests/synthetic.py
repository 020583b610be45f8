"""Synthetic photon showers on ``atlas-em-barrel`` for the tests (not simulators).

Two generators, both deterministic per ``(n, seed)`` and cached (treat the returned
:class:`~caloforge.showerset.ShowerSet` as read-only):

:func:`atlas_showers` -- physically shaped showers with alignment configurations, for the
evaluation tests (observables, metrics, classifier, report); 10, 20 and 40 GeV:

- impact points uniform in 0.20 < eta < 0.25 and 0 < phi < 0.5 rad give each shower its
  configuration and its offset from the hit middle-cell centre (``geometry.atlas.alignment``);
- longitudinal: a Gamma profile ``dE/dt ~ t^(a-1) exp(-b t)``, ``b = 0.5``, with
  ``t_max = ln(E / Ec) + 0.5`` (Ec = 7.4 MeV, lead) smeared by 10% per shower, integrated over
  the dead material and each readout layer's depth in X0 (``Geometry.layer_depth_x0`` stack);
- sampling fluctuations: each layer's energy smeared by ``10% sqrt(E_layer / GeV)`` GeV;
- lateral: energy spots of ~100 MeV drawn from a core + halo ``2 r R^2 / (r^2 + R^2)^2`` radial
  profile around the impact point, binned with each configuration's own cell grid
  (``EtaPhiGrid.locate_mm`` with ``config_layer_offsets``).

:func:`synthetic_showers` -- a few milliseconds per hundred showers, for the model, training
and scaling tests; 20 and 50 GeV by default, with a known response:

- visible energy ``E_tot = 0.9 E_inc (1 + N(0, 10%/sqrt(E/GeV)))``;
- layer fractions from a Dirichlet around :data:`LAYER_MEANS` (presampler 5%, strips 30%,
  middle 58%, back 7%);
- per layer a Gaussian lateral profile (:data:`LAYER_WIDTHS`) around the impact point (uniform
  inside the hit middle cell), evaluated at each configuration's own cell centres, times
  per-cell Gamma fluctuations; configurations uniform in 0..7.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import gammainc

from caloforge.geometry import EtaPhiGrid, get_geometry
from caloforge.geometry.atlas import (
    MIDDLE_DETA,
    MIDDLE_DPHI,
    alignment,
    config_cell_centres,
    config_layer_offsets,
)
from caloforge.showerset import ShowerSet

__all__ = [
    "ENERGIES_MEV",
    "LAYER_MEANS",
    "LAYER_WIDTHS",
    "atlas_showers",
    "scaled",
    "strips_shifted",
    "synthetic_showers",
]

#: incident energies of :func:`atlas_showers` (MeV)
ENERGIES_MEV = (10_000.0, 20_000.0, 40_000.0)
_EC_MEV, _B = 7.4, 0.5
_SPOT_MEV = 100.0
#: per layer (core radius mm, halo radius mm, core probability)
_LATERAL = ((15.0, 50.0, 0.5), (6.0, 30.0, 0.8), (10.0, 40.0, 0.8), (25.0, 60.0, 0.6))


def _radii(rng: np.random.Generator, n: int, layer: int) -> np.ndarray:
    core, halo, p_core = _LATERAL[layer]
    scale = np.where(rng.random(n) < p_core, core, halo)
    u = np.clip(rng.random(n), 0.0, 0.995)
    return scale * np.sqrt(u / (1.0 - u))


@lru_cache(maxsize=8)
def atlas_showers(n: int, seed: int) -> ShowerSet:
    """``n`` photon showers on ``atlas-em-barrel`` with per-shower ``config`` (deterministic)."""
    geo = get_geometry("atlas-em-barrel")
    rng = np.random.default_rng(seed)
    e_inc = rng.choice(np.asarray(ENERGIES_MEV), size=n)
    eta, phi = rng.uniform(0.20, 0.25, n), rng.uniform(0.0, 0.5, n)
    config, eta_c, phi_c = alignment(eta, phi)
    # longitudinal: Gamma profile integrated over each layer's depth (X0)
    t_max = (np.log(e_inc / _EC_MEV) + 0.5) * (1.0 + 0.1 * rng.standard_normal(n))
    a = 1.0 + _B * np.clip(t_max, 0.5, None)
    bounds = geo.front_x0 + np.concatenate([[0.0], np.cumsum([ly.x0 for ly in geo.layers])])
    cdf = gammainc(a[:, None], _B * bounds[None, :])
    e_layer = e_inc[:, None] * np.diff(cdf, axis=1)
    sigma = 0.1 * np.sqrt(e_layer * 1000.0)  # 10% sqrt(E/GeV) in MeV
    e_layer = np.clip(e_layer + sigma * rng.standard_normal(e_layer.shape), 0.0, None)
    # lateral: spots binned with each configuration's own cells
    cells = np.zeros(n * geo.n_cells)
    for i, layer in enumerate(geo.layers):
        seg = layer.segmentation
        assert isinstance(seg, EtaPhiGrid)  # atlas-em-barrel reads out in eta x phi
        n_spots = np.clip(np.round(e_layer[:, i] / _SPOT_MEV), 1, None).astype(np.int64)
        owner = np.repeat(np.arange(n), n_spots)
        r, angle = _radii(rng, owner.size, i), rng.uniform(0.0, 2 * np.pi, owner.size)
        u = (eta - eta_c)[owner] * seg.mm_per_eta + r * np.cos(angle)
        v = (phi - phi_c)[owner] * seg.mm_per_phi + r * np.sin(angle)
        index = np.full(owner.size, -1, dtype=np.int64)
        for c in range(geo.alignment_configs):
            mine = config[owner] == c
            offset = config_layer_offsets(c)[i]
            index[mine] = seg.locate_mm(u[mine], v[mine], offset)
        inside = index >= 0
        flat = owner * geo.n_cells + geo.layer_slice(i).start + index
        weight = (e_layer[:, i] / n_spots)[owner]
        cells += np.bincount(flat[inside], weight[inside], minlength=cells.size)
    return ShowerSet(
        e_inc,
        cells.reshape(n, geo.n_cells).astype(np.float32),
        geo,
        "photon",
        {"config": config.astype(np.int64)},
        {"engine": "tests.synthetic.atlas_showers", "seed": seed},
    )


#: mean layer fractions of :func:`synthetic_showers` (presampler, strips, middle, back)
LAYER_MEANS = np.array([0.05, 0.30, 0.58, 0.07])
#: lateral Gaussian width per layer of :func:`synthetic_showers`, in middle-cell units
LAYER_WIDTHS = np.array([1.0, 0.6, 0.5, 1.2])


@lru_cache(maxsize=8)
def synthetic_showers(
    n: int, seed: int, energies_gev: tuple[float, ...] = (20.0, 50.0)
) -> ShowerSet:
    """``n`` photon showers on ``atlas-em-barrel`` at ``energies_gev`` (drawn uniformly), with
    per-shower ``config``; E_tot/E_inc = 0.9 with a 10%/sqrt(E/GeV) resolution."""
    geo = get_geometry("atlas-em-barrel")
    rng = np.random.default_rng(seed)
    e_inc = rng.choice(np.asarray(energies_gev) * 1e3, size=n)
    config = rng.integers(0, geo.alignment_configs, size=n)
    resolution = 0.10 / np.sqrt(e_inc / 1e3)
    e_tot = 0.9 * e_inc * np.clip(1 + resolution * rng.standard_normal(n), 0.5, 1.5)
    fractions = rng.dirichlet(LAYER_MEANS * 200, size=n)
    centres = np.stack([config_cell_centres(geo, c) for c in range(geo.alignment_configs)])
    units = np.array([MIDDLE_DETA, MIDDLE_DPHI])
    impact = (rng.uniform(-0.5, 0.5, size=(n, 2))) * units
    offset = (centres[config] - impact[:, None, :]) / units  # (n, 266, 2) in middle cells
    width = LAYER_WIDTHS[geo.cell_layer]
    weight = np.exp(-0.5 * (offset**2).sum(axis=2) / width**2)
    weight *= geo.cell_sizes().prod(axis=1) / (MIDDLE_DETA * MIDDLE_DPHI)
    weight *= rng.gamma(20.0, 1 / 20.0, size=weight.shape)
    cells = np.zeros_like(weight)
    for i in range(geo.n_layers):
        sl = geo.layer_slice(i)
        w = weight[:, sl]
        cells[:, sl] = w / w.sum(axis=1, keepdims=True) * (e_tot * fractions[:, i])[:, None]
    return ShowerSet(e_inc, cells.astype(np.float32), geo, "photon", {"config": config})


def scaled(showers: ShowerSet, factor: float) -> ShowerSet:
    """A copy with every cell energy multiplied by ``factor``."""
    return ShowerSet(
        showers.incident_energy,
        showers.cells * np.float32(factor),
        showers.geometry,
        showers.particle,
        dict(showers.conditions),
    )


def strips_shifted(showers: ShowerSet, cells_in_eta: int = 1) -> ShowerSet:
    """A copy with the strip layer moved by ``cells_in_eta`` strips towards larger eta."""
    geo = showers.geometry
    strips = geo.layer_images(showers.cells, 1)
    moved = np.zeros_like(strips)
    moved[:, cells_in_eta:] = strips[:, :-cells_in_eta]
    cells = showers.cells.copy()
    cells[:, geo.layer_slice(1)] = moved.reshape(len(showers), -1)
    return ShowerSet(
        showers.incident_energy, cells, geo, showers.particle, dict(showers.conditions)
    )
