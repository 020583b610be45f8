"""The CaloChallenge protocol: its binnings, features, FPD/KPD, classifier and published table,
checked against exact values and the definitions (no challenge code is used)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from caloforge.evaluation.calochallenge.binning import (
    centre_edges,
    counts_separation,
    density_separation,
    etot_einc_edges,
    log_edges,
    separation_floor_on,
    width_edges,
)
from caloforge.evaluation.calochallenge.datasets import (
    DATASETS,
    dataset_for_geometry,
    get_dataset,
)
from caloforge.evaluation.calochallenge.distances import (
    _mmd2,
    challenge_fpd,
    challenge_kpd,
    normalise_by_reference_max,
)
from caloforge.evaluation.calochallenge.features import (
    apply_threshold,
    compute_features,
    high_level_inputs,
    layer_coordinates,
    low_level_inputs,
)
from caloforge.evaluation.calochallenge.published import (
    leaderboard_table,
    published_results,
    published_source,
)
from caloforge.geometry import Geometry, Layer, get_geometry
from caloforge.geometry.segmentation import PolarGrid

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "calochallenge"


# ---- binning and separation power --------------------------------------------------------------
def test_separation_is_zero_for_equal_one_for_disjoint_and_nan_when_empty() -> None:
    edges = np.linspace(0.0, 1.0, 11)
    a = np.array([0.05, 0.15, 0.15, 0.95])
    assert density_separation(a, a[::-1], edges) == 0.0
    assert density_separation([0.05, 0.06], [0.95], edges) == pytest.approx(1.0)
    # p = (1/2, 1/2, 0), q = (0, 1/2, 1/2): S = 1/2 (1/2 + 0 + 1/2) = 1/2
    assert density_separation([0.05, 0.15], [0.15, 0.25], edges) == pytest.approx(0.5)
    # entries outside the edges are dropped, not folded into the end bins
    assert density_separation([0.05, 7.0], [0.05, -3.0, 9.0], edges) == 0.0
    assert math.isnan(density_separation([0.05], [2.0, 3.0], edges))
    # counts (1, 1, 0) and (0, 2, 2): p = (1/2, 1/2, 0), q = (0, 1/2, 1/2)
    assert counts_separation([1, 1, 0], [0, 2, 2]) == pytest.approx(0.5)
    assert counts_separation([3, 1], [1, 1]) == pytest.approx(0.5 * (1 / 16 / 1.25 + 1 / 16 / 0.75))


def test_separation_floor_counts_filled_bins_and_entries_inside() -> None:
    edges = np.linspace(0.0, 1.0, 11)
    # 2 filled bins, 2 and 1 entries inside (5.0 is outside): (2 - 1)(1/2 + 1) / 4
    assert separation_floor_on([0.05, 0.15, 5.0], [0.15], edges) == pytest.approx(0.375)


def test_binnings_are_the_challenges() -> None:
    assert etot_einc_edges()[[0, -1]].tolist() == [0.5, 1.5]
    assert len(etot_einc_edges()) == 101
    assert centre_edges(False, 3)[[0, -1]].tolist() == [-30.0, 30.0]
    assert centre_edges(True, 12)[[0, -1]].tolist() == [-500.0, 500.0]
    assert centre_edges(True, 2)[[0, -1]].tolist() == [-100.0, 100.0]
    assert width_edges(True, 13)[[0, -1]].tolist() == [0.0, 400.0]
    e = log_edges(0.5e-3 / 0.033, 1000.0, 40)
    assert len(e) == 40
    assert e[0] == pytest.approx(0.5e-3 / 0.033)
    assert e[-1] == pytest.approx(1000)


# ---- datasets ---------------------------------------------------------------------------------
def test_datasets_thresholds_and_lookup() -> None:
    assert get_dataset("2").threshold_mev == pytest.approx(0.5e-3 / 0.033)
    assert get_dataset("calochallenge-1-pions").threshold_mev == 1.0
    assert [d.n_cells for d in DATASETS.values()] == [368, 533, 6480, 40500]
    assert dataset_for_geometry(get_geometry("calochallenge-2")).key == "2"
    with pytest.raises(ValueError, match="has the readout of no CaloChallenge dataset"):
        dataset_for_geometry(get_geometry("calogan"))


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="CaloChallenge binning XMLs not available")
@pytest.mark.parametrize(
    ("xml", "key"),
    [
        ("binning_dataset_1_photons.xml", "1-photons"),
        ("binning_dataset_1_pions.xml", "1-pions"),
        ("binning_dataset_2.xml", "2"),
        ("binning_dataset_3.xml", "3"),
    ],
)
def test_binning_xml_files_map_to_their_dataset(xml: str, key: str) -> None:
    assert dataset_for_geometry(get_geometry(str(REFERENCE / xml))).key == key


# ---- features ---------------------------------------------------------------------------------
def _two_layer() -> Geometry:
    return Geometry(
        "toy",
        (
            Layer("l0", PolarGrid((0.0, 2.0, 6.0), 4)),
            Layer("empty", PolarGrid((0.0,), 1)),
            Layer("l2", PolarGrid((0.0, 10.0), 1)),
        ),
    )


def test_layer_coordinates_order_radius_fastest() -> None:
    r, eta, phi = layer_coordinates(PolarGrid((0.0, 2.0, 6.0), 4))
    assert r.tolist() == [1.0, 4.0] * 4
    # alpha centres -3pi/4, -pi/4, pi/4, 3pi/4
    assert eta[:2] == pytest.approx(np.array([1.0, 4.0]) * math.cos(-3 * math.pi / 4))
    assert phi[6:] == pytest.approx(np.array([1.0, 4.0]) * math.sin(3 * math.pi / 4))


def test_features_of_hand_made_showers() -> None:
    geo = _two_layer()
    cells = np.zeros((2, 9))
    cells[0, 1] = 3.0  # r = 4 mm, alpha = -3pi/4
    cells[0, 8] = 5.0  # the one-sector layer
    cells[1, [0, 4]] = 1.0  # r = 1 mm at alpha -3pi/4 and pi/4: opposite points
    f = compute_features(cells, np.array([10.0, 4.0]), geo)
    assert f.relevant_layers == [0, 2]
    assert f.alpha_layers == [0]
    assert f.e_tot.tolist() == [8.0, 2.0]
    assert f.e_layer[0].tolist() == [3.0, 2.0]
    assert f.sparsity[0].tolist() == [7 / 8, 6 / 8]
    assert f.ec_r[0].tolist() == pytest.approx([4.0, 1.0])
    assert f.width_r[0].tolist() == pytest.approx([0.0, 0.0], abs=1e-6)
    c = math.cos(-3 * math.pi / 4)
    assert f.ec_eta[0] == pytest.approx([4 * c, 0.0], abs=1e-12)
    assert f.width_eta[0] == pytest.approx([0.0, abs(c)], abs=1e-6)
    assert f.ec_r[2].tolist() == pytest.approx([5.0, 0.0])
    x = high_level_inputs(f)
    # log10 Einc, 2 layer energies, 4 x 1 alpha-layer moments, log10 Etot, 2 sparsities, 2 + 2 r
    assert x.shape == (2, 1 + 2 + 4 + 1 + 2 + 4)
    assert x[0, :3] == pytest.approx([1.0, math.log10(3 + 1e-8), math.log10(5 + 1e-8)])
    assert x[0, 3] == pytest.approx(4 * c / 100)
    low = low_level_inputs(cells, np.array([10.0, 4.0]))
    assert low.shape == (2, 10)
    assert low[0, 2] == pytest.approx(0.3)
    assert low[1, 0] == pytest.approx(math.log10(4))


def test_threshold_zeroes_cells_below_it() -> None:
    out = apply_threshold(np.array([[0.1, 0.5, 2.0]]), 0.5)
    assert out.tolist() == [[0.0, 0.5, 2.0]]


# ---- FPD / KPD ---------------------------------------------------------------------------------
def test_normalisation_by_reference_maximum() -> None:
    x, y = normalise_by_reference_max(np.array([[2.0, 0.0], [-4.0, 0.0]]), np.array([[8.0, 3.0]]))
    assert x.tolist() == [[0.5, 0.0], [-1.0, 0.0]]
    assert y.tolist() == [[2.0, 3.0]]


def test_kpd_estimator_matches_the_direct_unbiased_formula() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(50, 3)), rng.normal(0.5, 1.0, size=(40, 3))

    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a @ b.T / 3 + 1.0) ** 4

    kxx, kyy = k(x, x), k(y, y)
    direct = (
        (kxx.sum() - np.trace(kxx)) / (50 * 49)
        + (kyy.sum() - np.trace(kyy)) / (40 * 39)
        - 2 * k(x, y).mean()
    )
    assert _mmd2(x, y) == pytest.approx(direct, rel=1e-10)


def test_fpd_and_kpd_vanish_for_one_distribution_and_see_a_shift() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(4000, 3)), rng.normal(size=(4000, 3))
    settings = {"min_samples": 500, "max_samples": 2000, "n_points": 4, "n_batches": 4}
    same, same_err = challenge_fpd(a, b, **settings)
    assert 0.0 <= same < 5 * max(same_err, 1e-3)
    shifted = b + np.array([2.0, 0.0, 0.0])
    # normalised by max|a| per feature: the shift is 2 / max|a_0|, the FPD its square
    expected = (2.0 / np.abs(a[:, 0]).max()) ** 2
    assert challenge_fpd(a, shifted, **settings)[0] == pytest.approx(expected, rel=0.1)
    k_same, k_err = challenge_kpd(a, b, batch_size=500, n_batches=5)
    k_shift, _ = challenge_kpd(a, shifted, batch_size=500, n_batches=5)
    assert abs(k_same) < 3 * k_err + 1e-4
    assert k_shift > 20 * (abs(k_same) + k_err)


def test_fpd_and_kpd_agree_with_jetnet() -> None:
    jetnet = pytest.importorskip("jetnet")
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(3000, 4)), rng.normal(0.1, 1.2, size=(3000, 4))
    ours = challenge_fpd(a, b, min_samples=500, max_samples=2000)
    theirs = jetnet.evaluation.fpd(a, b, min_samples=500, max_samples=2000)
    assert ours[0] == pytest.approx(theirs[0], rel=1e-6)
    assert ours[1] == pytest.approx(theirs[1], rel=1e-4)
    assert challenge_kpd(a, b, batch_size=800) == pytest.approx(
        jetnet.evaluation.kpd(a, b, batch_size=800), rel=1e-8
    )


# ---- published results --------------------------------------------------------------------------
def test_published_results_are_complete_where_published() -> None:
    rows = published_results("calochallenge-2")
    assert rows[0]["model"] == "GEANT4"
    assert rows[0]["auc_low"] == pytest.approx(0.5, abs=0.01)  # Geant4 vs Geant4: the floor
    names = [r["model"] for r in rows]
    assert "CaloDREAM" in names
    assert len(names) == len(set(names)) == 18
    assert len(published_results("1-photons")) == 16
    assert len(published_results("3")) == 16
    for key in DATASETS:
        for r in published_results(key)[1:]:
            assert r["auc_high"] is None or 0.45 < r["auc_high"] <= 1.0
    assert "2410.21611" in published_source()["paper"]
    table = leaderboard_table("2", {"mine": {"auc_low": 0.61, "auc_low_err": 0.01}})
    assert "**mine** (this evaluation) | 0.6100 ± 0.0100 |" in table
    assert table.count("\n") == 2 + len(rows)


def test_published_json_has_a_source_for_every_column() -> None:
    from importlib.resources import files

    data = json.loads(
        files("caloforge.evaluation.calochallenge").joinpath("published_results.json").read_text()
    )
    assert set(data["datasets"]) == {"1-photons", "1-pions", "2", "3"}
    assert "final_results" in data["source"]["file"]


# ---- the protocol on files ------------------------------------------------------------------------
def _par04_file(path: Path, seed: int, n: int = 300, scale: float | None = None) -> Path:
    """Toy dataset-2 showers (visible MeV), written by caloforge; ``scale`` sets energy_scale."""
    import h5py

    from caloforge.io import write_showers
    from caloforge.showerset import ShowerSet

    geo = get_geometry("calochallenge-2")
    rng = np.random.default_rng(seed)
    energy = np.exp(rng.uniform(np.log(1e3), np.log(1e5), n))
    profile = rng.exponential(1.0, size=(n, geo.n_cells)) * (rng.random((n, geo.n_cells)) < 0.2)
    cells = profile / profile.sum(1, keepdims=True) * energy[:, None] * 0.025
    write_showers(path, ShowerSet(energy, cells.astype(np.float32), geo, "electron"))
    if scale is not None:
        with h5py.File(path, "a") as f:
            f["showers"][...] = f["showers"][...] * scale
            f.attrs["energy_scale"] = scale
    return path


def test_protocol_on_files_rescales_thresholds_and_compares(tmp_path: Path) -> None:
    from caloforge.evaluation.calochallenge.classifier import ChallengeClassifierConfig
    from caloforge.evaluation.calochallenge.protocol import evaluate_calochallenge

    ref = _par04_file(tmp_path / "ref.h5", 1, scale=1.0)  # visible, and says so
    cand = _par04_file(tmp_path / "cand.h5", 2, scale=1 / 0.033)
    result = evaluate_calochallenge(
        ref,
        [cand],
        ["toy"],
        out_dir=tmp_path / "out",
        classifier_config=ChallengeClassifierConfig(n_hidden=16, n_epochs=2, dtype="float32"),
        fpd_settings={"min_samples": 100, "max_samples": 300, "n_points": 3, "n_batches": 2},
        kpd_settings={"batch_size": 200, "n_batches": 3},
    )
    assert result["reference"]["energy_scale"] == "visible deposit (x1)"
    c = result["candidates"]["toy"]
    assert c["energy_scale_found"] == "attribute 'energy_scale'"
    # E_tot/E_inc recomputed by hand: both files at the calibrated scale, thresholded
    import h5py

    thr = 0.5e-3 / 0.033

    def ratio(path: Path, factor: float) -> np.ndarray:
        with h5py.File(path) as f:
            cells = f["showers"][...].astype(np.float64) * factor
            e = f["incident_energies"][:, 0]
        return np.where(cells < thr, 0.0, cells).sum(1) / e

    expected = density_separation(ratio(ref, 1 / 0.033), ratio(cand, 1.0), etot_einc_edges())
    assert c["separation"]["etot_einc"] == pytest.approx(expected, abs=1e-12)
    assert np.isfinite(list(c["separation"].values())).all()
    assert set(c["separation_floor"]) == set(c["separation"])
    assert len(c["separation"]) == 1 + 45 + 4 * 45 + 1
    assert 0.0 <= c["auc_low"] <= 1.0
    assert c["classifier"]["low_level"]["split"]["rule"] == ("fractions 0.6/0.2/0.2")
    assert result["warnings"][0].startswith("the reference is not the CaloChallenge's Geant4")
    table = (tmp_path / "out" / "calochallenge.md").read_text()
    assert "**toy** (this evaluation)" in table
    assert "CaloDREAM" in table
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["dataset"] == "2"


def test_files_without_the_attribute_follow_the_geometry_convention() -> None:
    from caloforge.data.energy_scale import calibration_factor, file_energy_scale

    assert calibration_factor("calochallenge-3") == pytest.approx(1 / 0.033)
    assert calibration_factor("calogan") == 1.0
    assert file_energy_scale({}, "calochallenge-2") == (
        pytest.approx(1 / 0.033),
        "no 'energy_scale' attribute; assumed the calochallenge-2 convention",
    )
    assert file_energy_scale({"energy_scale": 1.0}, "calochallenge-2")[0] == 1.0


def test_protocol_says_why_a_wrong_scale_gives_nan(tmp_path: Path) -> None:
    from caloforge.evaluation.calochallenge.protocol import evaluate_calochallenge

    ref = _par04_file(tmp_path / "ref.h5", 1, n=60, scale=1 / 0.033)
    # claims to be calibrated already, but holds visible energy x 1e-3: E_tot/E_inc ~ 1e-3
    cand = _par04_file(tmp_path / "cand.h5", 2, n=60, scale=1e-3)
    with __import__("h5py").File(cand, "a") as f:
        f.attrs["energy_scale"] = 1 / 0.033
    result = evaluate_calochallenge(ref, [cand], classifier=False, fpd_kpd=False)
    assert math.isnan(result["candidates"]["cand"]["separation"]["etot_einc"])
    assert any(
        "separation power NaN" in w and "wrong energy scale?" in w for w in result["warnings"]
    )


def test_cli_protocol_calochallenge(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from caloforge.cli import app

    ref = _par04_file(tmp_path / "ref.h5", 1, n=80, scale=1 / 0.033)
    cand = _par04_file(tmp_path / "cand.h5", 2, n=80, scale=1 / 0.033)
    args = ["evaluate", "--protocol", "calochallenge", "-r", str(ref), "-c", str(cand)]
    out = tmp_path / "out"
    flags = ["-o", str(out), "--no-classifier", "--no-fpd-kpd", "-l", "mine"]
    result = CliRunner().invoke(app, [*args, *flags])
    assert result.exit_code == 0, result.output
    assert "mine: separation E_tot/E_inc" in result.output
    assert "warning: the reference is not the CaloChallenge's Geant4 sample" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"] == "calochallenge"
    assert metrics["candidates"]["mine"]["separation"]["etot_einc"] >= 0.0
    assert "| GEANT4 |" in (out / "calochallenge.md").read_text()
    page = (out / "report.html").read_text()
    assert "mine (this evaluation)" in page
    assert "Not comparable" in page
    assert "<td class='name'>CaloDREAM</td>" in page
