"""Dataset 1's energy scale: the electromagnetic scale per layer (each layer's visible deposit
divided by its stack's EM sampling fraction), written by simulate's writer, stored as one
factor per layer, and read back from files either way (visible or calibrated)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from caloforge.data.energy_scale import (
    calibration_factor,
    cell_scale,
    describe_scale,
    em_sampling_fraction,
    file_energy_scale,
)
from caloforge.geometry import Slab, get_geometry
from caloforge.io import ShowerWriter, read_showers, write_showers
from caloforge.materials import get_material
from caloforge.showerset import ShowerSet

GEO = "calochallenge-1-photons"


def test_em_sampling_fraction_of_a_pb_lar_unit() -> None:
    pb, lar = get_material("Pb"), get_material("LAr")
    f_mip = 4.2 * lar.dedx_min_mev_mm / (4.2 * lar.dedx_min_mev_mm + 1.5 * pb.dedx_min_mev_mm)
    e_over_mip = 1.0 / (1.0 + 0.007 * (pb.z_eff - lar.z_eff))  # 1 / (1 + 0.007 (82 - 18))
    unit = [Slab("Pb", 1.5, False), Slab("LAr", 4.2, True)]
    assert em_sampling_fraction(unit) == pytest.approx(e_over_mip * f_mip, rel=1e-12)
    assert e_over_mip == pytest.approx(1 / 1.448)
    assert em_sampling_fraction([Slab("LAr", 4.2, True)]) == 1.0
    assert em_sampling_fraction([Slab("Pb", 1.5, False)]) == 0.0


def test_dataset_1_is_calibrated_per_layer_as_gflash_samples() -> None:
    from caloforge.simulation.gflash.medium import layer_sampling
    from caloforge.simulation.gflash.parameters import GFlashParameters

    for name in (GEO, "calochallenge-1-pions"):
        geo = get_geometry(name)
        factor = calibration_factor(name)
        assert isinstance(factor, np.ndarray)
        assert factor.shape == (geo.n_layers,)
        visible, _ = layer_sampling(geo, GFlashParameters())
        # a GFlash shower's visible deposit in a layer x its factor = the layer's deposit
        with_cells = visible > 0
        np.testing.assert_allclose(factor[with_cells] * visible[with_cells], 1.0, rtol=1e-12)
        assert (factor[~with_cells] == 1.0).all()
    photons = calibration_factor(GEO)
    assert photons[1] == pytest.approx(photons[2]) == pytest.approx(photons[3])  # one stack
    assert 4.0 < photons[1] < 5.0 < photons[0] < 7.0 < 30.0 < photons[12] < 35.0
    assert describe_scale(photons).startswith("calibrated per layer (visible x 6.414 in layer 0")


def test_writer_applies_and_stores_the_per_layer_scale(tmp_path: Path) -> None:
    geo = get_geometry(GEO)
    cells = np.zeros((2, geo.n_cells), dtype=np.float32)
    for layer in (0, 1, 12):
        cells[:, geo.layer_slice(layer).start] = 10.0
    showers = ShowerSet(np.full(2, 1000.0), cells, geo)
    path = tmp_path / "s.h5"
    with ShowerWriter(path, geo, from_visible=True) as w:
        w.append(showers)
    factor = calibration_factor(GEO)
    with h5py.File(path) as f:
        np.testing.assert_allclose(f.attrs["energy_scale"], factor)
        stored = f["showers"][...]
    for layer in (0, 1, 12):
        assert stored[0, geo.layer_slice(layer).start] == pytest.approx(10.0 * factor[layer])
    back = read_showers(path)
    np.testing.assert_allclose(back.attrs["energy_scale"], factor)
    write_showers(tmp_path / "t.h5", back)  # written again: kept, not applied twice
    with h5py.File(tmp_path / "t.h5") as f:
        np.testing.assert_array_equal(f["showers"][...], stored)
        np.testing.assert_allclose(f.attrs["energy_scale"], factor)


def test_scales_of_the_wrong_length_are_refused() -> None:
    geo = get_geometry(GEO)
    assert cell_scale(2.0, geo).shape == (geo.n_cells,)
    with pytest.raises(ValueError, match="3 factors for geometry 'calochallenge-1-photons' of 24"):
        cell_scale([1.0, 2.0, 3.0], geo)


def test_reading_accepts_visible_and_calibrated_files_and_says_which(tmp_path: Path) -> None:
    from caloforge.evaluation.calochallenge.protocol import evaluate_calochallenge

    geo = get_geometry(GEO)
    rng = np.random.default_rng(0)
    n = 50
    energy = 2.0 ** rng.integers(12, 18, n).astype(float)
    visible = rng.dirichlet(np.full(geo.n_cells, 0.3), n) * energy[:, None] * 0.2
    showers = ShowerSet(energy, visible.astype(np.float32), geo)
    old = tmp_path / "visible.h5"
    with ShowerWriter(old, geo, energy_scale=1.0) as w:  # as simulate wrote dataset 1 before
        w.append(showers)
    challenge = tmp_path / "calibrated.h5"  # as the challenge ships it: no attribute
    with h5py.File(challenge, "w") as f:
        f["incident_energies"] = energy[:, None]
        f["showers"] = (visible * cell_scale(calibration_factor(GEO), geo)).astype(np.float32)
    assert file_energy_scale({}, GEO)[1] == (
        "no 'energy_scale' attribute; assumed the calochallenge-1-photons convention"
    )
    result = evaluate_calochallenge(
        old, [challenge], ["challenge"], geometry=GEO, classifier=False, fpd_kpd=False
    )
    assert result["reference"]["energy_scale"] == "visible deposit (x1)"
    assert result["reference"]["energy_scale_found"] == "attribute 'energy_scale'"
    cand = result["candidates"]["challenge"]
    assert cand["energy_scale"].startswith("calibrated per layer")
    assert cand["energy_scale_found"].startswith("no 'energy_scale' attribute")
    # the same showers once brought to one scale: the histograms agree (float32 storage moves
    # a value across a bin edge or the 1 MeV threshold now and then); read at the wrong scale,
    # E_tot/E_inc would be ~0.2 for one of them, outside the histogram: NaN
    # (the per-energy E_tot/E_inc histograms of energies not drawn here are empty: NaN)
    sampled = {f"etot_einc_at_{e:.0f}MeV" for e in np.unique(energy)}
    seps = np.array(
        [
            v
            for k, v in cand["separation"].items()
            if not k.startswith("etot_einc_at_") or k in sampled
        ]
    )
    assert cand["separation"]["etot_einc"] == pytest.approx(0.0, abs=1e-3)
    assert np.isfinite(seps).all()
    assert (seps > 1e-3).sum() <= 3
    assert seps.max() < 0.05
