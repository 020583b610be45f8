"""GFlash as an engine: shapes and cells like the cascade's, energy bookkeeping, sampling
fraction and resolution of the preset stacks, determinism and parameter validation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from caloforge.geometry import Geometry, Layer, PolarGrid, get_geometry
from caloforge.geometry.atlas import config_cell_centres
from caloforge.materials import get_material
from caloforge.simulation.engine import EngineOutput
from caloforge.simulation.gflash import GFlashParameters, effective_medium, run_gflash
from caloforge.simulation.gun import GunSample, ParticleGun

PRESET_CELLS = {"atlas-em-barrel": 266, "calochallenge-2": 6480, "calogan": 504}


def _run(
    name: str,
    particle: str,
    energy_mev: float,
    n: int,
    seed: int = 1,
    position_mm: tuple[float, float] = (0.0, 0.0),
) -> tuple[Geometry, GunSample, EngineOutput]:
    geometry = get_geometry(name)
    gun = ParticleGun(particle, (energy_mev,), position_mm=position_mm)
    sample = gun.sample(n, geometry, seed)
    return geometry, sample, run_gflash(geometry, sample)


def _stack_sampling(geometry: Geometry) -> tuple[float, float]:
    """(mip sampling fraction, e/mip of GP) of a middle layer's slabs, from the materials table."""
    slabs = list(geometry.layers[len(geometry.layers) // 2].slabs)
    loss = [get_material(s.material).dedx_min_mev_mm * s.thickness_mm for s in slabs]
    f_mip = sum(e for e, s in zip(loss, slabs, strict=True) if s.active) / sum(loss)
    z_active = {get_material(s.material).z_eff for s in slabs if s.active}
    z_passive = {get_material(s.material).z_eff for s in slabs if not s.active}
    (za,), (zp,) = z_active, z_passive
    return f_mip, 1.0 / (1.0 + 0.007 * (zp - za))


@pytest.mark.parametrize(("name", "n_cells"), list(PRESET_CELLS.items()))
@pytest.mark.parametrize("particle", ["electron", "photon"])
def test_output_shapes_and_energy_bookkeeping(name: str, n_cells: int, particle: str) -> None:
    n = 200
    _, sample, out = _run(name, particle, 20_000.0, n)
    assert isinstance(out, EngineOutput)
    assert out.cells.shape == (n, n_cells)
    assert out.cells.dtype == np.float32
    for book in (out.active_mev, out.passive_mev, out.escaped_mev, out.below_cut_mev):
        assert book.shape == (n,)
        assert np.all(np.isfinite(book))
        assert np.all(book >= 0.0)
    total = out.active_mev + out.passive_mev + out.escaped_mev + out.below_cut_mev
    np.testing.assert_allclose(total, sample.energy_mev, rtol=1e-12)
    assert np.all(out.below_cut_mev == 0.0)
    assert np.all(out.cells >= 0.0)
    # the cells hold the visible energy that lands inside the readout
    in_cells = out.cells.sum(axis=1, dtype=np.float64)
    assert np.all(in_cells <= out.active_mev * (1 + 1e-5))
    assert np.mean(in_cells / out.active_mev) > 0.9


@pytest.mark.parametrize("name", ["calochallenge-2", "calogan"])
def test_visible_fraction_matches_mip_sampling_fraction(name: str) -> None:
    geometry, _, out = _run(name, "electron", 20_000.0, 400)
    ratio = out.active_mev / (out.active_mev + out.passive_mev)
    f_mip, e_hat = _stack_sampling(geometry)
    # electrons see e/mip = e_hat (~0.7 for W/Si and Pb/LAr) of the mip sampling fraction
    assert abs(ratio.mean() / (e_hat * f_mip) - 1.0) < 0.02, (ratio.mean(), f_mip, e_hat)
    assert 0.6 < ratio.mean() / f_mip < 0.8


def test_atlas_resolution_is_of_order_ten_percent_over_sqrt_e() -> None:
    terms = {}
    for energy in (10_000.0, 40_000.0):
        _, _, out = _run("atlas-em-barrel", "electron", energy, 1500, seed=2)
        terms[energy] = out.active_mev.std() / out.active_mev.mean() * math.sqrt(energy / 1000.0)
    for energy, term in terms.items():
        assert 0.07 < term < 0.15, f"{term:.3f}/sqrt(E) at {energy} MeV"
    # stochastic: sigma/E * sqrt(E) roughly constant
    assert abs(terms[40_000.0] / terms[10_000.0] - 1.0) < 0.25


def test_sampling_term_parameter_sets_the_resolution() -> None:
    geometry = get_geometry("calogan")
    sample = ParticleGun("electron", (10_000.0,)).sample(1500, geometry, 4)
    widths = []
    for term in (0.05, 0.20):
        out = run_gflash(geometry, sample, params=GFlashParameters(sampling_term=term))
        widths.append(out.active_mev.std() / out.active_mev.mean())
    assert widths[1] / widths[0] > 2.5


def test_atlas_cells_follow_impact_point_and_configuration() -> None:
    geometry, sample, out = _run("atlas-em-barrel", "electron", 30_000.0, 400, seed=9)
    config = sample.conditions["config"]
    assert set(np.unique(config)) == set(range(8))
    for layer, coord, tol in (("middle", 0, 0.004), ("middle", 1, 0.004), ("strips", 0, 0.003)):
        i = [ly.name for ly in geometry.layers].index(layer)
        sl = geometry.layer_slice(i)
        centroid = np.empty(len(sample))
        for c in range(8):
            rows = config == c
            centres = config_cell_centres(geometry, c)[sl, coord]
            e = out.cells[rows][:, sl].astype(np.float64)
            centroid[rows] = (e @ centres) / e.sum(axis=1)
        offset = sample.offset_eta if coord == 0 else sample.offset_phi
        # cell-size quantisation biases the centroid towards the cell centre; it still follows
        assert np.corrcoef(centroid, offset)[0, 1] > 0.9
        assert abs(np.mean(centroid - offset)) < tol


def test_cartesian_and_polar_cells_follow_impact_point() -> None:
    geometry, _, out = _run("calogan", "electron", 20_000.0, 200, position_mm=(30.0, -20.0))
    centres = geometry.layers[1].segmentation.centres()
    e = out.cells[:, geometry.layer_slice(1)].astype(np.float64)
    centroid = (e @ centres) / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(centroid.mean(axis=0), (30.0, -20.0), atol=6.0)
    # polar readout on the shower axis: alpha sectors share the energy evenly
    geometry, _, out = _run("calochallenge-2", "electron", 20_000.0, 300)
    images = geometry.layer_images(out.cells, 12).astype(np.float64)  # (n, alpha, r)
    per_alpha = images.sum(axis=(0, 2))
    assert per_alpha.std() / per_alpha.mean() < 0.05


def test_inclined_axis_moves_the_shower_downstream() -> None:
    geometry = get_geometry("calogan")
    d = (math.sin(0.2), 0.0, math.cos(0.2))
    sample = ParticleGun("electron", (20_000.0,), direction=d).sample(200, geometry, 3)
    out = run_gflash(geometry, sample)
    x = geometry.layers[1].segmentation.centres()[:, 0]
    e = out.cells[:, geometry.layer_slice(1)].astype(np.float64)
    shift = float(((e @ x) / e.sum(axis=1)).mean())
    depth_mm = 90.0 + 0.5 * 347.0  # about the middle of layer 1
    assert 0.5 * depth_mm * math.tan(0.2) < shift < 1.5 * depth_mm * math.tan(0.2)


def test_same_seeds_same_showers_whatever_the_workers() -> None:
    geometry = get_geometry("atlas-em-barrel")
    gun = ParticleGun("photon", energy_range_mev=(1_000.0, 50_000.0), log_uniform=True)
    sample = gun.sample(300, geometry, 21)
    one = run_gflash(geometry, sample, workers=1)
    again = run_gflash(geometry, sample, workers=1)
    two = run_gflash(geometry, sample, workers=2)
    for other in (again, two):
        for f in dataclasses.fields(EngineOutput):
            np.testing.assert_array_equal(getattr(one, f.name), getattr(other, f.name))
    # a shower depends on its own seed only: a sub-batch reproduces its rows
    part = run_gflash(geometry, sample[100:150], workers=2)
    np.testing.assert_array_equal(part.cells, one.cells[100:150])
    # and different seeds give different showers
    other = run_gflash(geometry, gun.sample(300, geometry, 22))
    assert not np.array_equal(other.cells, one.cells)


def test_effective_medium_of_a_sampling_stack() -> None:
    geometry = get_geometry("calochallenge-2")
    medium = effective_medium(geometry, GFlashParameters())
    w, si = get_material("W"), get_material("Si")
    # one unit: 1.4 mm W + 0.3 mm Si; X0_eff = thickness / sum(d_i / X0_i)
    x0 = 1.7 / (1.4 / w.x0_mm + 0.3 / si.x0_mm)
    assert medium.sampling
    assert medium.x0_mm == pytest.approx(x0, rel=1e-9)
    assert medium.fs == pytest.approx(x0 / 1.7, rel=1e-9)
    assert medium.e_hat == pytest.approx(1.0 / (1.0 + 0.007 * (74 - 14)), rel=1e-9)
    assert w.z_eff > medium.z_eff > si.z_eff
    assert w.moliere_radius_mm < medium.moliere_radius_mm < si.moliere_radius_mm


def test_invalid_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="step_x0"):
        GFlashParameters(step_x0=0.0)
    with pytest.raises(ValueError, match="sampling_term"):
        GFlashParameters(sampling_term=-0.1)
    readout_only = Geometry("readout", (Layer("l0", PolarGrid((0.0, 5.0), 4)),))
    sample = ParticleGun("electron", (1_000.0,)).sample(2, get_geometry("calogan"), 0)
    with pytest.raises(ValueError, match="no slab stack"):
        run_gflash(readout_only, sample)
    with pytest.raises(ValueError, match="workers"):
        run_gflash(get_geometry("calogan"), sample, workers=0)
    bad = GunSample(
        "pion",
        sample.energy_mev,
        sample.x_mm,
        sample.y_mm,
        sample.direction,
        sample.offset_eta,
        sample.offset_phi,
        sample.shower_seed,
    )
    with pytest.raises(ValueError, match="pion"):
        run_gflash(get_geometry("calogan"), bad)
