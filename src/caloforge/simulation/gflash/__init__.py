"""GFlash: the Grindhammer–Peters parametrisation of electromagnetic showers (hep-ex/0001020).

The classical fast simulation every learned model must beat. Per shower:

1. Longitudinal profile (GP 2.1, 3): a Gamma distribution in depth t (X0 of the effective
   medium), f(t) = (beta t)^(alpha-1) beta exp(-beta t) / Gamma(alpha), with (ln T, ln alpha)
   drawn from a correlated bivariate normal whose means, widths and correlation depend on
   y = E/Ec_eff, Z_eff and, in sampling calorimeters, F_s and e_hat; beta = (alpha - 1)/T.
2. The stack is integrated in steps of at most ``step_x0`` X0 (see :mod:`.medium`); each step
   gets E [P(alpha, beta t_hi) - P(alpha, beta t_lo)] of deposited energy.
3. Visible energy of a step = e_hat f_mip (per readout layer, from the materials table) times
   the deposit, with sampling fluctuations sigma/E = c_sam/sqrt(E/GeV) drawn as a Gamma
   variate; the rest of the deposit is passive.
4. Spots (GP 2.3): N_spot spots per shower distributed in depth by their own Gamma profile;
   the visible energy of a step is shared equally among its spots; each spot is placed at a
   radius drawn from the two-component profile p core(R_C) + (1 - p) tail(R_T) (GP 2.2, with
   the sampling corrections of GP 3) in Molière radii of the effective medium, at a uniform
   azimuth, and read out by the cell of its readout layer that contains it — for eta x phi
   layers through the impact offset (``sample.offset_eta/offset_phi``) and the shower's
   alignment-configuration grid offsets, for Cartesian/polar layers through the impact x/y.

Photons start their (electron-like) profile after an exponential conversion depth of mean
``photon_conversion_x0`` = 9/7 X0. Inclined axes (``sample.direction``) shift the spots
laterally by z tan(theta) and stretch the depth by 1/cos(theta).

Bookkeeping (MeV, per shower): ``active`` = visible energy (also outside the cells),
``passive`` = the rest of the deposited energy (dead material in front included), ``escaped``
= the profile's longitudinal tail beyond the last slab (slabs are laterally unbounded, so there
is no lateral leakage), ``below_cut`` = 0 (no particles are tracked, so there is no tracking
cut). The four sum to the incident energy.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from caloforge.geometry import CartesianGrid, EtaPhiGrid, Geometry, PolarGrid
from caloforge.geometry.atlas import N_CONFIGS, config_layer_offsets
from caloforge.simulation.engine import EngineOutput, max_workers
from caloforge.simulation.gflash.kernel import KIND_GRID, KIND_NONE, KIND_POLAR, simulate_showers
from caloforge.simulation.gflash.medium import (
    EffectiveMedium,
    effective_medium,
    layer_sampling,
    step_table,
)
from caloforge.simulation.gflash.parameters import GFlashParameters, longitudinal_moments
from caloforge.simulation.gun import GUN_PARTICLES, GunSample

__all__ = ["EffectiveMedium", "GFlashParameters", "effective_medium", "run_gflash", "spot_count"]


def spot_count(p: GFlashParameters, medium: EffectiveMedium, energy_mev: np.ndarray) -> np.ndarray:
    """GP 2.3 / 3: number of spots per shower, N = n0 ln(Z) E^n1 (homogeneous) or
    N = n0 / c_sam E^n1 (sampling), E in GeV; at least 1."""
    e_gev = np.asarray(energy_mev, dtype=float) / 1000.0
    if medium.sampling and medium.sampling_term > 0:
        n = p.nspot_sam_0 / medium.sampling_term * e_gev**p.nspot_sam_1
    else:
        n = p.nspot_hom_0 * math.log(medium.z_eff) * e_gev**p.nspot_hom_1
    return np.maximum(n, 1.0)


def _layer_tables(
    geometry: Geometry, sample: GunSample
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Segmentation tables for the kernel and the per-shower impact in each layer's
    lateral coordinates (see :func:`~caloforge.simulation.gflash.kernel.simulate_showers`)."""
    n, n_layers = len(sample), geometry.n_layers
    kind = np.full(n_layers, KIND_NONE, dtype=np.int64)
    ints = np.zeros((n_layers, 5), dtype=np.int64)
    floats = np.ones((n_layers, 4))
    base = np.zeros((n, n_layers, 2))
    edges: list[float] = [0.0]
    grid_offsets = np.zeros((n, n_layers, 2))
    if geometry.alignment_configs == N_CONFIGS and "config" in sample.conditions:
        table = np.array([config_layer_offsets(c) for c in range(N_CONFIGS)])
        grid_offsets = table[np.asarray(sample.conditions["config"], dtype=np.int64)]
    for i, layer in enumerate(geometry.layers):
        seg = layer.segmentation
        if seg.n_cells == 0:
            continue
        if isinstance(seg, CartesianGrid):
            kind[i] = KIND_GRID
            ints[i] = (seg.nx, seg.ny, 1, seg.nx, 0)
            floats[i] = (seg.pitch_x_mm, seg.pitch_y_mm, 1.0, 1.0)
            base[:, i] = np.stack([sample.x_mm, sample.y_mm], axis=1)
        elif isinstance(seg, EtaPhiGrid):
            kind[i] = KIND_GRID
            ints[i] = (seg.n_eta, seg.n_phi, seg.n_phi, 1, 0)
            floats[i] = (seg.d_eta, seg.d_phi, 1.0 / seg.mm_per_eta, 1.0 / seg.mm_per_phi)
            base[:, i, 0] = sample.offset_eta - grid_offsets[:, i, 0]
            base[:, i, 1] = sample.offset_phi - grid_offsets[:, i, 1]
        elif isinstance(seg, PolarGrid):
            kind[i] = KIND_POLAR
            ints[i] = (seg.n_alpha, seg.n_r, 0, 0, len(edges))
            edges += [float(r) for r in seg.r_edges_mm]
            base[:, i] = np.stack([sample.x_mm, sample.y_mm], axis=1)
        else:  # pragma: no cover - Segmentation is a closed union
            msg = f"layer {layer.name!r}: unsupported segmentation {type(seg).__name__}"
            raise TypeError(msg)
    return kind, ints, floats, base, np.asarray(edges)


def run_gflash(
    geometry: Geometry,
    sample: GunSample,
    *,
    workers: int | None = None,
    params: GFlashParameters | None = None,
) -> EngineOutput:
    """Simulate the showers of ``sample`` in ``geometry`` with the GFlash parametrisation.

    Returns an :class:`EngineOutput`: ``cells`` (n, n_cells) float32 visible MeV and the
    per-shower bookkeeping (see the module docstring: ``below_cut_mev`` is always zero and
    ``escaped_mev`` is the longitudinal leakage only). Deterministic per shower from
    ``sample.shower_seed``, identical for any ``workers`` (threads; default: all cores).
    """
    p = params if params is not None else GFlashParameters()
    if sample.particle not in GUN_PARTICLES:
        msg = f"GFlash simulates {', '.join(GUN_PARTICLES)}; got particle {sample.particle!r}"
        raise ValueError(msg)
    if not geometry.has_stack:
        msg = f"geometry {geometry.name!r} has no slab stack: it can be read but not simulated"
        raise ValueError(msg)
    if workers is None:
        workers = max_workers()
    if workers < 1:
        msg = f"workers must be >= 1, got {workers}"
        raise ValueError(msg)
    n = len(sample)
    energy = np.ascontiguousarray(sample.energy_mev, dtype=np.float64)
    if n and not (np.all(np.isfinite(energy)) and np.all(energy > 0)):
        msg = "GFlash: incident energies must be finite and > 0 MeV"
        raise ValueError(msg)

    medium = effective_medium(geometry, p)
    steps = step_table(geometry, p)
    visible, samp_term = layer_sampling(geometry, p)
    mom = longitudinal_moments(
        p,
        energy / medium.critical_energy_mev,
        medium.z_eff,
        medium.fs,
        medium.e_hat,
        medium.sampling,
    )
    moments = np.ascontiguousarray(
        np.stack(
            [
                mom.mu_lnt,
                mom.mu_lna,
                mom.sig_lnt,
                mom.sig_lna,
                mom.rho,
                mom.mu_lnt_hom,
                mom.mu_lna_hom,
                mom.sig_lnt_hom,
                mom.sig_lna_hom,
                mom.rho_hom,
            ],
            axis=1,
        ).reshape(n, 10)
    )
    if medium.sampling:
        spot_coef = [p.tspot_sam_0, p.tspot_sam_1, p.aspot_sam_0, p.aspot_sam_1]
    else:
        spot_coef = [p.tspot_hom_0, p.tspot_hom_1, p.aspot_hom_0, p.aspot_hom_1]
    direction = np.asarray(sample.direction, dtype=float).reshape(n, 3)
    slope = np.stack(
        [direction[:, 0] / direction[:, 2], direction[:, 1] / direction[:, 2], direction[:, 2]],
        axis=1,
    )
    kind, ints, floats, base, r_edges = _layer_tables(geometry, sample)
    med = np.array(
        [
            medium.z_eff,
            medium.moliere_radius_mm,
            1.0 / medium.fs,
            1.0 - medium.e_hat,
        ]
    )
    cells = np.zeros((n, geometry.n_cells), dtype=np.float32)
    book = np.zeros((n, 3))
    if n:
        previous = numba.get_num_threads()
        numba.set_num_threads(min(workers, max_workers()))
        try:
            simulate_showers(
                energy,
                np.ascontiguousarray(sample.shower_seed, dtype=np.uint64),
                moments,
                spot_count(p, medium, energy),
                base,
                np.ascontiguousarray(slope),
                sample.particle == "photon",
                p.photon_conversion_x0,
                steps.t_edges,
                steps.z_edges_mm,
                steps.layer,
                kind,
                geometry.layer_offsets[:-1].astype(np.int64),
                ints,
                floats,
                r_edges,
                visible,
                samp_term,
                med,
                p.radial_spot_array(),
                np.asarray(spot_coef, dtype=np.float64),
                geometry.n_cells,
                cells,
                book,
            )
        finally:
            numba.set_num_threads(previous)
    return EngineOutput(
        cells=cells,
        active_mev=book[:, 0].copy(),
        passive_mev=book[:, 1].copy(),
        escaped_mev=book[:, 2].copy(),
        below_cut_mev=np.zeros(n),
    )
