"""Emission angles of the cascade: the modified Tsai distribution of bremsstrahlung photons
and pair leptons (Geant4 G4ModifiedTsai: mean u = theta E / m_e = 1.6)."""

from __future__ import annotations

import math

import numpy as np

from caloforge.simulation.cascade.physics import ELECTRON_MASS_MEV
from caloforge.simulation.cascade.transport import _tsai_cost


def test_modified_tsai_mean_angle() -> None:
    # f(u) = 1/4 b1^2 u e^(-b1 u) + 3/4 b2^2 u e^(-b2 u), b1 = 0.625, b2 = 1.875:
    # <u> = 1/4 * 2/b1 + 3/4 * 2/b2 = 0.8 + 0.8 = 1.6; <u^2> = 1/4 * 6/b1^2 + 3/4 * 6/b2^2
    e_total = 10_000.0  # MeV: the truncation at u_max ~ 4e4 is irrelevant
    state = np.array([12345], dtype=np.uint64)
    n = 40_000
    theta = np.array([math.acos(_tsai_cost(e_total, state)) for _ in range(n)])
    u = theta * e_total / ELECTRON_MASS_MEV
    mean_u2 = 0.25 * 6 / 0.625**2 + 0.75 * 6 / 1.875**2
    err = math.sqrt(mean_u2 - 1.6**2) / math.sqrt(n)  # 0.009
    assert abs(u.mean() - 1.6) < 4 * err
    assert abs((u * u).mean() / mean_u2 - 1) < 0.05
