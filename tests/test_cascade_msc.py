"""Multiple scattering of the cascade: the transport mean free path against screened
Rutherford theory computed here independently, and the angular sampler (mean cosine
exp(-tau) whatever the step, Gaussian core, single-scattering tail)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from caloforge.materials import get_material
from caloforge.simulation.cascade.physics import Cuts, build_tables, energy_grid
from caloforge.simulation.cascade.transport import (
    HARD_PER_LAMBDA1,
    SOFT_W0,
    SOFT_W1,
    TAU_SPREAD,
    _hinge_length,
    _msc_deflect,
    _normal,
    _soft_scale,
    _soft_scale_newton,
    _spread_variance,
)

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


def _hinge_path(tau: float, n_steps: int, a: float, n: int, seed: int) -> np.ndarray:
    """(n, 3) end points of paths of tau transport lengths (lambda_1 = 1, no energy loss) cut
    into n_steps random-hinge steps far from any face, as the kernel moves an e±: straight
    for a uniform fraction of the legs' length g (:func:`_hinge_length`), deflected by the
    step's tau / n_steps transport lengths, straight for the rest, then, for steps beyond
    TAU_SPREAD, the Gaussian of :func:`_spread_variance` added to the end point."""
    state = np.array([seed], dtype=np.uint64)
    out = np.empty((n, 3))
    s = tau / n_steps
    g = _hinge_length(s, s)
    sd = math.sqrt(_spread_variance(s, s, g)) if s > TAU_SPREAD else 0.0
    rng = np.random.default_rng(seed)
    for i in range(n):
        pos = np.zeros(3)
        u = (0.0, 0.0, 1.0)
        for _ in range(n_steps):
            leg = rng.uniform() * g
            pos += leg * np.asarray(u)
            u = _msc_deflect(*u, s, a, state)
            pos += (g - leg) * np.asarray(u)
            if sd > 0.0:
                pos += sd * np.array([_normal(state), _normal(state), _normal(state)])
        out[i] = pos
    return out


def lewis_moments(tau: float, a: float) -> tuple[float, float]:
    """(<z>, <x^2 + y^2>) after a path of tau transport lengths (lambda_1 = 1) without energy
    loss (Lewis 1950): <z> = 1 - e^-tau, <r^2> = 2 (tau - 1 + e^-tau), and <z^2> from
    <u_z^2>(t) = 1/3 + 2/3 e^(-k2 t), k2 = lambda_1 / lambda_2 = G2 / G1 of the screened
    Rutherford law, G1 = 2A[(1 + A) L - 1], G2 = 6A(1 + A)[(1 + 2A) L - 2], L = ln(1 + 1/A)."""
    big_l = math.log1p(1 / a)
    k2 = 3 * (1 + a) * ((1 + 2 * a) * big_l - 2) / ((1 + a) * big_l - 1)
    e1 = -math.expm1(-tau)
    r2 = 2 * (tau - e1)
    z2 = 2 * ((tau - e1) / 3 + 2 / 3 / (1 - k2) * (-math.expm1(-k2 * tau) / k2 - e1))
    return e1, r2 - z2


@pytest.mark.parametrize("n_steps", [1, 8])
def test_hinge_displacement_has_the_analytic_moments(n_steps: int) -> None:
    """A path of tau = 0.1 transport lengths (no energy loss) in one random-hinge step or in
    eight: <z> and the lateral second moment <x^2 + y^2> against Lewis' exact moments. One
    hinge step gives s^2/3 <sin^2 theta> = 0.95 of Lewis' lateral moment at tau = 0.1; steps
    of tau / 8 come within 2%."""
    tau, a, n = 0.1, 1e-4, 20_000
    end = _hinge_path(tau, n_steps, a, n, seed=21 + n_steps)
    z_mean, rho2_mean = lewis_moments(tau, a)
    z = end[:, 2]
    assert abs(z.mean() - z_mean) < 4 * z.std() / math.sqrt(n) + 1e-4
    rho2 = end[:, 0] ** 2 + end[:, 1] ** 2
    err = rho2.std() / math.sqrt(n)
    target = rho2_mean * (0.95 if n_steps == 1 else 1.0)
    assert abs(rho2.mean() - target) < 4 * err + 0.02 * rho2_mean


@pytest.mark.parametrize("tau", [0.5, 2.0, 6.0])
def test_long_hinge_step_has_lewis_first_and_second_moments(tau: float) -> None:
    """One step of many transport lengths (a step far from a face): the legs shortened to
    2 tanh(tau / 2) and the added Gaussian make <z> = 1 - e^-tau and <r^2> =
    2 (tau - 1 + e^-tau) exact (Lewis); the plain hinge (legs of length tau) gives
    <z> = tau (1 + e^-tau) / 2, 1.7 times too long at tau = 2."""
    n = 20_000
    end = _hinge_path(tau, 1, 1e-4, n, seed=31)
    z = end[:, 2]
    assert abs(z.mean() - (1 - math.exp(-tau))) < 4 * z.std() / math.sqrt(n)
    r2 = (end**2).sum(axis=1)
    assert abs(r2.mean() - 2 * (tau - 1 + math.exp(-tau))) < 4 * r2.std() / math.sqrt(n)


def test_soft_scale_table_matches_newton() -> None:
    """The tabulated scale of the soft deflection agrees with Newton's solution to 4e-6 over
    the table, and is Newton's own outside it."""
    for w in np.linspace(SOFT_W0, SOFT_W1, 2_003)[:-1]:
        assert _soft_scale(w) == pytest.approx(_soft_scale_newton(w), rel=4e-6)
    for w in (0.05, 0.19, 0.96, 0.999):
        assert _soft_scale(w) == _soft_scale_newton(w)
    # the scale solves b - 2 / (e^(2/b) - 1) = mean w
    b = _soft_scale(0.5)
    assert b - 2 / math.expm1(2 / b) == pytest.approx(0.5, rel=1e-5)
