"""Grid observables (caloforge.evaluation.grid) on constructed showers with known answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from caloforge.evaluation.grid import (
    MIP_EDGES_LOG10,
    PEAK_WINDOW_MIP,
    compare_grid,
    compute_grid_observables,
    is_grid,
    mip_energy_mev,
    mip_peak,
    radial_edges_mm,
)
from caloforge.geometry import Geometry, Layer, get_geometry
from caloforge.geometry.segmentation import CartesianGrid
from caloforge.geometry.stack import Slab
from caloforge.showerset import ShowerSet

#: 0.5 mm of Si at dE/dx_min 1.664 MeV cm2/g, 2.329 g/cm3
SI_MIP_MEV = 0.1 * 1.664 * 2.329 * 0.5


def _small() -> Geometry:
    """3 layers of 3 x 3 cells of 10 mm, 2 mm W (layer 2: 4 mm) + 0.5 mm Si."""
    return Geometry(
        "small",
        tuple(
            Layer(
                f"l{i}",
                CartesianGrid(3, 3, 10.0, 10.0),
                (Slab("W", w, False), Slab("Si", 0.5, True)),
            )
            for i, w in enumerate((2.0, 2.0, 4.0))
        ),
    )


def test_grid_kinds_and_mip_energy() -> None:
    assert is_grid(get_geometry("clic-ecal"))
    assert is_grid(get_geometry("calochallenge-2"))
    assert not is_grid(get_geometry("atlas-em-barrel"))
    mip = mip_energy_mev(get_geometry("clic-ecal"))
    assert mip.shape == (25,)
    np.testing.assert_allclose(mip, SI_MIP_MEV, rtol=1e-12)


def _per_log_bin(density: np.ndarray) -> np.ndarray:
    """Counts per MIP_EDGES_LOG10 bin of a spectrum given as dN/dE (per MIP) at bin centres."""
    return density * np.diff(10.0**MIP_EDGES_LOG10)


def test_mip_peak_finds_a_constructed_peak() -> None:
    centres = 0.5 * (MIP_EDGES_LOG10[1:] + MIP_EDGES_LOG10[:-1])
    # dN/dE: a peak at 0.85 MIP (0.05 dex wide) on a background falling as 1/E^2, which is
    # higher below the search window (from the 0.5-MIP hit threshold) than the peak
    density = 1e4 * np.exp(-0.5 * ((centres - np.log10(0.85)) / 0.05) ** 2)
    density = density + 2e3 * 10 ** (-2 * centres)
    at = np.searchsorted(centres, np.log10([0.2, 0.85]))
    assert density[at[0]] > density[at[1]]
    # the fit over +-0.125 dex: the background's slope pulls the vertex down by 4.5%
    assert mip_peak(_per_log_bin(density)) == pytest.approx(0.85 * (1 - 0.045), rel=0.002)
    # on a background falling as 1/E, by 1.3%
    gentler = density - 2e3 * 10 ** (-2 * centres) + 2e3 * 10 ** (-centres)
    assert mip_peak(_per_log_bin(gentler)) == pytest.approx(0.85 * (1 - 0.013), rel=0.002)
    assert np.isnan(mip_peak(np.zeros_like(centres)))
    # a spectrum that falls or rises through the whole window has no peak in it: NaN, not
    # the window's edge
    falling = 1e4 * 10 ** (-centres)
    assert np.isnan(mip_peak(_per_log_bin(falling)))
    assert np.isnan(mip_peak(_per_log_bin(falling[::-1])))
    # a peak just inside the lower edge (0.52 MIP, window from 0.5) on a flat background is
    # still found, where it is: the running mean's fullest bin is a local maximum
    edge_peak = 1e3 + 1e4 * np.exp(-0.5 * ((centres - np.log10(0.52)) / 0.05) ** 2)
    assert mip_peak(_per_log_bin(edge_peak)) == pytest.approx(0.52, rel=0.01)


def test_mip_peak_is_the_maximum_of_dn_de_not_of_the_counts_per_log_bin() -> None:
    """A flat-topped spectrum in counts per log bin (E dN/dE, as cells crossed by several
    particles make it from 1 to 3 MIP) has no maximum of its own: its dN/dE falls through the
    top as 1/E, and the peak is the rising edge's single-particle maximum below."""
    centres = 0.5 * (MIP_EDGES_LOG10[1:] + MIP_EDGES_LOG10[:-1])
    single = 5e4 * np.exp(-0.5 * ((centres - np.log10(0.88)) / 0.06) ** 2)
    # E dN/dE = 6e4 from ~1.3 to 3 MIP (higher than the single-particle peak's 4.4e4)
    rise = 1.0 / (1.0 + np.exp(-(centres - np.log10(1.3)) / 0.03))
    plateau = np.where(centres < np.log10(3), 6e4 / 10**centres * rise, 0.0)
    counts = _per_log_bin(single + plateau)
    assert mip_peak(counts) == pytest.approx(0.88, rel=0.015)
    e_dn_de = counts / np.diff(MIP_EDGES_LOG10)  # as drawn: fullest bin on the plateau
    assert 10 ** centres[np.argmax(e_dn_de)] > 1.0


def test_mip_peak_is_stable_against_counting_noise() -> None:
    """Poisson draws of dN/dE with a single-particle peak at 0.88 MIP (0.12 dex wide) on a
    flat background, ~2700 hits per bin at the top (1000 ild-ecal showers): every estimate
    within 1.5% of 0.88 (measured: 0.85% at most); the fullest single bin misses by more than
    4% on some draws (measured: 7.1%)."""
    centres = 0.5 * (MIP_EDGES_LOG10[1:] + MIP_EDGES_LOG10[:-1])
    density = 5e4 * np.exp(-0.5 * ((centres - np.log10(0.88)) / 0.12) ** 2) + 1500.0
    mean = _per_log_bin(density)
    rng = np.random.default_rng(0)
    window = (centres >= np.log10(PEAK_WINDOW_MIP[0])) & (centres <= np.log10(PEAK_WINDOW_MIP[1]))
    widths = np.diff(10.0**MIP_EDGES_LOG10)
    peaks, fullest = [], []
    for _ in range(20):
        counts = rng.poisson(mean)
        peaks.append(mip_peak(counts))
        fullest.append(10 ** centres[window][np.argmax((counts / widths)[window])])
    assert np.max(np.abs(np.array(peaks) / 0.88 - 1)) < 0.015, peaks
    assert np.max(np.abs(np.array(fullest) / 0.88 - 1)) > 0.04, fullest


def test_per_shower_observables_and_profiles_are_exact() -> None:
    geo = _small()
    cells = np.zeros((2, 27), dtype=np.float32)
    # shower 0: 3 MIP in layer 0 at (x, y) = (10, 0) mm (row 1, column 2); 1 MIP in layer 2
    # at the centre. shower 1: 0.4 MIP (below threshold) at the centre of layer 1
    cells[0, 0 * 9 + 1 * 3 + 2] = 3 * SI_MIP_MEV
    cells[0, 2 * 9 + 4] = 1 * SI_MIP_MEV
    cells[1, 1 * 9 + 4] = 0.4 * SI_MIP_MEV
    g = compute_grid_observables(ShowerSet(np.array([1e3, 1e3]), cells, geo))
    e0 = 4 * SI_MIP_MEV
    np.testing.assert_allclose(g.column("e_vis"), [e0, 0.4 * SI_MIP_MEV], rtol=1e-6)
    np.testing.assert_array_equal(g.column("n_hits"), [2, 0])
    np.testing.assert_allclose(g.column("cog_x"), [10.0 * 3 / 4, 0.0], atol=1e-6)
    np.testing.assert_allclose(g.column("cog_y"), [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(g.column("cog_z"), [(0 * 3 + 2 * 1) / 4, 1.0], rtol=1e-6)
    # MIP weighting: f_mip of layer 2 is smaller (twice the W), so its energy counts more
    f = [SI_MIP_MEV / (SI_MIP_MEV + 0.1 * 145.0 * 0 + w * 0.1 * 1.145 * 19.3) for w in (2.0, 4.0)]
    assert g.column("e_mip")[0] == pytest.approx(
        3 * SI_MIP_MEV / f[0] + SI_MIP_MEV / f[1], rel=1e-3
    )
    np.testing.assert_allclose(
        g.longitudinal, [1.5 * SI_MIP_MEV, 0.2 * SI_MIP_MEV, 0.5 * SI_MIP_MEV], rtol=1e-6
    )
    edges = radial_edges_mm(geo)
    np.testing.assert_allclose(edges[:3], [0.0, 5.0, 10.0])
    # ring of r = 0: 1 MIP and 0.4 MIP; ring [10, 15) mm: 3 MIP (shower 0)
    assert g.radial[0] == pytest.approx(0.7 * SI_MIP_MEV, rel=1e-6)
    assert g.radial[2] == pytest.approx(1.5 * SI_MIP_MEV, rel=1e-6)
    assert g.radial.sum() == pytest.approx(g.longitudinal.sum(), rel=1e-6)
    # spectrum: three positive cells, at 0.4, 1 and 3 MIP (as stored, in float32)
    assert g.spectrum.sum() == 3
    stored = np.float32(np.array([0.4, 1.0, 3.0]) * SI_MIP_MEV).astype(np.float64) / SI_MIP_MEV
    hit_bins = np.searchsorted(MIP_EDGES_LOG10, np.log10(stored), side="right") - 1
    assert all(g.spectrum[k] == 1 for k in hit_bins)


def test_compare_grid_identical_and_shifted_samples() -> None:
    geo = _small()
    rng = np.random.default_rng(0)
    n = 400
    energy = np.repeat([1e3, 4e3], n // 2)
    # cells of mode 1 MIP at 1 GeV (the MIP peak) and 4 MIP at 4 GeV
    cells = rng.gamma(4.0, SI_MIP_MEV / 3, size=(n, 27)) * (energy[:, None] / 1e3)
    ref = compute_grid_observables(ShowerSet(energy, cells, geo), name="ref")
    same = compute_grid_observables(ShowerSet(energy, cells, geo), name="same")
    scaled = compute_grid_observables(ShowerSet(energy, 1.1 * cells, geo), name="scaled")
    out = compare_grid(ref, {"same": same, "scaled": scaled}, n_bootstrap=0)
    s = out["candidates"]["same"]
    assert all(v["separation"] == 0.0 for v in s["observables"].values())
    assert s["mip_peak_ratio"] == 1.0
    np.testing.assert_allclose(s["longitudinal_ratio"]["ratio"], 1.0)
    np.testing.assert_allclose(s["response_ratio"]["linearity"], 1.0)
    assert s["response_ratio"]["e_inc_mev"] == [1e3, 4e3]
    t = out["candidates"]["scaled"]
    np.testing.assert_allclose(t["response_ratio"]["linearity"], 1.1, rtol=1e-6)
    np.testing.assert_allclose(t["response_ratio"]["resolution"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(t["longitudinal_ratio"]["ratio"], 1.1, rtol=1e-6)
    assert t["observables"]["e_vis"]["separation"] > 0.05


def test_refuses_non_grids_and_stays_a_light_leaf() -> None:
    geo = get_geometry("atlas-em-barrel")
    with pytest.raises(ValueError, match="not a Cartesian or polar grid"):
        compute_grid_observables(ShowerSet(np.ones(1), np.zeros((1, geo.n_cells)), geo))
    code = (
        "import sys, caloforge.evaluation.grid; "
        "print(any(m in sys.modules for m in ('torch', 'sklearn', 'matplotlib')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::caloforge.evaluation.metrics.SmallSampleWarning")
def test_evaluate_reports_grid_observables_for_grid_geometries(tmp_path: Path) -> None:
    from caloforge.evaluation import evaluate

    geo = _small()
    rng = np.random.default_rng(1)
    energy = np.repeat([1e3, 4e3], 100)
    ref = ShowerSet(energy, rng.gamma(2.0, SI_MIP_MEV / 2, size=(200, 27)), geo)
    cand = ShowerSet(energy, 1.1 * rng.gamma(2.0, SI_MIP_MEV / 2, size=(200, 27)), geo)
    out = evaluate(
        ref, cand, labels=["c"], out_dir=tmp_path, classifier=False, n_bootstrap=0, max_histograms=1
    )
    g = out["grid"]["candidates"]["c"]
    assert g["response_ratio"]["e_inc_mev"] == [1e3, 4e3]
    assert all(abs(r - 1.1) < 0.05 for r in g["response_ratio"]["linearity"])
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Grid observables</h2>" in page
    assert page.count("<img") >= 3
    assert '"grid"' in (tmp_path / "metrics.json").read_text()
    # not a grid: no section
    atlas = get_geometry("atlas-em-barrel")
    assert "grid" not in evaluate(
        ShowerSet(
            np.full(50, 5e4),
            rng.random((50, atlas.n_cells)),
            atlas,
            conditions={"config": np.zeros(50, dtype=np.int64)},
        ),
        ShowerSet(
            np.full(50, 5e4),
            rng.random((50, atlas.n_cells)),
            atlas,
            conditions={"config": np.zeros(50, dtype=np.int64)},
        ),
        classifier=False,
        n_bootstrap=0,
    )
