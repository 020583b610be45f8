"""GFlash physics in homogeneous blocks: the mean longitudinal profile is the mean of the Gamma
distributions it samples, t_max follows GP's <T_hom>, and ~90% lies within one Molière radius.

The expected values are computed here from the published formulas (hep-ex/0001020, section 2),
independently of the implementation's parameter tables.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import gammainc

from caloforge.geometry import Geometry, Layer, PolarGrid, Slab
from caloforge.materials import get_material
from caloforge.simulation.gflash import run_gflash
from caloforge.simulation.gun import ParticleGun

STEP_X0 = 0.5
N_LAYERS = 80  # 40 X0: longitudinal leakage is negligible


def _block(material: str) -> Geometry:
    """A homogeneous, fully active block of 0.5-X0 layers, read out in rings of 0, 1, 2 R_M."""
    m = get_material(material)
    rm = m.moliere_radius_mm
    rings = PolarGrid((0.0, rm, 2 * rm, 1.0e6), 1)
    layers = tuple(
        Layer(f"layer{i}", rings, (Slab(material, STEP_X0 * m.x0_mm, True),))
        for i in range(N_LAYERS)
    )
    return Geometry(name=f"{material}-block", layers=layers)


def _expected_profile(material: str, energy_mev: float, edges: np.ndarray) -> np.ndarray:
    """Mean fraction of the energy in each depth bin: the Gamma CDF difference averaged over
    the correlated log-normal (T, alpha) of GP section 2.1, by Gauss-Hermite quadrature."""
    m = get_material(material)
    z = m.z_eff
    ln_y = math.log(energy_mev / m.critical_energy_mev)
    mu_t = math.log(ln_y - 0.812)
    mu_a = math.log(0.81 + (0.458 + 2.26 / z) * ln_y)
    sig_t = 1.0 / (-1.4 + 1.26 * ln_y)
    sig_a = 1.0 / (-0.58 + 0.86 * ln_y)
    rho = 0.705 - 0.023 * ln_y
    nodes, weights = np.polynomial.hermite_e.hermegauss(48)
    weights = weights / weights.sum()
    z1, z2 = np.meshgrid(nodes, nodes, indexing="ij")
    w = np.outer(weights, weights)
    c1, c2 = math.sqrt((1 + rho) / 2), math.sqrt((1 - rho) / 2)
    t_max = np.maximum(1.0, np.exp(mu_t + sig_t * (c1 * z1 + c2 * z2)))
    alpha = np.maximum(1.1, np.exp(mu_a + sig_a * (c1 * z1 - c2 * z2)))
    beta = (alpha - 1.0) / t_max
    cdf = gammainc(alpha[..., None], beta[..., None] * edges)
    return np.tensordot(w, np.diff(cdf, axis=-1), axes=([0, 1], [0, 1]))


def _simulate(material: str, energy_mev: float, n: int, seed: int) -> np.ndarray:
    geometry = _block(material)
    sample = ParticleGun("electron", (energy_mev,)).sample(n, geometry, seed)
    out = run_gflash(geometry, sample)
    return out.cells.reshape(n, N_LAYERS, 3).astype(np.float64) / energy_mev


@pytest.mark.parametrize(("material", "energy_mev"), [("Pb", 10_000.0), ("W", 50_000.0)])
def test_mean_longitudinal_profile_is_the_mean_gamma(material: str, energy_mev: float) -> None:
    n = 2000
    cells = _simulate(material, energy_mev, n, seed=11)
    per_layer = cells.sum(axis=2)
    mean = per_layer.mean(axis=0)
    error = per_layer.std(axis=0, ddof=1) / math.sqrt(n)
    edges = np.arange(N_LAYERS + 1) * STEP_X0
    expected = _expected_profile(material, energy_mev, edges)
    pull = (mean - expected) / np.maximum(error, 1e-6)
    assert np.max(np.abs(pull)) < 5.0, f"largest pull {pull[np.argmax(np.abs(pull))]:.2f}"
    assert abs(mean.sum() - expected.sum()) < 2e-3


def _peak_depth(profile: np.ndarray) -> float:
    """Depth (X0) of the maximum of a binned profile: parabola through the top three bins."""
    k = int(np.argmax(profile))
    y0, y1, y2 = profile[k - 1 : k + 2]
    shift = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    return (k + 0.5 + shift) * STEP_X0


@pytest.mark.parametrize("energy_mev", [2_000.0, 20_000.0, 100_000.0])
def test_depth_of_maximum_follows_gp_mean_t_hom(energy_mev: float) -> None:
    cells = _simulate("Pb", energy_mev, 600, seed=3)
    t_max = _peak_depth(cells.sum(axis=2).mean(axis=0))
    # GP eq. for the average profile of electrons: <T_hom> = ln y - 0.858
    expected = math.log(energy_mev / get_material("Pb").critical_energy_mev) - 0.858
    assert abs(t_max - expected) < 0.3, f"t_max {t_max:.2f} X0 vs <T_hom> {expected:.2f} X0"


def test_photons_start_later_than_electrons() -> None:
    geometry = _block("Pb")
    profiles = {}
    for particle in ("electron", "photon"):
        sample = ParticleGun(particle, (10_000.0,)).sample(800, geometry, 5)
        cells = run_gflash(geometry, sample).cells.reshape(800, N_LAYERS, 3)
        profiles[particle] = _peak_depth(cells.sum(axis=2).mean(axis=0))
    shift = profiles["photon"] - profiles["electron"]
    # conversion depth ~ Exp(9/7 X0); PDG: C_gamma - C_e = 1 X0
    assert 0.8 < shift < 1.8


@pytest.mark.parametrize("material", ["Pb", "W"])
def test_radial_containment_in_moliere_radii(material: str) -> None:
    cells = _simulate(material, 10_000.0, 400, seed=7)
    rings = cells.sum(axis=(0, 1))
    within_1 = rings[0] / rings.sum()
    within_2 = rings[:2].sum() / rings.sum()
    assert 0.85 < within_1 < 0.95, f"{within_1:.3f} within 1 R_M"
    assert 0.93 < within_2 < 0.99, f"{within_2:.3f} within 2 R_M"
