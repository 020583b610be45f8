"""Geometry presets, the binning-XML loader and the ATLAS alignment configurations."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from caloforge.geometry import (
    CartesianGrid,
    Geometry,
    PolarGrid,
    Slab,
    get_geometry,
    load_binning_xml,
    mip_sampling_fraction,
    mip_weights,
    preset_names,
)
from caloforge.geometry.atlas import (
    MIDDLE_DETA,
    MIDDLE_DPHI,
    alignment,
    config_cell_centres,
)
from caloforge.materials import get_material

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "calochallenge"
XML_CASES = [
    ("binning_dataset_1_photons.xml", "calochallenge-1-photons", 368),
    ("binning_dataset_1_pions.xml", "calochallenge-1-pions", 533),
    ("binning_dataset_2.xml", "calochallenge-2", 6480),
    ("binning_dataset_3.xml", "calochallenge-3", 40500),
]


@pytest.mark.parametrize(("xml", "preset", "n_cells"), XML_CASES)
def test_presets_equal_binning_xml(xml: str, preset: str, n_cells: int) -> None:
    path = REFERENCE / xml
    if not path.is_file():
        pytest.skip(f"reference file {path} not present (user clone)")
    loaded = load_binning_xml(path)
    built = get_geometry(preset)
    assert loaded.n_cells == n_cells
    assert built.n_cells == n_cells
    assert built.same_readout(loaded)
    # the XML's own numbers, read independently of our loader
    import xml.etree.ElementTree as ET

    for el, layer in zip(ET.parse(path).getroot().iter("Layer"), built.layers, strict=True):
        seg = layer.segmentation
        assert isinstance(seg, PolarGrid)
        assert seg.r_edges_mm == tuple(float(r) for r in el.attrib["r_edges"].split(","))
        assert seg.n_alpha == int(el.attrib["n_bin_alpha"])


def test_atlas_cell_counts() -> None:
    g = get_geometry("atlas-em-barrel")
    assert [ly.n_cells for ly in g.layers] == [21, 168, 49, 28]
    assert g.n_cells == 266
    assert [ly.name for ly in g.layers] == ["presampler", "strips", "middle", "back"]
    assert g.alignment_configs == 8


def test_atlas_phi_steps_cycle_through_four_strip_alignments() -> None:
    eta = 0.2125  # centre of a middle cell
    phis = (np.arange(8) + 0.5) * MIDDLE_DPHI
    config, _, _ = alignment(np.full(8, eta), phis)
    strip_alignment = config % 4
    assert list(strip_alignment) == [0, 1, 2, 3, 0, 1, 2, 3]
    assert len(set(config // 4)) == 1  # eta parity unchanged


def test_atlas_eta_steps_cycle_through_two_back_alignments() -> None:
    etas = 0.200 + (np.arange(4) + 0.5) * MIDDLE_DETA
    config, _, _ = alignment(etas, np.full(4, 0.5 * MIDDLE_DPHI))
    assert list(config // 4) == [0, 1, 0, 1]
    assert set(config % 4) == {0}


def test_atlas_configurations_have_distinct_cell_coordinates() -> None:
    g = get_geometry("atlas-em-barrel")
    coords = [config_cell_centres(g, c) for c in range(8)]
    for a in range(8):
        for b in range(a + 1, 8):
            assert not np.allclose(coords[a], coords[b]), (a, b)
    # middle layer is the same for every configuration and centred on the hit cell
    mid = g.layer_slice(2)
    assert np.allclose(coords[0][mid].mean(axis=0), 0.0)
    for c in coords:
        assert np.array_equal(c[mid], coords[0][mid])


def test_atlas_strip_offsets_follow_the_global_grid() -> None:
    """For each phi alignment, the strip cell edges in the cluster fall on global strip edges."""
    g = get_geometry("atlas-em-barrel")
    strips = g.layer_slice(1)
    for i_phi in range(4):
        phi_hit = (i_phi + 0.5) * MIDDLE_DPHI
        config, _, phi_c = alignment(0.2125, phi_hit)
        centres = config_cell_centres(g, int(config))[strips, 1] + phi_c
        edges = centres - 2 * MIDDLE_DPHI  # strips are 4 middle cells wide
        ratio = edges / (4 * MIDDLE_DPHI)
        assert np.allclose(ratio, np.round(ratio))


def test_atlas_radiation_lengths_match_design() -> None:
    g = get_geometry("atlas-em-barrel")
    assert g.front_x0 + g.layers[0].x0 == pytest.approx(2.1, abs=0.3)  # ~2 X0 before strips
    assert g.layers[1].x0 == pytest.approx(4.3, abs=0.3)
    assert g.layers[2].x0 == pytest.approx(16.0, abs=0.5)
    assert g.layers[3].x0 == pytest.approx(2.0, abs=0.3)


def test_x0_of_slabs_uses_pdg_values() -> None:
    # PDG: Pb X0 = 6.37 g/cm2 / 11.35 g/cm3 = 0.5612 cm; W 0.3504 cm
    assert get_material("Pb").x0_mm == pytest.approx(5.612, rel=1e-3)
    assert get_material("W").x0_mm == pytest.approx(3.504, rel=1e-3)
    # R_M = X0 * 21.2052 MeV / Ec, consistent with the tabulated R_M
    for name in ("Pb", "W", "Fe", "Cu", "LAr", "Si", "PbWO4", "Scintillator"):
        m = get_material(name)
        assert m.moliere_radius_mm == pytest.approx(
            m.x0_mm * 21.2052 / m.critical_energy_mev, rel=0.01
        )


@pytest.mark.parametrize(
    ("name", "n_cells", "n_layers"),
    [
        ("calogan", 504, 3),
        ("ild-ecal", 27000, 30),
        ("clic-ecal", 15625, 25),
        ("calochallenge-2", 6480, 45),
        ("calochallenge-3", 40500, 45),
    ],
)
def test_grid_presets(name: str, n_cells: int, n_layers: int) -> None:
    g = get_geometry(name)
    assert (g.n_cells, g.n_layers) == (n_cells, n_layers)
    assert g.cell_centres().shape == (n_cells, 2)
    assert g.cell_centres_mm().shape == (n_cells, 2)
    assert g.cell_sizes_mm().shape == (n_cells, 2)


def test_ild_and_clic_depth() -> None:
    assert get_geometry("ild-ecal").total_x0 == pytest.approx(24.0, abs=0.5)
    clic = get_geometry("clic-ecal")
    assert clic.layers[0].segmentation == CartesianGrid(25, 25, 5.1, 5.1)
    assert [s.thickness_mm for s in clic.layers[0].slabs] == [2.4, 0.5]
    assert [s.thickness_mm for s in clic.layers[-1].slabs] == [4.8, 0.5]


def test_calogan_layer_depths() -> None:
    g = get_geometry("calogan")
    assert [ly.thickness_mm for ly in g.layers] == pytest.approx([90.0, 347.0, 43.0])
    assert [ly.segmentation.shape for ly in g.layers] == [(3, 96), (12, 12), (12, 6)]


def test_flattening_order_cartesian() -> None:
    seg = CartesianGrid(nx=4, ny=3, pitch_x_mm=1.0, pitch_y_mm=2.0)
    c = seg.centres()
    # row-major: y slow, x fast
    assert c[1, 0] - c[0, 0] == pytest.approx(1.0)
    assert c[4, 1] - c[0, 1] == pytest.approx(2.0)
    assert seg.locate_mm(np.array([c[5, 0]]), np.array([c[5, 1]]))[0] == 5
    assert seg.locate_mm(np.array([100.0]), np.array([0.0]))[0] == -1


def test_flattening_order_polar_radial_fastest() -> None:
    seg = PolarGrid((0.0, 1.0, 2.0, 4.0), 4)
    c = seg.centres()
    assert list(c[:3, 0]) == [0.5, 1.5, 3.0]
    assert c[3, 1] - c[0, 1] == pytest.approx(math.pi / 2)
    xy = seg.centres_mm()
    assert np.array_equal(seg.locate_mm(xy[:, 0], xy[:, 1]), np.arange(seg.n_cells))
    assert seg.areas_mm2().sum() == pytest.approx(math.pi * 16)


def test_layer_slices_partition_the_cell_vector() -> None:
    g = get_geometry("calochallenge-1-pions")
    covered = np.concatenate([np.arange(g.n_cells)[g.layer_slice(i)] for i in range(g.n_layers)])
    assert np.array_equal(covered, np.arange(g.n_cells))
    cells = np.arange(2 * g.n_cells, dtype=float).reshape(2, -1)
    img = g.layer_images(cells, 2)
    assert img.shape == (2, 10, 10)
    assert img[1, 0, 0] == cells[1, g.layer_slice(2).start]


@pytest.mark.parametrize("name", preset_names())
def test_geometry_json_round_trip(name: str) -> None:
    g = get_geometry(name)
    assert Geometry.from_json(g.to_json()) == g


def test_unknown_preset_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="known presets: atlas-em-barrel"):
        get_geometry("atlas-barrel")


def test_bad_xml_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<Bins><Bin><Layer id='0' r_edges='0,2,1' n_bin_alpha='1'/></Bin></Bins>")
    with pytest.raises(ValueError, match="r_edges must increase"):
        load_binning_xml(bad)
    (tmp_path / "junk.xml").write_text("not xml")
    with pytest.raises(ValueError, match=r"junk\.xml"):
        load_binning_xml(tmp_path / "junk.xml")


def test_mip_sampling_fraction_from_pdg_dedx() -> None:
    """2 mm Pb / 4 mm LAr: a MIP loses 1.122 MeV cm2/g x 11.35 g/cm3 in lead and
    1.508 MeV cm2/g x 1.396 g/cm3 in argon (PDG), so 24.9% of its loss is in the argon."""
    pb, lar = 0.1 * 1.122 * 11.35 * 2.0, 0.1 * 1.508 * 1.396 * 4.0  # MeV
    slabs = [Slab("Pb", 2.0, False), Slab("LAr", 4.0, True)]
    assert mip_sampling_fraction(slabs) == pytest.approx(lar / (pb + lar), rel=1e-12)
    assert mip_sampling_fraction(slabs) == pytest.approx(0.2488, abs=5e-4)
    assert mip_sampling_fraction([Slab("Pb", 2.0, False)]) == 0.0
    assert mip_sampling_fraction([Slab("LAr", 4.0, True)]) == 1.0
    assert mip_sampling_fraction([]) == 0.0
    # ILD-like: the back section (4.2 mm W per 0.5 mm Si) samples half as much as the front
    ild = get_geometry("ild-ecal")
    front, back = (mip_sampling_fraction(ild.layers[i].slabs) for i in (5, 25))
    assert front / back == pytest.approx(48.90 / 24.95, rel=2e-3)


def test_mip_weights_are_the_inverse_mip_fractions_or_none_without_a_mip_scale() -> None:
    """One over each layer's MIP sampling fraction (the calibration of the MIP-weighted energy);
    None as soon as one layer has no active slab."""
    stacks = [[Slab("Pb", 2.0, False), Slab("LAr", 4.0, True)], [Slab("LAr", 4.0, True)]]
    w = mip_weights(stacks)
    assert w is not None
    np.testing.assert_allclose(w, [1.0 / mip_sampling_fraction(stacks[0]), 1.0], rtol=1e-12)
    assert mip_weights([*stacks, [Slab("Pb", 2.0, False)]]) is None
    assert mip_weights([]) is None


def test_e_over_mip_and_mass_weighted_z_follow_grindhammer_peters() -> None:
    """e/mip = 1 / (1 + 0.007 (Z_passive - Z_active)), the Z's mass-weighted: Pb/LAr 1/1.448,
    W/Si 1/1.42; a compound passive layer takes its Z from the masses (1.5 mm Pb + 1 mm Al:
    (17.025 x 82 + 2.699 x 13) / 19.724)."""
    from caloforge.geometry.stack import (
        E_OVER_MIP_Z,
        e_over_mip,
        em_sampling_fraction,
        mass_weighted_z,
    )

    assert E_OVER_MIP_Z == 0.007
    pb_lar = [Slab("Pb", 1.5, False), Slab("LAr", 4.2, True)]
    assert e_over_mip(pb_lar) == pytest.approx(1 / 1.448, rel=1e-12)
    assert e_over_mip([Slab("W", 2.1, False), Slab("Si", 0.5, True)]) == pytest.approx(1 / 1.42)
    mixed = [Slab("Pb", 1.5, False), Slab("Al", 1.0, False)]
    pb, al = 11.35 * 1.5, get_material("Al").density_g_cm3 * 1.0
    assert mass_weighted_z(mixed) == pytest.approx((pb * 82 + al * 13) / (pb + al), rel=1e-12)
    assert mass_weighted_z([Slab("LAr", 4.2, True), Slab("LAr", 1.0, True)]) == pytest.approx(18.0)
    # no passive or no active slab: e/mip is 1; the EM sampling fraction is e/mip x f_mip
    assert e_over_mip([Slab("LAr", 4.2, True)]) == 1.0
    assert e_over_mip([Slab("Pb", 1.5, False)]) == 1.0
    assert em_sampling_fraction(pb_lar) == pytest.approx(
        mip_sampling_fraction(pb_lar) / 1.448, rel=1e-12
    )
    assert em_sampling_fraction([Slab("Pb", 1.5, False)]) == 0.0


def test_layer_energies_sums_each_layer_and_gives_empty_layers_zero() -> None:
    g = get_geometry("calochallenge-1-photons")  # layer sizes 8, 160, 190, 5, 0 x 8, 5, 0 x 11
    cells = np.arange(2 * g.n_cells, dtype=np.float64).reshape(2, -1)
    e = g.layer_energies(cells)
    assert e.shape == (2, 24)
    assert e.dtype == np.float64
    # layer 0 of shower 0 holds cells 0..7; shower 1's layer 3 holds cells 358..362 + 368
    assert e[0, 0] == sum(range(8))
    assert e[1, 3] == sum(range(368 + 358, 368 + 363))
    assert e[1, 12] == sum(range(368 + 363, 368 + 368))
    assert np.array_equal(e[:, 4:12], np.zeros((2, 8)))
    assert np.array_equal(e[:, 13:], np.zeros((2, 11)))
    assert np.array_equal(e.sum(axis=1), cells.sum(axis=1))


def test_layer_energies_keeps_leading_axes_and_the_requested_dtype() -> None:
    g = get_geometry("atlas-em-barrel")
    rng = np.random.default_rng(3)
    cells = rng.exponential(1.0, (2, 3, g.n_cells)).astype(np.float32)
    e = g.layer_energies(cells)
    assert e.shape == (2, 3, 4)
    assert e[1, 2, 1] == cells[1, 2, g.layer_slice(1)].sum(dtype=np.float64)
    # dtype=cells.dtype reproduces a plain float32 sum bit for bit
    plain = np.stack([cells[..., g.layer_slice(i)].sum(axis=-1) for i in range(4)], axis=-1)
    same = g.layer_energies(cells, dtype=cells.dtype)
    assert same.dtype == np.float32
    assert np.array_equal(same, plain)


def test_layer_energies_rejects_cells_of_another_geometry() -> None:
    g = get_geometry("atlas-em-barrel")
    with pytest.raises(ValueError, match=r"'atlas-em-barrel'.*\(5, 504\).*\(\.\.\., 266\)"):
        g.layer_energies(np.zeros((5, 504)))
