"""Positron annihilation in flight: Heitler's cross section (against its closed form and the
measured cross sections), the sampled photon energy sharing against Heitler's differential
cross section, exact energy-momentum conservation, and the kernel's in-flight fraction
against the slowing-down integral of the tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from caloforge.geometry import Slab
from caloforge.materials import get_material
from caloforge.simulation.cascade.physics import (
    CLASSICAL_RADIUS_MM,
    ELECTRON_MASS_MEV,
    Cuts,
    annihilation_sharing,
    brems_continuous_dedx,
    build_tables,
    electron_density_mm3,
    heitler_sigma_mm2,
    restricted_collision_dedx,
)
from caloforge.simulation.cascade.stack import flatten
from caloforge.simulation.cascade.transport import _heitler_eps, _two_gamma
from slabs import one_cell

ME = ELECTRON_MASS_MEV
MB_MM2 = 1e-25  # millibarn


def _heitler_closed_form(t: float) -> float:
    g = t / ME + 1
    r = math.sqrt(g * g - 1)
    bracket = (g * g + 4 * g + 1) / (g * g - 1) * math.log(g + r) - (g + 3) / r
    return math.pi * CLASSICAL_RADIUS_MM**2 / (g + 1) * bracket


@pytest.mark.parametrize("t", [0.01, 0.5, 10.0, 1e3, 1e5])
def test_total_cross_section_is_heitlers(t: float) -> None:
    assert heitler_sigma_mm2(np.array([t]))[0] == pytest.approx(_heitler_closed_form(t), rel=1e-12)
    # and the differential cross section integrates to it
    g = t / ME + 1
    b = math.sqrt((g - 1) / (g + 1))
    eps = np.linspace(0.5 * (1 - b), 0.5 * (1 + b), 400_001)
    integral = np.trapezoid(annihilation_sharing(t, eps), eps)
    assert integral == pytest.approx(_heitler_closed_form(t), rel=1e-4)


@pytest.mark.parametrize(("t", "measured_mb", "error_mb"), [(50.0, 11.0, 2.5), (100.0, 6.3, 1.2), (200.0, 3.7, 0.6)])  # fmt: skip
def test_total_cross_section_matches_the_measured_one(
    t: float, measured_mb: float, error_mb: float
) -> None:
    """Positrons of 50, 100, 200 MeV disappearing in beryllium: 11.0 +- 2.5, 6.3 +- 1.2,
    3.7 +- 0.6 mb per electron ("Electron-Positron Annihilation in Flight", Phys. Rev. 1953,
    Colgate and Gilbert). Heitler: 11.17, 6.41, 3.63 mb."""
    sigma_mb = heitler_sigma_mm2(np.array([t]))[0] / MB_MM2
    assert abs(sigma_mb - measured_mb) < error_mb


def _heitler_cdf(t: float, eps: np.ndarray) -> np.ndarray:
    """Integral of S(eps) = -(g+1)^2 + (g^2+4g+1)/eps - 1/eps^2 from the lower limit, normed."""
    g = t / ME + 1
    b = math.sqrt((g - 1) / (g + 1))
    lo, hi = 0.5 * (1 - b), 0.5 * (1 + b)

    def prim(e: np.ndarray) -> np.ndarray:
        return -((g + 1) ** 2) * e + (g * g + 4 * g + 1) * np.log(e) + 1 / e

    e = np.clip(eps, lo, hi)
    return (prim(e) - prim(np.array(lo))) / (prim(np.array(hi)) - prim(np.array(lo)))


@pytest.mark.parametrize("t", [0.3, 3.0, 30.0, 3000.0])
def test_sampled_energy_sharing_follows_heitler(t: float) -> None:
    state = np.array([12345 + int(t * 10)], dtype=np.uint64)
    n = 20_000
    eps = np.array([_heitler_eps(t, state) for _ in range(n)])
    g = t / ME + 1
    b = math.sqrt((g - 1) / (g + 1))
    lo, hi = 0.5 * (1 - b), 0.5 * (1 + b)
    assert eps.min() >= lo
    assert eps.max() <= hi
    # bins in ln eps, where the 1/eps-like density is flat-ish: 25 bins
    edges = np.geomspace(lo, hi, 26)
    counts = np.histogram(eps, bins=edges)[0]
    expected = n * np.diff(_heitler_cdf(t, edges))
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 25 + 5 * math.sqrt(2 * 25)  # 25 degrees of freedom (~ 5 sigma)
    # the rejection function of the sampling never exceeds 1
    e = np.geomspace(lo, hi, 1001)
    tau2 = t / ME + 2
    assert (1 - e + (2 * g * e - 1) / (e * tau2 * tau2)).max() <= 1 + 1e-12


@pytest.mark.parametrize("t", [1e-3, 0.1, 2.0, 50.0, 1e4])
def test_two_photons_conserve_energy_and_momentum(t: float) -> None:
    state = np.array([7], dtype=np.uint64)
    rng = np.random.default_rng(3)
    p = math.sqrt(t * (t + 2 * ME))
    for _ in range(500):
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        k1, v1x, v1y, v1z, k2, v2x, v2y, v2z = _two_gamma(t, u[0], u[1], u[2], state)
        v1, v2 = np.array([v1x, v1y, v1z]), np.array([v2x, v2y, v2z])
        assert k1 > 0
        assert k2 > 0
        assert k1 + k2 == pytest.approx(t + 2 * ME, rel=1e-14)
        np.testing.assert_allclose(np.linalg.norm(v1), 1.0, atol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(v2), 1.0, atol=1e-12)
        # 4-momentum: the photons are massless and their momenta sum to the positron's
        np.testing.assert_allclose(k1 * v1 + k2 * v2, p * u, atol=1e-9 * (t + 2 * ME))


def _in_flight_probability(material: str, t0: float, t_stop: float) -> float:
    """1 - exp(-int n_e sigma_H(T) / S(T) dT) from t_stop to t0, S the total (unrestricted)
    stopping power of positrons: the chance to annihilate before slowing to t_stop."""
    mat = get_material(material)
    t = np.geomspace(t_stop, t0, 2001)
    s_col = np.array(
        [restricted_collision_dedx(mat, np.array([x]), x, positron=True)[0] for x in t]
    )
    s_rad = np.array([brems_continuous_dedx(mat, np.array([x]), 2 * x)[0] for x in t])
    f = electron_density_mm3(mat) * heitler_sigma_mm2(t) / (s_col + s_rad)
    return 1 - math.exp(-np.trapezoid(f, t))


def test_in_flight_fraction_of_the_tables() -> None:
    """The chance that a positron annihilates in flight before it slows to 0.1 MeV (the
    tracking cut), from the tables: 3.3% from 1 MeV, 13% from 10 MeV in scintillator; rising
    with energy, more slowly in lead, whose radiation takes the energy away faster."""
    p = {
        (m, t0): _in_flight_probability(m, t0, 0.1)
        for m in ("Scintillator", "Pb")
        for t0 in (1.0, 10.0, 100.0)
    }
    assert p[("Scintillator", 1.0)] < p[("Scintillator", 10.0)] < p[("Scintillator", 100.0)]
    assert p[("Pb", 100.0)] < p[("Scintillator", 100.0)]
    assert 0.01 < p[("Scintillator", 1.0)] < 0.05
    assert 0.08 < p[("Scintillator", 10.0)] < 0.2


@pytest.mark.slow
def test_kernel_annihilates_in_flight_as_often_as_the_tables_say() -> None:
    """One 10 MeV positron at a time through 2 m of scintillator (active, so no range
    rejection), with the kernel's own transport; its end is read off the stack: two photons of
    other energies than m_e c^2 each are an annihilation in flight. Energy is conserved per
    positron to 1e-9 (book plus everything it left on the stack = T + 2 m_e c^2). The
    fraction agrees with the slowing-down integral of the tables within its statistical error
    plus 15% (the kernel has fluctuating, discrete losses; the integral the mean loss)."""
    from caloforge.simulation.cascade.transport import BOOK_SIZE, _charged

    g = one_cell("block", Slab("Scintillator", 2000.0, True), width_mm=1e4)
    flat = flatten(g)
    cuts = Cuts()
    tab = build_tables(flat.materials, cuts)
    cutv = cuts.kernel_vector()
    tabs = tab.kernel_tuple()
    zeros = np.zeros(g.n_layers)
    ro = (flat.slab_active, flat.slab_layer, flat.kind, flat.cell_offset, flat.int_par,
          flat.float_par, flat.r_edges, zeros, zeros, flat.pitch)  # fmt: skip
    t0, n, in_flight = 10.0, 1500, 0
    for i in range(n):
        sf = np.empty((4096, 7))
        si = np.empty((4096, 2), dtype=np.int64)
        book = np.zeros(BOOK_SIZE)
        cells = np.zeros(1)
        state = np.array([1000 + i], dtype=np.uint64)
        ctx = (flat.z_lo, flat.z_hi, flat.slab_material, book, cells, sf, si, state, cutv)
        p = np.zeros(10)
        p[:7] = (t0, 0.0, 0.0, 1000.0, 0.0, 0.0, 1.0)
        p[7] = 0
        k = _charged(p, True, 0, ctx, ro, tabs)
        assert k >= 0
        left = sum(sf[j, 0] for j in range(k))
        assert book[:4].sum() + left == pytest.approx(t0 + 2 * ME, rel=1e-9)
        assert book[5] >= 1  # the positron's steps are counted (a 10 MeV one takes several)
        # at rest: the last two pushes are back-to-back photons of exactly m_e c^2
        at_rest = k >= 2 and (si[k - 2 : k, 0] == 0).all() and (sf[k - 2 : k, 0] == ME).all()
        in_flight += not at_rest
    frac = in_flight / n
    expected = _in_flight_probability("Scintillator", t0, cuts.electron_tracking_mev)
    err = math.sqrt(expected * (1 - expected) / n)
    print(f"in flight: kernel {frac:.4f}, tables {expected:.4f} +- {err:.4f}")
    assert abs(frac - expected) < 3 * err + 0.15 * expected
