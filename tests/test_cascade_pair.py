"""Pair energy sharing with screening: the kernel's sampled electron fraction against the
screened Bethe–Heitler shape of the tables (numerical integral), its symmetry, and its
limits (complete screening at high energy, uniform below 2 MeV)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from caloforge.materials import get_material
from caloforge.simulation.cascade.physics import (
    ELECTRON_MASS_MEV,
    brems_elements,
    coulomb_correction,
    pair_sharing,
)
from caloforge.simulation.cascade.transport import _pair_eps, _pair_f12

ME = ELECTRON_MASS_MEV


def _expected_counts(material: str, k: float, edges: np.ndarray, n: int) -> np.ndarray:
    mat = get_material(material)
    fine = np.linspace(ME / k, 1 - ME / k, 200_001)
    pdf = pair_sharing(mat, k, fine)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(fine))])
    return n * np.diff(np.interp(edges, fine, cdf / cdf[-1]))


@pytest.mark.parametrize(("material", "k"), [("Pb", 10.0), ("Pb", 1000.0), ("PbWO4", 100.0), ("Si", 3.0)])  # fmt: skip
def test_sampled_sharing_follows_the_screened_bethe_heitler_shape(material: str, k: float) -> None:
    el = brems_elements(get_material(material))
    state = np.array([99 + int(k)], dtype=np.uint64)
    n = 20_000
    eps = np.array([_pair_eps(el, k, state) for _ in range(n)])
    assert eps.min() >= ME / k
    assert eps.max() <= 1 - ME / k
    edges = np.linspace(ME / k, 1 - ME / k, 31)
    counts = np.histogram(eps, bins=edges)[0]
    expected = _expected_counts(material, k, edges, n)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 30 + 5 * math.sqrt(2 * 30)
    # symmetric: as many electrons above 1/2 as below (within 4 sigma)
    assert abs((eps > 0.5).mean() - 0.5) < 4 * 0.5 / math.sqrt(n)


@pytest.mark.parametrize("material", ["Pb", "PbWO4", "Si", "Scintillator"])
def test_kernel_terms_match_the_table_shape(material: str) -> None:
    """2/3 (eps - 1/2)^2 F1 + 1/3 F2 of the kernel equals the tables' d sigma / d eps, and F1,
    F2 are largest at eps = 1/2 (the envelope of the sampling)."""
    mat = get_material(material)
    el = brems_elements(mat)
    for k in (5.0, 30.0, 300.0, 1e5):
        eps = np.linspace(ME / k, 0.5, 41)
        ref = pair_sharing(mat, k, eps)
        x = 100 * ME / (k * eps * (1 - eps))
        f = np.array([_pair_f12(el, xi, k > 50) for xi in x])
        mine = 2 / 3 * (eps - 0.5) ** 2 * f[:, 0] + f[:, 1] / 3
        np.testing.assert_allclose(np.maximum(mine, 0), ref, rtol=1e-9, atol=1e-9 * ref.max())
        assert (f[:, 0] <= f[-1, 0] + 1e-9).all()
        assert (f[:, 1] <= f[-1, 1] + 1e-9).all()


def test_symmetric_in_eps() -> None:
    mat = get_material("Pb")
    for k in (2.5, 10.0, 1e3):
        eps = np.linspace(0.0, 1.0, 101)
        np.testing.assert_allclose(
            pair_sharing(mat, k, eps), pair_sharing(mat, k, 1 - eps), rtol=1e-12
        )


def test_complete_screening_at_high_energy() -> None:
    """At 1 TeV the shape is the complete-screening one, (1 - 4/3 u) A(0) - 4/9 u (Z^2 + Z)
    with A(0) = Z^2 (20.863 - 4/3 ln Z - 4 f) + Z (28.340 - 8/3 ln Z) (Tsai), i.e. the PDG
    1 - 4/3 eps (1 - eps) within 1.5% (the 4/9 u (Z^2 + Z) term)."""
    z = 82
    mat = get_material("Pb")
    k = 1e6
    eps = np.linspace(0.01, 0.99, 99)
    u = eps * (1 - eps)
    lz = math.log(z)
    a0 = z * z * (20.863 - 4 / 3 * lz - 4 * coulomb_correction(z)) + z * (28.340 - 8 / 3 * lz)
    full = (1 - 4 / 3 * u) * a0 - 4 / 9 * u * (z * z + z)
    got = pair_sharing(mat, k, eps)
    np.testing.assert_allclose(got / got[49], full / full[49], rtol=2e-3)
    pdg = 1 - 4 / 3 * u
    np.testing.assert_allclose(got / got[49], pdg / pdg[49], rtol=0.015)


def test_screening_matters_below_a_gev() -> None:
    """At 10 MeV in Pb the screened shape is far from complete screening (asymmetric sharing
    is suppressed: at eps = 0.1 it is below 60% of eps = 1/2, complete screening gives 132%);
    uniform below 2 MeV."""
    mat = get_material("Pb")
    r10 = pair_sharing(mat, 10.0, np.array([0.1, 0.5]))
    assert r10[0] / r10[1] < 0.6
    r1 = pair_sharing(mat, 1.5, np.array([0.35, 0.5, 0.6]))
    np.testing.assert_allclose(r1, 1.0)


def test_kernel_and_tables_switch_at_the_same_energies() -> None:
    from caloforge.simulation.cascade import physics, transport

    assert transport.PAIR_UNIFORM_MEV == physics.PAIR_UNIFORM_BELOW_MEV
    assert transport.PAIR_COULOMB_MEV == physics.PAIR_COULOMB_ABOVE_MEV
