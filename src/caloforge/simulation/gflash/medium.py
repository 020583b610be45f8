"""The stack as GFlash sees it: one effective medium for the shower shape, and per readout
layer its visible fraction and sampling term.

Effective medium (GP section 3, Geant4 ``ComputeZAX0EFFetc``) over the slabs of the readout
layers that start within ``medium_depth_x0`` of the first one (dead material in ``front``
excluded), with mass weights w_i = rho_i d_i / sum rho_j d_j:

- Z_eff = sum w_i Z_i;  1/X0_eff = sum w_i / X0_i (g/cm^2);
- Ec_eff = X0_eff sum w_i Ec_i / X0_i;  R_M,eff = Es / sum (w_i Ec_i / X0_i)  (g/cm^2);
- F_s = X0_eff / (d_active + d_passive) with the mean sampling-unit thickness in mm;
- e_hat = e/mip = 1 / (1 + 0.007 (Z_passive - Z_active)).

Depth: a slab of thickness d and radiation length X0 spans d/X0 of depth; depths add up slab by
slab (so one sampling unit spans (d_a + d_p)/X0_eff, as in GP). The shower is integrated in
steps of at most ``step_x0`` that never straddle a readout-layer boundary.

Visible fraction of a readout layer: e_hat x f_mip with f_mip = sum_active d dE/dx_min /
sum_all d dE/dx_min (minimum-ionising sampling fraction from the materials table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from caloforge.geometry import Geometry, Slab, mip_sampling_fraction
from caloforge.geometry.stack import e_over_mip, em_sampling_fraction
from caloforge.materials import get_material
from caloforge.simulation.gflash.parameters import GFlashParameters

__all__ = ["EffectiveMedium", "StepTable", "effective_medium", "layer_sampling", "step_table"]


@dataclass(frozen=True)
class EffectiveMedium:
    """The homogenised stack: Z_eff, X0_eff (mm), R_M,eff (mm), Ec_eff (MeV), F_s, e_hat,
    ``sampling`` (False for a single homogeneous material) and its sampling term c_sam."""

    z_eff: float
    x0_mm: float
    moliere_radius_mm: float
    critical_energy_mev: float
    fs: float
    e_hat: float
    sampling: bool
    sampling_term: float


def _sampling_term(p: GFlashParameters, slabs: list[Slab]) -> float:
    """c_sam for a group of slabs: 0 if it is not a sampling structure (no passive or no
    active slab), else ``p.sampling_term`` or k sqrt(mean active thickness/mm / f_mip)."""
    active = [s for s in slabs if s.active]
    if not active or len(active) == len(slabs):
        return 0.0
    if p.sampling_term is not None:
        return p.sampling_term
    d_active = sum(s.thickness_mm for s in active) / len(active)
    return p.sampling_rule_k * math.sqrt(d_active / mip_sampling_fraction(slabs))


def _medium_slabs(geometry: Geometry, p: GFlashParameters) -> list[Slab]:
    """Slabs of the readout layers that start within ``medium_depth_x0`` of the first one
    (whole layers, so that a repeated sampling structure keeps its proportions)."""
    chosen: list[Slab] = []
    depth = 0.0
    for layer in geometry.layers:
        if depth >= p.medium_depth_x0:
            break
        chosen += layer.slabs
        depth += layer.x0
    return chosen


def effective_medium(geometry: Geometry, p: GFlashParameters) -> EffectiveMedium:
    """The effective medium of ``geometry``'s stack (see module docstring)."""
    slabs = _medium_slabs(geometry, p)
    if not slabs:
        msg = f"geometry {geometry.name!r} has no slabs: GFlash needs a physical stack"
        raise ValueError(msg)
    mats = [get_material(s.material) for s in slabs]
    mass = np.array([m.density_g_cm3 * s.thickness_mm for m, s in zip(mats, slabs, strict=True)])
    w = mass / mass.sum()
    z_eff = float(sum(wi * m.z_eff for wi, m in zip(w, mats, strict=True)))
    inv_x0 = float(sum(wi / m.x0_g_cm2 for wi, m in zip(w, mats, strict=True)))  # cm^2/g
    x0_g_cm2 = 1.0 / inv_x0
    ec_over_x0 = float(
        sum(wi * m.critical_energy_mev / m.x0_g_cm2 for wi, m in zip(w, mats, strict=True))
    )
    ec_eff = x0_g_cm2 * ec_over_x0
    rm_g_cm2 = p.es_mev / ec_over_x0
    thickness = sum(s.thickness_mm for s in slabs)
    rho_eff = float(mass.sum()) / thickness  # g/cm^3 (mass in g/cm^3 x mm)
    x0_mm = 10.0 * x0_g_cm2 / rho_eff
    rm_mm = 10.0 * rm_g_cm2 / rho_eff
    sampling = len({s.material for s in slabs}) > 1
    active = [s for s in slabs if s.active]
    passive = [s for s in slabs if not s.active]
    if sampling and active and passive:
        e_hat = e_over_mip(slabs, p.e_hat_z)
        unit_mm = thickness / len(active)
        fs = x0_mm / unit_mm
    else:
        e_hat, fs = 1.0, math.inf
    return EffectiveMedium(
        z_eff=z_eff,
        x0_mm=x0_mm,
        moliere_radius_mm=rm_mm,
        critical_energy_mev=ec_eff,
        fs=fs,
        e_hat=e_hat,
        sampling=sampling,
        sampling_term=_sampling_term(p, slabs),
    )


def layer_sampling(geometry: Geometry, p: GFlashParameters) -> tuple[np.ndarray, np.ndarray]:
    """Per readout layer: visible fraction e_hat x f_mip and sampling term c_sam."""
    visible, term = [], []
    for layer in geometry.layers:
        slabs = list(layer.slabs)
        visible.append(em_sampling_fraction(slabs, p.e_hat_z))
        term.append(_sampling_term(p, slabs))
    return np.asarray(visible, dtype=float), np.asarray(term, dtype=float)


@dataclass(frozen=True)
class StepTable:
    """Longitudinal integration steps along the stack (depth z, not along the shower axis):
    ``t_edges`` (n_steps + 1,) in X0, ``z_edges_mm`` (n_steps + 1,) physical depth, ``layer``
    (n_steps,) readout-layer index or -1 for the dead material in front."""

    t_edges: np.ndarray
    z_edges_mm: np.ndarray
    layer: np.ndarray


def step_table(geometry: Geometry, p: GFlashParameters) -> StepTable:
    """Cut every readout layer (and the front) into steps of at most ``p.step_x0``."""
    slabs, owner = geometry.slabs()
    t_edges, z_edges, layer = [0.0], [0.0], []
    i = 0
    while i < len(slabs):
        # one group = consecutive slabs of the same owner
        j = i
        t_len = z_len = 0.0
        xs: list[float] = [0.0]
        zs: list[float] = [0.0]
        while j < len(slabs) and owner[j] == owner[i]:
            t_len += slabs[j].x0
            z_len += slabs[j].thickness_mm
            xs.append(t_len)
            zs.append(z_len)
            j += 1
        n = max(1, math.ceil(t_len / p.step_x0 - 1e-9))
        sub_t = np.linspace(0.0, t_len, n + 1)[1:]
        sub_z = np.interp(sub_t, xs, zs)  # physical depth at each step edge
        t0, z0 = t_edges[-1], z_edges[-1]
        t_edges += list(t0 + sub_t)
        z_edges += list(z0 + sub_z)
        layer += [int(owner[i])] * n
        i = j
    return StepTable(np.asarray(t_edges), np.asarray(z_edges), np.asarray(layer, dtype=np.int64))
