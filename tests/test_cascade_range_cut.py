"""Production thresholds per material from a range cut (Geant4's convention)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result

from caloforge.geometry import Slab, get_geometry
from caloforge.materials import get_material
from caloforge.simulation.cascade import Cuts, production_thresholds, run_cascade
from caloforge.simulation.cascade.physics import build_tables, energy_grid
from caloforge.simulation.cascade.range_cut import (
    LOWEST_THRESHOLD_MEV,
    electron_threshold_mev,
    photon_threshold_mev,
)
from caloforge.simulation.gun import ParticleGun
from slabs import one_cell


def _mu_total(material: str) -> np.ndarray:
    tab = build_tables((material,), Cuts())
    return tab.mu_compton[0] + tab.mu_photo[0] + tab.mu_pair[0]


def test_a_1mm_cut_gives_geant4s_thresholds() -> None:
    """Geant4's production-cuts table for a 1 mm cut (its examples print it at start): e−
    548.291 keV in G4_Si and 1.36749 MeV in G4_Pb, photons 101.843 keV in G4_Pb. The e±
    conversion uses Geant4's own approximate loss, so it agrees closely; the photon one uses
    our attenuation (no absorption edges), so within 10%."""
    assert electron_threshold_mev(get_material("Si"), 1.0) == pytest.approx(0.548291, rel=0.01)
    assert electron_threshold_mev(get_material("Pb"), 1.0) == pytest.approx(1.36749, rel=0.01)
    k = photon_threshold_mev(energy_grid(), _mu_total("Pb"), 1.0)
    assert k == pytest.approx(0.101843, rel=0.1)


def test_thresholds_grow_with_the_cut_and_have_geant4s_floor() -> None:
    si = get_material("Si")
    cuts_mm = [0.001, 0.01, 0.1, 0.7, 1.0, 10.0]
    e = [electron_threshold_mev(si, c) for c in cuts_mm]
    assert all(b > a for a, b in itertools.pairwise(e))
    # 1 um of Si stops only electrons of a few keV: Geant4's floor of 990 eV (or just above)
    assert LOWEST_THRESHOLD_MEV <= e[0] < 0.01
    k = [photon_threshold_mev(energy_grid(), _mu_total("Pb"), c) for c in cuts_mm]
    assert all(b >= a for a, b in itertools.pairwise(k))


def test_tables_carry_per_material_thresholds_raised_to_the_tracking_cuts() -> None:
    tab = build_tables(("Pb", "W", "Si", "LAr"), Cuts())
    k, t = tab.photon_production_mev, tab.electron_production_mev
    # 0.7 mm: delta rays above ~1 MeV in Pb, 1.6 MeV in W, 0.42 in Si, 0.27 in LAr
    assert t == pytest.approx([1.007, 1.649, 0.4232, 0.274], rel=0.01)
    # photons: ~0.1 MeV in Pb and W; Si and LAr convert below the 20 keV tracking cut
    assert 0.08 < k[0] < 0.11
    assert 0.08 < k[1] < 0.12
    assert k[2] == k[3] == Cuts().photon_tracking_mev
    # the brems and delta-ray tables are built with them: a 0.7 MeV e− in Si makes delta
    # rays above 0.42 MeV (kinematic limit T/2 = 0.35 < 0.42: none), a 2 MeV one does
    grid = energy_grid()
    sd = tab.sigma_delta[0, 2]
    assert sd[np.searchsorted(grid, 0.7)] == 0.0
    assert sd[np.searchsorted(grid, 2.0)] > 0.0
    # fixed energies replace the conversion in every material
    fixed = build_tables(("Pb", "Si"), Cuts(photon_production_mev=0.1, electron_production_mev=1))
    assert list(fixed.electron_production_mev) == [1.0, 1.0]
    assert list(fixed.photon_production_mev) == [0.1, 0.1]
    tiny = build_tables(("Pb",), Cuts(range_cut_mm=1e-4))
    assert tiny.electron_production_mev[0] == Cuts().electron_tracking_mev
    assert tiny.photon_production_mev[0] == Cuts().photon_tracking_mev


def test_thin_silicon_loses_the_delta_rays_between_the_two_cuts() -> None:
    """1 GeV electrons through 0.3 mm of Si: with the 0.7 mm cut (0.42 MeV) delta rays
    between 0.42 and 1 MeV are produced and most leave the layer, where a 1 MeV cut deposited
    their energy continuously. The mean deposit falls by at most the energy the Møller
    spectrum puts there, 2 pi r_e^2 m_e c^2 n_e d ln(1 / 0.4232) = 4.6 keV, and by clearly
    more than its statistical error."""
    g = one_cell("si", Slab("Si", 0.3, True), width_mm=1e4)
    n = 20_000
    sample = ParticleGun("electron", energies_mev=(1000.0,)).sample(n, g, seed=7)
    ranged = run_cascade(g, sample, workers=1, cuts=Cuts()).visible_mev
    fixed = run_cascade(
        g, sample, workers=1, cuts=Cuts(electron_production_mev=1.0, photon_production_mev=0.1)
    ).visible_mev
    drop = fixed.mean() - ranged.mean()
    err = math.hypot(fixed.std(), ranged.std()) / math.sqrt(n)
    si = get_material("Si")
    n_e_per_cm3 = si.density_g_cm3 * si.z_over_a * 6.02214076e23
    k = 2 * math.pi * (2.8179403262e-13) ** 2 * 0.51099895 * n_e_per_cm3 * 0.03  # MeV
    bound = k * math.log(1.0 / electron_threshold_mev(si, 0.7))
    print(f"drop {1e3 * drop:.2f} +- {1e3 * err:.2f} keV, bound {1e3 * bound:.2f} keV")
    assert 3 * err < drop < bound
    # the most probable loss is the soft collisions': the cut leaves it (within 2%)
    assert np.median(ranged) == pytest.approx(np.median(fixed), rel=0.02)


def test_the_thresholds_are_recorded_in_the_provenance() -> None:
    from caloforge.simulation import provenance

    g = get_geometry("calochallenge-2")
    gun = ParticleGun("electron", energies_mev=(500.0,))
    attrs = provenance(g, gun, 3, 5, "cascade", Cuts(range_cut_mm=1.0))
    assert attrs["cuts"]["range_cut_mm"] == 1.0
    thresholds = attrs["production_thresholds_mev"]
    assert thresholds == production_thresholds(g, Cuts(range_cut_mm=1.0))
    assert thresholds["Si"][1] == pytest.approx(0.548291, rel=0.01)


def test_cli_range_cut_is_for_the_cascade_only(tmp_path: Path, cli: Callable[..., Result]) -> None:
    args = ["simulate", "-g", "calochallenge-2", "--energy", "5GeV", "-n", "2"]
    res = cli([*args, "--engine", "gflash", "--range-cut", "1", "-o", str(tmp_path / "a.h5")])
    assert res.exit_code == 2
    assert "--range-cut 1 applies to the cascade engine only" in res.output
    assert not (tmp_path / "a.h5").exists()
