"""Bremsstrahlung with Tsai's screening functions: the complete-screening limit at high
energy, the unscreened Bethe–Heitler limit at low energy, and the kernel's sampler agreeing
with the table function."""

from __future__ import annotations

import math

import numpy as np
import pytest

from caloforge.materials import get_material
from caloforge.simulation.cascade.physics import (
    ELECTRON_MASS_MEV,
    brems_continuous_dedx,
    brems_elements,
    brems_screening_ratio,
    coulomb_correction,
)
from caloforge.simulation.cascade.transport import _brems_ratio


@pytest.mark.parametrize("material", ["W", "Pb", "PbWO4", "Si", "LAr"])
def test_complete_screening_at_high_energy(material: str) -> None:
    mat = get_material(material)
    ratio = brems_screening_ratio(mat, np.array([1e5, 1e6]), np.array([0.5, 0.5]))
    np.testing.assert_allclose(ratio, 1.0, atol=0.01)
    # the radiative loss of a 100 GeV electron is E / X0 (within the 1% that the y -> 1 end
    # of the spectrum is screened less)
    t = 1e5
    loss = brems_continuous_dedx(mat, np.array([t]), 2 * t)[0]
    full = (4 / 3 * t - 2 / 3 * t * t / (t + ELECTRON_MASS_MEV) + t**3 / (3 * (t + ELECTRON_MASS_MEV) ** 2))  # fmt: skip
    assert loss * mat.x0_mm == pytest.approx(full, rel=0.01)


def test_unscreened_limit_is_bethe_heitler() -> None:
    """Far from screening (gamma >> 1), Tsai's Z^2 term tends to ln(2 E E' / (m k)) - 1/2 - f
    (Bethe–Heitler without screening): the ratio to complete screening is known in closed
    form. Si, a 3 MeV electron emitting k = 1.5 MeV (gamma ~ 4)."""
    mat = get_material("Si")
    z = 14
    t, y = 3.0, 0.5
    e = t + ELECTRON_MASS_MEV
    k = y * e
    big_l = math.log(2 * e * (e - k) / (ELECTRON_MASS_MEV * k)) - 0.5
    f = coulomb_correction(z)
    shape = 4 / 3 - 4 / 3 * y + y * y
    # the Z^2 (nucleus) and Z (electrons: ln(2 E E' / (m k)) - 1/2 as well) terms, no tail
    num = shape * (z * z * (big_l - f) + z * big_l)
    den = shape * (
        z * z * (math.log(184.15 / z ** (1 / 3)) - f) + z * math.log(1194 / z ** (2 / 3))
    )
    den += 2 / 3 * (1 - y) * (z * z + z) / 6
    assert brems_screening_ratio(mat, np.array([t]), np.array([y]))[0] == pytest.approx(
        num / den, rel=0.05
    )


def test_radiation_of_a_10_mev_electron_in_tungsten_is_reduced() -> None:
    """Incomplete screening: a 10 MeV electron in W radiates ~0.7 E / X0 (ESTAR's radiative
    stopping power over E / X0; the rule S_rad / S_col ~ Z T / 800 gives the same), not
    E / X0 as the complete-screening spectrum would."""
    mat = get_material("W")
    t = 10.0
    frac = brems_continuous_dedx(mat, np.array([t]), 2 * t)[0] * mat.x0_mm / (t + ELECTRON_MASS_MEV)
    assert 0.6 < frac < 0.78


@pytest.mark.parametrize("material", ["W", "PbWO4", "Si"])
def test_kernel_ratio_matches_the_table_function(material: str) -> None:
    mat = get_material(material)
    el = brems_elements(mat)
    for t in (1.0, 10.0, 300.0, 1e4):
        for y in (0.01, 0.3, 0.9):
            etot = t + ELECTRON_MASS_MEV
            ref = brems_screening_ratio(mat, np.array([t]), np.array([y]))[0]
            assert _brems_ratio(el, etot, y * etot) == pytest.approx(ref, rel=1e-9, abs=1e-12)
