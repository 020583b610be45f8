"""The synthetic showers of :mod:`synthetic` have the properties the other tests rely on."""

from __future__ import annotations

import numpy as np

from synthetic import ENERGIES_MEV, LAYER_MEANS, atlas_showers, synthetic_showers


def test_synthetic_showers_are_physical() -> None:
    s = synthetic_showers(2000, 1, (50.0,))
    ratio = s.total_energy / s.incident_energy
    assert abs(ratio.mean() - 0.9) < 0.01
    # resolution 10%/sqrt(50 GeV) = 1.41 %
    assert abs(ratio.std() / ratio.mean() - 0.1 / np.sqrt(50)) < 0.002
    middle = s.cells[:, s.geometry.layer_slice(2)].sum(1) / s.total_energy
    assert abs(middle.mean() - LAYER_MEANS[2]) < 0.01
    assert set(np.unique(s.conditions["config"])) == set(range(8))


def test_atlas_showers_cover_every_energy_and_configuration() -> None:
    s = atlas_showers(400, 5)
    assert set(np.unique(s.incident_energy)) == set(ENERGIES_MEV)
    assert set(np.unique(s.conditions["config"])) == set(range(8))
    # no sampling fraction: only the dead material in front and the leakage behind (~2%) are lost
    ratio = s.total_energy / s.incident_energy
    assert 0.95 < ratio.mean() < 1.0


def test_synthetic_showers_are_deterministic() -> None:
    a, b = synthetic_showers.__wrapped__(50, 3), synthetic_showers.__wrapped__(50, 3)
    assert np.array_equal(a.cells, b.cells)
    c, d = atlas_showers.__wrapped__(50, 3), atlas_showers.__wrapped__(50, 3)
    assert np.array_equal(c.cells, d.cells)
