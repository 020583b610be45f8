"""simulate_to_file: row ranges, fan-out over an executor, and memory that does not grow with
the number of showers."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from caloforge.fanout import LocalExecutor
from caloforge.geometry import Geometry, get_geometry
from caloforge.io import count_showers, read_showers
from caloforge.simulation import ENGINES, SimulationResult, simulate_to_file
from caloforge.simulation.engine import EngineOutput
from caloforge.simulation.gun import GunSample, ParticleGun

GUN = ParticleGun("photon", energy_range_mev=(5_000.0, 20_000.0))


def test_row_ranges_give_the_rows_of_the_whole_job(tmp_path: Path) -> None:
    kw: dict[str, Any] = {"seed": 4, "engine": "gflash", "progress": False, "batch_size": 7}
    simulate_to_file("atlas-em-barrel", GUN, 30, tmp_path / "w.h5", **kw)
    whole = read_showers(tmp_path / "w.h5")
    parts = [
        simulate_to_file("atlas-em-barrel", GUN, 30, tmp_path / f"p{a}.h5", rows=(a, b), **kw)
        for a, b in ((0, 11), (11, 12), (12, 30))
    ]
    files = [read_showers(p.path) for p in parts if p.path is not None]
    assert [len(f) for f in files] == [11, 1, 18]
    assert files[2].attrs["rows"] == [12, 30]
    np.testing.assert_array_equal(np.concatenate([f.cells for f in files]), whole.cells)
    np.testing.assert_array_equal(
        np.concatenate([f.config for f in files if f.config is not None]), whole.config
    )
    visible = np.concatenate([p.visible_mev for p in parts])
    np.testing.assert_array_equal(visible, whole.cells.sum(axis=1, dtype=np.float64))
    for bad in ((0, 0), (5, 31), (-1, 3)):
        with pytest.raises(ValueError, match="rows must satisfy"):
            simulate_to_file("atlas-em-barrel", GUN, 30, tmp_path / "x.h5", rows=bad, **kw)


def test_local_executor_writes_the_local_file(tmp_path: Path) -> None:
    kw: dict[str, Any] = {"seed": 2, "engine": "gflash", "progress": False}
    local = simulate_to_file("atlas-em-barrel", GUN, 25, tmp_path / "l.h5", **kw)
    out = tmp_path / "f.h5"
    res = simulate_to_file(
        "atlas-em-barrel", GUN, 25, out, executor=LocalExecutor(), part_size=10, **kw
    )
    a, b = read_showers(local.path or ""), read_showers(out)
    np.testing.assert_array_equal(a.cells, b.cells)
    np.testing.assert_array_equal(res.visible_mev, local.visible_mev)
    assert b.attrs["local"] == {"parts": 3, "part_size": 10, "workers": 1}
    assert b.attrs["mean_sampling_fraction"] == local.mean_sampling_fraction
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".f.h5")] == []


def _ones(geometry: Geometry, sample: GunSample, **kw: Any) -> EngineOutput:
    """An engine whose cells are plain NumPy allocations (seen by tracemalloc)."""
    n = len(sample)
    zeros = np.zeros(n)
    return EngineOutput(np.ones((n, geometry.n_cells), np.float32), zeros, zeros, zeros, zeros)


def _peak_bytes(tmp_path: Path, n: int) -> tuple[int, SimulationResult]:
    geometry = get_geometry("calochallenge-2")  # 6480 cells: 26 kB of float32 per shower
    tracemalloc.start()
    try:
        res = simulate_to_file(
            geometry, GUN, n, tmp_path / f"m{n}.h5", engine="ones", batch_size=50, progress=False
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, res


def test_simulate_to_file_keeps_no_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ENGINES, "ones", _ones)
    small, _ = _peak_bytes(tmp_path, 100)
    large, res = _peak_bytes(tmp_path, 1600)
    cells_per_shower = 4 * get_geometry("calochallenge-2").n_cells
    # 1500 more showers hold 39 MB of cells; what may grow is the per-shower bookkeeping and
    # the gun's sample (~200 bytes a shower), far below one shower's cells each
    assert large - small < 1500 * cells_per_shower / 20, (small, large)
    assert res.showers is None
    assert all(np.ndim(v) <= 1 for v in vars(res).values() if isinstance(v, np.ndarray))
    assert count_showers(tmp_path / "m1600.h5") == res.n == 1600
