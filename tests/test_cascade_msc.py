"""Multiple scattering of the cascade: the transport mean free path against screened
Rutherford theory computed here independently, and the angular sampler (mean cosine
exp(-tau) whatever the step, Gaussian core, single-scattering tail)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from caloforge.materials import get_material
from caloforge.simulation.cascade.physics import Cuts, build_tables, energy_grid
from caloforge.simulation.cascade.transport import HARD_PER_LAMBDA1, _msc_deflect

# CODATA: electron rest energy, classical radius, Bohr radius (cm), hbar c (MeV cm), alpha
ME, RE_CM, A0_CM, HBARC_MEV_CM, ALPHA = 0.51099895, 2.8179403262e-13, 5.29177210903e-9, 1.973269804e-11, 1 / 137.036  # fmt: skip
# (Z, atomic mass g/mol, density g/cm3): elements, so lambda_1 = 1 / (n sigma_tr) exactly
ELEMENTS = {"Si": (14, 28.0855, 2.329), "W": (74, 183.84, 19.3), "Pb": (82, 207.2, 11.35),
            "LAr": (18, 39.948, 1.396)}  # fmt: skip


def lambda1_theory_mm(z: int, a_mol: float, rho: float, t: float) -> float:
    """1 / (n sigma_tr): Wentzel cross section with Molière's screening angle
    chi_a^2 = chi_0^2 (1.13 + 3.76 (alpha Z / beta)^2), chi_0 = hbar / (p a_TF), A = chi_a^2 / 4,
    sigma_tr = 2 pi Z(Z+1) r_e^2 (m c^2 / (p beta c))^2 (ln(1 + 1/A) - 1/(1 + A)) (cm)."""
    e = t + ME
    pc = math.sqrt(e * e - ME * ME)
    beta = pc / e
    chi0 = HBARC_MEV_CM / (pc * 0.885 * A0_CM * z ** (-1 / 3))
    screen = 0.25 * chi0**2 * (1.13 + 3.76 * (ALPHA * z / beta) ** 2)
    sigma_tr = 2 * math.pi * z * (z + 1) * (RE_CM * ME / (pc * beta)) ** 2
    sigma_tr *= math.log(1 + 1 / screen) - 1 / (1 + screen)
    n_cm3 = rho / a_mol * 6.02214076e23
    return 10.0 / (n_cm3 * sigma_tr)


@pytest.mark.parametrize("material", list(ELEMENTS))
def test_transport_mean_free_path_matches_screened_rutherford(material: str) -> None:
    z, a_mol, rho = ELEMENTS[material]
    mat = get_material(material)
    assert dict(mat.composition) == {z: 1.0}
    assert mat.density_g_cm3 == pytest.approx(rho, rel=0.01)
    tab = build_tables((material,), Cuts())
    grid = energy_grid()
    for t in (1.0, 10.0, 100.0):
        table = float(np.interp(math.log(t), np.log(grid), tab.lambda1_mm[0]))
        assert table == pytest.approx(lambda1_theory_mm(z, a_mol, rho, t), rel=0.05)
    # orders of magnitude that fail loudly: 10 MeV in Si ~57 mm, in W ~1.95 mm
    if material in ("Si", "W"):
        ten = float(np.interp(math.log(10.0), np.log(grid), tab.lambda1_mm[0]))
        assert ten == pytest.approx({"Si": 57.0, "W": 1.95}[material], rel=0.03)


def _deflections(tau: float, n_steps: int, a: float, n: int, seed: int) -> np.ndarray:
    """cos theta after n_steps steps of tau / n_steps each, starting along z."""
    state = np.array([seed], dtype=np.uint64)
    out = np.empty(n)
    for i in range(n):
        u = (0.0, 0.0, 1.0)
        for _ in range(n_steps):
            u = _msc_deflect(*u, tau / n_steps, a, state)
        out[i] = u[2]
    return out


@pytest.mark.parametrize("n_steps", [1, 10])
def test_mean_cosine_is_exp_minus_tau_whatever_the_steps(n_steps: int) -> None:
    a = 1e-4  # W near 1 MeV
    n = 20_000
    for tau in (0.05, 0.5, 2.0):
        cos = _deflections(tau, n_steps, a, n, seed=7 + n_steps)
        err = cos.std() / math.sqrt(n)
        assert abs(cos.mean() - math.exp(-tau)) < 4 * err + 1e-4


def test_gaussian_core_and_single_scattering_tail() -> None:
    a, tau, n = 1e-4, 0.01, 40_000
    w = 1 - _deflections(tau, 1, a, n, seed=3)
    big_l = math.log1p(1 / a) - 1 / (1 + a)
    # tail: for w above the hard cut, single scattering: P(w > W) = tau lambda_1 n sigma(> W)
    # = tau (1 / (W + 2a) - 1 / (2 + 2a)) / L
    for big_w in (0.1, 0.5):
        expected = tau * (1 / (big_w + 2 * a) - 1 / (2 + 2 * a)) / big_l
        seen = (w > big_w).mean()
        assert abs(seen - expected) < 4 * math.sqrt(expected / n)
    # core: the soft collisions' w = theta^2 / 2 is exponential (a 2-d Gaussian in theta) of
    # mean 1 - exp(-tau_soft); P(w < mean) = 1 - 1/e in the events without a hard collision
    inv_top = 1 / (2 + 2 * a)
    inv_c = HARD_PER_LAMBDA1 * big_l + inv_top
    w_c = 1 / inv_c - 2 * a
    f_hard = (math.log(inv_c / inv_top) + 2 * a * inv_top - 2 * a * inv_c) / big_l
    mean_soft = -math.expm1(-(1 - f_hard) * tau)
    soft = w[w < w_c]
    assert abs((soft < mean_soft).mean() - (1 - math.exp(-1))) < 0.015
    assert soft.mean() == pytest.approx(mean_soft, rel=0.05)
