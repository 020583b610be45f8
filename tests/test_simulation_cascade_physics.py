"""Cascade MC against the textbook (PDG review §34.5) and detector numbers: depth of maximum,
Molière containment, Gamma-profile slope, sampling term, the MIP peak.

A light subset (fixed seeds, few showers, low energies); the full tables are produced by
``benchmarks/bench_cascade_physics.py`` and recorded in ``benchmarks/results/``.
"""

from __future__ import annotations

import numpy as np
import pytest

from caloforge.geometry import Geometry, get_geometry
from caloforge.materials import get_material
from caloforge.simulation import simulate
from caloforge.simulation.cascade import run_cascade
from caloforge.simulation.cascade.textbook import (
    containment,
    fit_gamma_profile,
    homogeneous_block,
    longitudinal_profile,
    pdg_tmax,
)
from caloforge.simulation.gun import ParticleGun

# runs the cascade MC: its numba kernel compiles for ~1.5 min on first use in a fresh checkout
pytestmark = pytest.mark.slow


BLOCKS = [
    ("W", "electron", 1000.0, 150),
    ("Pb", "photon", 1000.0, 150),
    ("PbWO4", "electron", 10_000.0, 24),
]
_blocks: dict[tuple[str, str, float, int], tuple[Geometry, np.ndarray]] = {}


def _block_showers(case: tuple[str, str, float, int]) -> tuple[Geometry, np.ndarray]:
    """The cascade's showers in a 30 X0 block sliced at 0.25 X0 (run once per case)."""
    if case not in _blocks:
        material, particle, energy_mev, n = case
        g = homogeneous_block(material, depth_x0=30.0, slice_x0=0.25)
        sample = ParticleGun(particle, energies_mev=(energy_mev,)).sample(n, g, seed=11)
        _blocks[case] = (g, run_cascade(g, sample, workers=2).cells)
    return _blocks[case]


@pytest.mark.parametrize("case", BLOCKS, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]:g}")
def test_homogeneous_block_matches_the_pdg_review(case: tuple[str, str, float, int]) -> None:
    g, cells = _block_showers(case)
    _, b, _ = fit_gamma_profile(longitudinal_profile(g, cells).mean(axis=0), 0.25)
    assert 0.4 <= b <= 0.65
    assert 0.85 <= containment(g, cells, 1).mean() <= 0.95
    assert containment(g, cells, 2).mean() >= 0.93


#: transport version 8 peaks 0.38 (W e- 1 GeV), 0.50 (Pb photon 1 GeV) and 0.14 X0 (PbWO4 e-
#: 10 GeV) before Rossi's approximation B (PDG: ln y -/+ 0.5), measured with 600, 600 and 100
#: showers (version 7: 0.51, 0.58, 0.53); over three seeds of 600 showers the W electron is
#: 0.37-0.45 and the Pb photon 0.52-0.59 X0 early (version 9: 0.39-0.48 and 0.56-0.65). GFlash's
#: fit to GEANT3 showers, run on the same blocks, peaks 0.31-0.33 X0 before it (issue 16 stays
#: open on the photon)
_EARLY_TMAX = pytest.mark.xfail(
    reason="t_max 0.5-0.65 X0 before the PDG approximation (transport 8-10); see docs/simulate.md",
    strict=True,
)


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=_EARLY_TMAX) if c[1] == "photon" else c for c in BLOCKS],
    ids=lambda c: f"{c[0]}-{c[1]}-{c[2]:g}",
)
def test_shower_maximum_matches_the_pdg_approximation(case: tuple[str, str, float, int]) -> None:
    g, cells = _block_showers(case)
    material, particle, energy_mev, _ = case
    _, _, t_max = fit_gamma_profile(longitudinal_profile(g, cells).mean(axis=0), 0.25)
    assert abs(t_max - pdg_tmax(energy_mev, material, particle)) < 0.5


def test_shower_depth_grows_as_ln_e() -> None:
    """Rossi's approximation B: shower depth = ln(E / Ec) + const, so the mean centre of gravity
    moves by ln(10) = 2.30 X0 from 1 to 10 GeV (measured 2.30 +- 0.06 with 2000 + 600 showers;
    here 600 + 150: +- 0.09)."""
    g = homogeneous_block("Pb", depth_x0=30.0, slice_x0=0.25)
    depth = (np.arange(g.n_layers) + 0.5) * 0.25
    cog = []
    for e, n in ((1000.0, 600), (10_000.0, 150)):
        sample = ParticleGun("electron", energies_mev=(e,)).sample(n, g, seed=12)
        profile = longitudinal_profile(g, run_cascade(g, sample, workers=2).cells)
        cog.append(float(((profile * depth).sum(axis=1) / profile.sum(axis=1)).mean()))
    assert cog[1] - cog[0] == pytest.approx(np.log(10.0), abs=0.3)


def test_atlas_stochastic_term_near_ten_percent() -> None:
    # 120 showers measure sigma to ~6.5% (1 / sqrt(2n)): the (10 +- 2)% band, widened by 2 sigma
    e = 5000.0
    res = simulate(
        "atlas-em-barrel", ParticleGun("photon", energies_mev=(e,)), 120, seed=21, progress=False
    )
    assert res.showers is not None
    cluster = res.showers.cells.sum(axis=1).astype(float)
    stochastic = cluster.std() / cluster.mean() * np.sqrt(e / 1000.0)
    assert 0.07 <= stochastic <= 0.135


def test_mip_peak_in_the_cell_spectrum() -> None:
    # cells far from the axis are crossed by single charged particles: their spectrum peaks at
    # the MIP deposit of one readout layer, 2 x 0.3 mm of Si at dE/dx_min (PDG table)
    g = get_geometry("calochallenge-2")
    res = simulate(g, ParticleGun("electron", energies_mev=(5000.0,)), 20, seed=2, progress=False)
    assert res.showers is not None
    images = np.stack([g.layer_images(res.showers.cells, i) for i in range(g.n_layers)], axis=1)
    outer = images[..., 4:].ravel()  # radial bins beyond 4 x 4.65 mm
    outer = outer[outer > 0]
    mip = 2 * 0.3 * get_material("Si").dedx_min_mev_mm
    counts, edges = np.histogram(np.log10(outer), bins=np.linspace(-3, 1, 41))
    mode = 10 ** (0.5 * (edges[counts.argmax()] + edges[counts.argmax() + 1]))
    assert 0.5 * mip <= mode <= 1.5 * mip
    # a peak, not an edge: the spectrum falls on both sides of it
    peak = counts.argmax()
    assert counts[peak - 5] < 0.7 * counts[peak]
    assert counts[peak + 5] < 0.7 * counts[peak]
