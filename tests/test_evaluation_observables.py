"""Observables on constructed showers: coordinates per geometry and configuration, streaming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from caloforge.evaluation.observables import (
    NoConfigWarning,
    compute_observables,
    layer_coordinates,
    observable_specs,
)
from caloforge.evaluation.response import effective_sigma, energy_binning, energy_response
from caloforge.geometry import get_geometry
from caloforge.geometry.atlas import config_cell_centres
from caloforge.io import write_showers
from caloforge.showerset import ShowerSet
from synthetic import atlas_showers


def _single_cell(geometry_name: str, cells_mev: dict[int, float], n: int = 1, **cond) -> ShowerSet:
    geo = get_geometry(geometry_name)
    cells = np.zeros((n, geo.n_cells), dtype=np.float32)
    for index, energy in cells_mev.items():
        cells[:, index] = energy
    return ShowerSet(np.full(n, 1000.0), cells, geo, "photon", cond)


@pytest.mark.parametrize("config", [0, 3, 5])
def test_atlas_centroids_use_the_showers_own_configuration(config: int) -> None:
    geo = get_geometry("atlas-em-barrel")
    strips = geo.layer_slice(1)
    cell = strips.start + 3 * 27 + 2  # strip eta bin 27, phi bin 2
    showers = _single_cell("atlas-em-barrel", {cell: 50.0}, config=np.array([config]))
    obs = compute_observables(showers)
    expected = config_cell_centres(geo, config)[cell]
    assert obs.column("centroid_eta.strips")[0] == pytest.approx(expected[0], abs=1e-7)
    assert obs.column("centroid_phi.strips")[0] == pytest.approx(expected[1], abs=1e-7)
    assert obs.column("width_phi.strips")[0] == pytest.approx(0.0, abs=1e-6)
    # the empty layers have centroid and width 0, and the fractions add up
    assert obs.column("centroid_eta.middle")[0] == 0.0
    assert obs.column("frac.strips")[0] == pytest.approx(1.0)
    assert obs.column("e_ratio")[0] == pytest.approx(0.05)


def test_atlas_configurations_give_different_phi_centroids() -> None:
    geo = get_geometry("atlas-em-barrel")
    cell = geo.layer_slice(0).start + 1  # presampler, phi bin 1
    showers = _single_cell("atlas-em-barrel", {cell: 10.0}, n=4, config=np.arange(4))
    phi = compute_observables(showers).column("centroid_phi.presampler")
    assert len(np.unique(phi)) == 4
    np.testing.assert_allclose(np.diff(phi), -geo.layers[2].segmentation.d_phi, rtol=1e-5)


def test_atlas_without_configuration_warns() -> None:
    showers = _single_cell("atlas-em-barrel", {0: 1.0})
    with pytest.warns(NoConfigWarning, match="nominal"):
        compute_observables(showers)


def test_polar_grid_coordinates_x_y_and_r() -> None:
    geo = get_geometry("calochallenge-2")
    seg = geo.layers[4].segmentation
    alpha_bin, r_bin = 5, 3
    cell = geo.layer_slice(4).start + alpha_bin * seg.n_r + r_bin
    obs = compute_observables(_single_cell("calochallenge-2", {cell: 7.0}))
    r, alpha = seg.centres()[alpha_bin * seg.n_r + r_bin]
    assert obs.column("centroid_r.layer4")[0] == pytest.approx(r, rel=1e-6)
    assert obs.column("centroid_x.layer4")[0] == pytest.approx(r * np.cos(alpha), abs=1e-4)
    assert obs.column("centroid_y.layer4")[0] == pytest.approx(r * np.sin(alpha), abs=1e-4)
    assert obs.column("depth_layer")[0] == pytest.approx(4.0)
    assert obs.column("depth_x0")[0] == pytest.approx(geo.layer_depth_x0()[4])
    # layer 4 to 5: the next layer is empty, so its centroid is 0
    assert obs.column("dcentroid_r.layer4-layer5")[0] == pytest.approx(-r, rel=1e-6)


def test_two_cells_width_is_half_their_distance() -> None:
    geo = get_geometry("ild-ecal")
    seg = geo.layers[0].segmentation
    obs = compute_observables(_single_cell("ild-ecal", {0: 1.0, 1: 1.0}))
    assert obs.column("width_x.layer0")[0] == pytest.approx(seg.pitch_x_mm / 2)
    assert obs.column("width_y.layer0")[0] == pytest.approx(0.0, abs=1e-6)
    assert obs.column("hits.layer0")[0] == 2
    assert obs.column("sparsity")[0] == pytest.approx(1 - 2 / geo.n_cells)


def test_layers_without_cells_are_skipped() -> None:
    geo = get_geometry("calochallenge-1-photons")
    names = [s.name for s in observable_specs(geo)]
    empty = [ly.name for ly in geo.layers if ly.n_cells == 0]
    assert empty
    assert not any(n.endswith(f".{e}") for n in names for e in empty)
    assert "dcentroid_r.layer3-layer12" in names  # consecutive layers with cells
    cells = np.random.default_rng(0).exponential(1.0, (5, geo.n_cells)).astype(np.float32)
    obs = compute_observables(ShowerSet(np.full(5, 500.0), cells, geo))
    assert np.isfinite(obs.values).all()
    assert [im.shape for im in obs.average_images()] == [
        ly.segmentation.shape for ly in geo.layers if ly.n_cells
    ]


def test_layer_coordinates_none_for_empty_layers() -> None:
    geo = get_geometry("calochallenge-1-photons")
    coords = layer_coordinates(geo)
    assert [c is None for c in coords] == [ly.n_cells == 0 for ly in geo.layers]


def test_streamed_file_equals_in_memory(tmp_path: Path) -> None:
    showers = atlas_showers(300, 11)
    path = write_showers(tmp_path / "s.h5", showers)
    memory = compute_observables(showers, lowlevel_rows=50, seed=2)
    streamed = compute_observables(path, chunk_size=37, lowlevel_rows=50, seed=2)
    np.testing.assert_allclose(memory.values, streamed.values, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(memory.spectrum_counts, streamed.spectrum_counts)
    np.testing.assert_allclose(memory.image_sums, streamed.image_sums, rtol=1e-9)
    np.testing.assert_array_equal(memory.lowlevel, streamed.lowlevel)
    np.testing.assert_array_equal(memory.config, showers.config)


def test_lowlevel_inputs_and_spectrum() -> None:
    showers = atlas_showers(300, 11)
    obs = compute_observables(showers, lowlevel_rows=300)
    np.testing.assert_allclose(
        obs.lowlevel[:, :-1], showers.cells / showers.incident_energy[:, None], rtol=1e-6
    )
    np.testing.assert_allclose(obs.lowlevel[:, -1], np.log10(showers.incident_energy), rtol=1e-6)
    assert obs.spectrum().sum() == (showers.cells > 0).sum()
    assert obs.group_counts.sum() == len(showers)
    per_config = sum(obs.average_images(c)[2] * (showers.config == c).sum() for c in range(8))
    np.testing.assert_allclose(per_config / len(showers), obs.average_images()[2], rtol=1e-9)


def test_response_discrete_points_and_bins() -> None:
    e_inc = np.repeat([1000.0, 2000.0], 4)
    e_tot = np.array([900, 1000, 1100, 1000, 1800, 2000, 2200, 2000], dtype=float)
    out = energy_response(e_inc, e_tot, energy_binning(e_inc))
    assert out["e_inc_mev"] == [1000.0, 2000.0]
    assert out["linearity"] == pytest.approx([1.0, 1.0])
    sigma = np.std([900, 1000, 1100, 1000], ddof=1)
    assert out["resolution"][0] == pytest.approx(sigma / 1000.0)
    continuous = np.geomspace(1000, 100_000, 400)
    binned = energy_binning(continuous, n_bins=5)
    assert binned.points is None
    assert energy_response(continuous, continuous, binned)["n"] == [80] * 5
    # in a log bin the resolution is that of E_tot / E_inc, not the bin's E_inc spread: an
    # exactly proportional response has none, a 10% Gaussian smearing has 10%
    exact = energy_response(continuous, 0.9 * continuous, binned)
    assert exact["linearity"] == pytest.approx([0.9] * 5)
    assert exact["resolution"] == pytest.approx([0.0] * 5, abs=1e-12)
    wide = np.geomspace(1000, 100_000, 50_000)
    smeared = 0.9 * wide * (1 + 0.1 * np.random.default_rng(3).standard_normal(wide.size))
    res = energy_response(wide, smeared, energy_binning(wide, n_bins=5))["resolution"]
    assert res == pytest.approx([0.1] * 5, rel=0.03)


def test_effective_resolution_ignores_a_tail_the_rms_does_not() -> None:
    """At one energy, a 2% Gaussian response with 5% of the showers leaking (a tail down to
    -30%): the r.m.s. resolution is inflated 2.2x, the effective one stays at the core's, and its
    bootstrap error is the large-sample error of a quantile-based sigma within 20%."""
    rng = np.random.default_rng(0)
    n = 2000
    r = 1 + 0.02 * rng.standard_normal(n)
    leak = rng.random(n) < 0.05
    r[leak] -= 0.3 * rng.random(int(leak.sum()))
    e_inc = np.full(n, 5e4)
    out = energy_response(e_inc, r * e_inc, energy_binning(e_inc))
    assert out["resolution"][0] > 2 * 0.02  # 0.0431
    # the core holds 95% of the showers, so the shortest 68.3% interval is the core's central
    # 71.9%: +-1.078 sigma
    assert out["resolution_eff"][0] == pytest.approx(1.078 * 0.02 / float(r.mean()), rel=0.03)
    # half the distance of two sample quantiles at +-1 sigma of a Gaussian: variance
    # (1/2)(p(1-p) - p^2) / (n phi(1)^2) with p = 0.8413, i.e. 0.962 sigma / sqrt(n) (measured
    # 0.0228 sigma_eff against 0.0215 = 0.962 / sqrt(2000))
    expected_err = 0.962 * out["resolution_eff"][0] / np.sqrt(n)
    assert out["resolution_eff_err"][0] == pytest.approx(expected_err, rel=0.2)
    again = energy_response(e_inc, r * e_inc, energy_binning(e_inc))
    assert again["resolution_eff_err"] == out["resolution_eff_err"]  # a fixed seed


def test_effective_sigma_exact_gaussian_and_robust_to_a_tail() -> None:
    # 0..99: the shortest interval holding ceil(68.3) = 69 values is 68 wide
    assert effective_sigma(np.arange(100.0)) == 34.0
    assert effective_sigma(np.arange(100.0), coverage=0.5) == 24.5
    rng = np.random.default_rng(1)
    gauss = rng.normal(5.0, 2.0, 200_000)
    assert effective_sigma(gauss) == pytest.approx(2.0, rel=0.01)
    # a 5% leakage tail far below the peak inflates the r.m.s. but hardly the effective sigma
    tailed = np.concatenate([gauss, rng.normal(-35.0, 2.0, 10_000)])
    assert tailed.std() > 4 * 2.0
    assert effective_sigma(tailed) == pytest.approx(2.0 * 1.07, rel=0.03)
    with pytest.raises(ValueError, match="at least 2 finite values"):
        effective_sigma(np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="coverage"):
        effective_sigma(np.arange(10.0), coverage=1.0)
