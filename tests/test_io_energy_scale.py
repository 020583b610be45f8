"""Shower files: the energy-scale attribute, compression options, and a given geometry that
disagrees with the file's own."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from caloforge.geometry import Geometry, Layer, get_geometry
from caloforge.geometry.segmentation import PolarGrid
from caloforge.io import ShowerWriter, read_showers, write_showers
from caloforge.io.hdf5 import compression_options
from caloforge.showerset import ShowerSet


def _showers(geo: Geometry, n: int = 4) -> ShowerSet:
    rng = np.random.default_rng(0)
    return ShowerSet(np.full(n, 1e4), rng.uniform(0, 5, (n, geo.n_cells)), geo, "electron")


def test_compression_options() -> None:
    assert compression_options(None, 6480, 10) == {}
    assert compression_options("auto", 6480, 100) == {}  # 2.6 MB
    assert compression_options("auto", 6480, 10_000)["compression"] == "gzip"  # 259 MB
    assert compression_options("auto", 504, None) == {}  # 10 000 x 504 x 4 B = 20 MB
    assert compression_options("lzf", 10, 1) == {"compression": "lzf", "shuffle": True}
    with pytest.raises(ValueError, match="compression must be 'auto', 'gzip', 'lzf' or None"):
        compression_options("zstd", 10, 1)


@pytest.mark.parametrize("compression", ["gzip", "lzf"])
def test_compressed_files_read_back_chunked_by_rows(tmp_path: Path, compression: str) -> None:
    s = _showers(get_geometry("calogan"), 50)
    path = write_showers(tmp_path / "c.h5", s, compression=compression)
    with h5py.File(path) as f:
        assert f["showers"].compression == compression
        assert f["showers"].chunks[1] == 504
    np.testing.assert_array_equal(read_showers(path).cells, s.cells)


def test_simulated_visible_energy_is_written_in_the_calibrated_scale(tmp_path: Path) -> None:
    geo = get_geometry("calochallenge-2")
    s = _showers(geo)
    with ShowerWriter(tmp_path / "s.h5", geo, particle="electron", from_visible=True) as w:
        w.append(s)
    with h5py.File(tmp_path / "s.h5") as f:
        assert f.attrs["energy_scale"] == pytest.approx(1 / 0.033)
        stored = f["showers"][...]
    np.testing.assert_allclose(stored, s.cells / 0.033, rtol=1e-6)
    back = read_showers(tmp_path / "s.h5")
    assert back.attrs["energy_scale"] == pytest.approx(1 / 0.033)
    # written again, the scale is kept, not applied twice
    write_showers(tmp_path / "t.h5", back)
    with h5py.File(tmp_path / "t.h5") as f:
        assert f.attrs["energy_scale"] == pytest.approx(1 / 0.033)
        np.testing.assert_array_equal(f["showers"][...], stored)


def test_other_geometries_stay_visible(tmp_path: Path) -> None:
    geo = get_geometry("calogan")
    with ShowerWriter(tmp_path / "s.h5", geo, from_visible=True) as w:
        w.append(_showers(geo))
    with h5py.File(tmp_path / "s.h5") as f:
        assert f.attrs["energy_scale"] == 1.0


def test_given_geometry_that_disagrees_with_the_files_is_an_error(tmp_path: Path) -> None:
    a = Geometry("a", (Layer("l", PolarGrid((0.0, 1.0, 2.0), 2)),))
    b = Geometry("b", (Layer("l", PolarGrid((0.0, 1.0, 3.0), 2)),))
    path = write_showers(tmp_path / "a.h5", _showers(a))
    assert read_showers(path, a).geometry.name == "a"
    with pytest.raises(
        ValueError,
        match=r"a\.h5: the file's geometry 'a' \(4 cells\) differs from the given geometry 'b' \(4 cells\)",
    ):
        read_showers(path, b)
