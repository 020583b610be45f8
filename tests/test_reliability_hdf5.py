"""HDF5 reading refuses data outside the file; writing flushes float32 subnormals."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from caloforge.geometry import get_geometry
from caloforge.io import (
    count_showers,
    file_info,
    flush_denormals,
    iter_showers,
    read_calogan,
    read_showers,
    write_calogan,
    write_showers,
)
from caloforge.showerset import ShowerSet

GEO = get_geometry("calogan")


def _showers(n: int = 4) -> ShowerSet:
    cells = np.random.default_rng(1).random((n, GEO.n_cells), dtype=np.float32)
    return ShowerSet(np.full(n, 2000.0), cells, GEO, "photon")


def _secret(tmp_path: Path, n: int) -> Path:
    """A local file the crafted shower file points at (stands in for /etc/passwd)."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(np.arange(n * GEO.n_cells, dtype=np.float32).tobytes())
    return secret


def test_external_storage_is_refused(tmp_path: Path) -> None:
    n = 4
    secret = _secret(tmp_path, n)
    bad = tmp_path / "external.h5"
    write_showers(bad, _showers(n))
    with h5py.File(bad, "a") as f:
        del f["showers"]
        f.create_dataset(
            "showers",
            (n, GEO.n_cells),
            np.float32,
            external=[(str(secret), 0, h5py.h5f.UNLIMITED)],
        )
    with h5py.File(bad, "r") as f:  # the crafted file does read the other file through h5py
        assert f["showers"][0, 1] == 1.0
    for reader in (read_showers, count_showers, file_info, lambda p: next(iter_showers(p))):
        with pytest.raises(ValueError, match="external file") as info:
            reader(bad)
        text = str(info.value)
        assert str(bad) in text
        assert "'showers'" in text
        assert str(secret) in text
        assert "\n" not in text


def test_external_link_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.h5"
    write_showers(other, _showers())
    bad = tmp_path / "linked.h5"
    write_showers(bad, _showers())
    with h5py.File(bad, "a") as f:
        del f["showers"]
        f["showers"] = h5py.ExternalLink(str(other), "/showers")
    with pytest.raises(ValueError, match=r"'showers' is an external link to .*other\.h5"):
        read_showers(bad)


def test_virtual_dataset_reading_another_file_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.h5"
    write_showers(other, _showers())
    bad = tmp_path / "virtual.h5"
    write_showers(bad, _showers())
    layout = h5py.VirtualLayout((4, GEO.n_cells), np.float32)
    layout[:] = h5py.VirtualSource(str(other), "showers", shape=(4, GEO.n_cells))
    with h5py.File(bad, "a") as f:
        del f["showers"]
        f.create_virtual_dataset("showers", layout)
    with pytest.raises(ValueError, match=r"'showers' is a virtual dataset reading .*other\.h5"):
        read_showers(bad)


def test_nested_external_dataset_and_calogan_layout_are_refused(tmp_path: Path) -> None:
    n = 2
    secret = _secret(tmp_path, n)
    bad = tmp_path / "nested.h5"
    write_showers(bad, _showers(n))
    with h5py.File(bad, "a") as f:
        f.create_dataset("extra/deep", (4,), np.float32, external=[(str(secret), 0, 16)])
    with pytest.raises(ValueError, match=r"'extra/deep' stores its data in external"):
        read_showers(bad)
    calo = tmp_path / "calogan.h5"
    write_calogan(calo, _showers(n))
    with h5py.File(calo, "a") as f:
        del f["layer_1"]
        f["layer_1"] = h5py.ExternalLink(str(bad), "/showers")
    with pytest.raises(ValueError, match=r"calogan\.h5: key 'layer_1' is an external link"):
        read_calogan(calo)


def test_soft_links_inside_the_file_still_read(tmp_path: Path) -> None:
    path = tmp_path / "soft.h5"
    write_showers(path, _showers())
    with h5py.File(path, "a") as f:
        f["alias"] = h5py.SoftLink("/showers")
    assert len(read_showers(path)) == 4


def test_subnormal_float32_cells_are_written_as_zero(tmp_path: Path) -> None:
    tiny = np.finfo(np.float32).tiny
    s = _showers(2)
    s.cells[0, :4] = [tiny / 2, -tiny / 4, tiny, np.float32(1e-45)]
    assert np.count_nonzero((np.abs(s.cells) < tiny) & (s.cells != 0)) == 3
    out = tmp_path / "d.h5"
    write_showers(out, s)
    back = read_showers(out).cells
    assert back[0, :4].tolist() == [0.0, 0.0, float(tiny), 0.0]
    assert np.array_equal(back[:, 4:], s.cells[:, 4:])
    assert not np.any((np.abs(back) < tiny) & (back != 0))
    write_calogan(tmp_path / "c.h5", s)
    with h5py.File(tmp_path / "c.h5") as f:
        layer0 = f["layer_0"][0].reshape(-1)
    assert layer0[:4].tolist() == [0.0, 0.0, float(tiny), 0.0]


def test_flush_denormals_leaves_normal_arrays_untouched() -> None:
    a = np.array([1.0, 0.0, -2.5], dtype=np.float32)
    assert flush_denormals(a) is a
    b = np.array([1e-40, 1.0])  # float64: 1e-40 is a normal float64
    assert flush_denormals(b) is b
