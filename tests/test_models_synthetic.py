"""A small synthetic shower generator for the model and training tests, and its own checks.

Not a simulator: physically shaped photon showers on ``atlas-em-barrel`` in a few milliseconds.
Visible energy ``E_tot = 0.9 E_inc (1 + N(0, 10%/sqrt(E/GeV)))``; layer fractions from a
Dirichlet around (presampler 5%, strips 30%, middle 58%, back 7%); per layer a Gaussian lateral
profile around the impact point (uniform inside the hit middle cell), evaluated at each
configuration's own cell centres, times per-cell Gamma fluctuations.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from caloforge.geometry import get_geometry
from caloforge.geometry.atlas import MIDDLE_DETA, MIDDLE_DPHI, config_cell_centres
from caloforge.showerset import ShowerSet

LAYER_MEANS = np.array([0.05, 0.30, 0.58, 0.07])
#: lateral Gaussian width per layer, in middle-cell units
LAYER_WIDTHS = np.array([1.0, 0.6, 0.5, 1.2])


@lru_cache(maxsize=8)
def synthetic_showers(
    n: int, seed: int, energies_gev: tuple[float, ...] = (20.0, 50.0)
) -> ShowerSet:
    geo = get_geometry("atlas-em-barrel")
    rng = np.random.default_rng(seed)
    e_inc = rng.choice(np.asarray(energies_gev) * 1e3, size=n)
    config = rng.integers(0, geo.alignment_configs, size=n)
    resolution = 0.10 / np.sqrt(e_inc / 1e3)
    e_tot = 0.9 * e_inc * np.clip(1 + resolution * rng.standard_normal(n), 0.5, 1.5)
    fractions = rng.dirichlet(LAYER_MEANS * 200, size=n)
    centres = np.stack([config_cell_centres(geo, c) for c in range(geo.alignment_configs)])
    units = np.array([MIDDLE_DETA, MIDDLE_DPHI])
    impact = (rng.uniform(-0.5, 0.5, size=(n, 2))) * units
    offset = (centres[config] - impact[:, None, :]) / units  # (n, 266, 2) in middle cells
    width = LAYER_WIDTHS[geo.cell_layer]
    weight = np.exp(-0.5 * (offset**2).sum(axis=2) / width**2)
    weight *= geo.cell_sizes().prod(axis=1) / (MIDDLE_DETA * MIDDLE_DPHI)
    weight *= rng.gamma(20.0, 1 / 20.0, size=weight.shape)
    cells = np.zeros_like(weight)
    for i in range(geo.n_layers):
        sl = geo.layer_slice(i)
        w = weight[:, sl]
        cells[:, sl] = w / w.sum(axis=1, keepdims=True) * (e_tot * fractions[:, i])[:, None]
    return ShowerSet(e_inc, cells.astype(np.float32), geo, "photon", {"config": config})


def test_synthetic_showers_are_physical() -> None:
    s = synthetic_showers(2000, 1, (50.0,))
    ratio = s.total_energy / s.incident_energy
    assert abs(ratio.mean() - 0.9) < 0.01
    # resolution 10%/sqrt(50 GeV) = 1.41 %
    assert abs(ratio.std() / ratio.mean() - 0.1 / np.sqrt(50)) < 0.002
    middle = s.cells[:, s.geometry.layer_slice(2)].sum(1) / s.total_energy
    assert abs(middle.mean() - LAYER_MEANS[2]) < 0.01
    assert set(np.unique(s.config)) == set(range(8))


def test_synthetic_showers_are_deterministic() -> None:
    a, b = synthetic_showers.__wrapped__(50, 3), synthetic_showers.__wrapped__(50, 3)
    assert np.array_equal(a.cells, b.cells)
