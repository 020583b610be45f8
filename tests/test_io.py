"""ShowerSet files: round trips, foreign files, CaloGAN layout, streaming, merging, bad input."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from caloforge.geometry import get_geometry
from caloforge.io import (
    ShowerWriter,
    file_info,
    iter_showers,
    merge_files,
    read_calogan,
    read_showers,
    write_calogan,
    write_showers,
)
from caloforge.showerset import ShowerSet


def _showers(name: str = "atlas-em-barrel", n: int = 50, seed: int = 0) -> ShowerSet:
    rng = np.random.default_rng(seed)
    g = get_geometry(name)
    cond = {"config": rng.integers(0, 8, n)} if g.alignment_configs == 8 else {}
    cells = rng.exponential(10.0, (n, g.n_cells)).astype(np.float32)
    cells[cells < 5] = 0
    return ShowerSet(rng.uniform(1e3, 1e5, n), cells, g, "photon", cond, {"engine": "test"})


def test_round_trip_is_exact(tmp_path: Path) -> None:
    s = _showers()
    write_showers(tmp_path / "a.h5", s)
    r = read_showers(tmp_path / "a.h5")
    assert np.array_equal(r.cells, s.cells)
    assert np.array_equal(r.incident_energy, s.incident_energy)
    assert np.array_equal(r.config, s.config)
    assert r.geometry == s.geometry
    assert r.particle == "photon"
    assert r.attrs == {"engine": "test"}


def test_file_follows_calochallenge_layout(tmp_path: Path) -> None:
    write_showers(tmp_path / "a.h5", _showers(n=7))
    with h5py.File(tmp_path / "a.h5") as f:
        assert f["incident_energies"].shape == (7, 1)
        assert f["showers"].shape == (7, 266)
        assert f["config"].dtype.kind == "i"
        assert f.attrs["geometry"] == "atlas-em-barrel"


def test_plain_h5py_file_reads_with_a_given_geometry(tmp_path: Path) -> None:
    path = tmp_path / "foreign.h5"
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        f["incident_energies"] = rng.uniform(1e3, 1e6, (20, 1))
        f["showers"] = rng.exponential(1.0, (20, 368))
    with pytest.raises(ValueError, match="names no geometry"):
        read_showers(path)
    s = read_showers(path, "calochallenge-1-photons")
    assert s.cells.shape == (20, 368)
    assert s.geometry.name == "calochallenge-1-photons"


def test_calogan_round_trip_units(tmp_path: Path) -> None:
    s = _showers("calogan", n=11)
    write_calogan(tmp_path / "cg.h5", s)
    with h5py.File(tmp_path / "cg.h5") as f:
        assert np.allclose(f["energy"][:, 0], s.incident_energy / 1000.0)  # GeV on disk
        assert f["layer_0"].shape == (11, 3, 96)
        assert f["layer_2"].shape == (11, 12, 6)
        assert np.array_equal(f["layer_1"][3].ravel(), s.cells[3, 288:432])
    r = read_calogan(tmp_path / "cg.h5")
    assert np.allclose(r.incident_energy, s.incident_energy)  # back in MeV
    assert np.array_equal(r.cells, s.cells)


def test_chunked_iteration_covers_every_row_once(tmp_path: Path) -> None:
    s = _showers(n=103)
    write_showers(tmp_path / "a.h5", s)
    chunks = list(iter_showers(tmp_path / "a.h5", chunk_size=25))
    assert [len(c) for c in chunks] == [25, 25, 25, 25, 3]
    assert np.array_equal(np.concatenate([c.cells for c in chunks]), s.cells)


def test_streaming_writer_and_merge(tmp_path: Path) -> None:
    a, b = _showers(n=30, seed=1), _showers(n=20, seed=2)
    with ShowerWriter(tmp_path / "w.h5", a.geometry, conditions=["config"]) as w:
        w.append(a[:10])
        w.append(a[10:])
    assert np.array_equal(read_showers(tmp_path / "w.h5").cells, a.cells)
    write_showers(tmp_path / "b.h5", b)
    merge_files([tmp_path / "w.h5", tmp_path / "b.h5"], tmp_path / "m.h5")
    m = read_showers(tmp_path / "m.h5")
    assert len(m) == 50
    assert np.array_equal(m.cells, np.concatenate([a.cells, b.cells]))
    assert np.array_equal(m.config, np.concatenate([a.config, b.config]))
    info = file_info(tmp_path / "m.h5")
    assert info["n_showers"] == 50
    assert sum(info["config_counts"]) == 50


def test_merge_refuses_other_geometry(tmp_path: Path) -> None:
    write_showers(tmp_path / "a.h5", _showers())
    write_showers(tmp_path / "c.h5", _showers("calogan"))
    with pytest.raises(ValueError, match="geometry"):
        merge_files([tmp_path / "a.h5", tmp_path / "c.h5"], tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()
    assert list(tmp_path.glob(".m.h5*")) == []  # no temporary left behind


# ---- bad input ---------------------------------------------------------------------------------
def _write_raw(path: Path, energies: np.ndarray, showers: np.ndarray | None) -> Path:
    with h5py.File(path, "w") as f:
        f["incident_energies"] = energies
        if showers is not None:
            f["showers"] = showers
        f.attrs["geometry"] = "calochallenge-1-photons"
    return path


def test_missing_key_names_file_and_key(tmp_path: Path) -> None:
    p = _write_raw(tmp_path / "nokey.h5", np.ones((3, 1)), None)
    with pytest.raises(ValueError, match=r"nokey\.h5: missing dataset 'showers'"):
        read_showers(p)


def test_wrong_cell_count_names_expected_shape(tmp_path: Path) -> None:
    p = _write_raw(tmp_path / "cells.h5", np.ones((3, 1)), np.ones((3, 367)))
    with pytest.raises(ValueError, match=r"'showers' has shape \(3, 367\); expected \(3, 368\)"):
        read_showers(p)


def test_nan_and_negative_energies(tmp_path: Path) -> None:
    cells = np.ones((3, 368))
    cells[1, 5] = np.nan
    p = _write_raw(tmp_path / "nan.h5", np.ones((3, 1)), cells)
    with pytest.raises(ValueError, match=r"nan\.h5.*'showers' holds NaN"):
        read_showers(p)
    p = _write_raw(tmp_path / "neg.h5", -np.ones((3, 1)), np.ones((3, 368)))
    with pytest.raises(ValueError, match=r"neg\.h5.*'incident_energies'.*expected energies > 0"):
        read_showers(p)


def test_truncated_and_non_hdf5_files(tmp_path: Path) -> None:
    write_showers(tmp_path / "ok.h5", _showers())
    data = (tmp_path / "ok.h5").read_bytes()
    (tmp_path / "trunc.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match=r"trunc\.h5: not a readable HDF5 file"):
        read_showers(tmp_path / "trunc.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(ValueError, match=r"text\.h5: not a readable HDF5 file"):
        read_showers(tmp_path / "text.h5")
    with pytest.raises(ValueError, match="no such file"):
        read_showers(tmp_path / "absent.h5")


def test_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    s = _showers(n=10)
    target = tmp_path / "out.h5"

    def write_then_fail() -> None:
        with ShowerWriter(target, s.geometry, conditions=["config"]) as w:
            w.append(s)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_unwritable_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        write_showers(tmp_path / "nodir" / "x.h5", _showers())


def test_showerset_validation_messages() -> None:
    g = get_geometry("atlas-em-barrel")
    with pytest.raises(ValueError, match=r"expected \(2, 266\)"):
        ShowerSet(np.ones(2), np.ones((2, 10)), g)
    with pytest.raises(ValueError, match=r"'config' must be integers in 0\.\.7"):
        ShowerSet(np.ones(2), np.ones((2, 266)), g, conditions={"config": np.array([0, 9])})
    with pytest.raises(ValueError, match="unknown particle"):
        ShowerSet(np.ones(2), np.ones((2, 266)), g, particle="muon")


def test_attrs_known_at_the_end_reach_the_file(tmp_path: Path) -> None:
    s = _showers(n=5)
    with ShowerWriter(
        tmp_path / "a.h5", s.geometry, conditions=["config"], attrs={"engine": "x"}
    ) as w:
        w.append(s)
        w.update_attrs(mean_sampling_fraction=0.2)
    assert read_showers(tmp_path / "a.h5").attrs == {"engine": "x", "mean_sampling_fraction": 0.2}


def test_count_showers_and_file_permissions(tmp_path: Path) -> None:
    from caloforge.io import count_showers

    write_showers(tmp_path / "a.h5", _showers(n=13))
    assert count_showers(tmp_path / "a.h5") == 13
    mode = (tmp_path / "a.h5").stat().st_mode & 0o777
    assert mode & 0o044  # readable by group/others under the usual umask, not mkstemp's 0600
