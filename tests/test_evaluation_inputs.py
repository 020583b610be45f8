"""Bad input to ``evaluate`` is a ValueError naming the file, the key and the expectation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from caloforge.evaluation import evaluate
from caloforge.geometry import get_geometry
from caloforge.io import write_showers
from caloforge.showerset import ShowerSet
from synthetic import atlas_showers


@pytest.fixture
def reference_file(shower_file: Callable[..., Path]) -> Path:
    return shower_file(atlas_showers, 40, 3)


def test_different_geometry_is_rejected(tmp_path: Path, reference_file: Path) -> None:
    geo = get_geometry("calogan")
    other = ShowerSet(np.ones(3), np.ones((3, geo.n_cells), np.float32), geo)
    path = write_showers(tmp_path / "calogan.h5", other)
    with pytest.raises(ValueError, match=r"calogan\.h5: geometry 'calogan' with 504 cells.*266"):
        evaluate(reference_file, path, classifier=False)


def test_cell_count_mismatch_in_file_is_rejected(tmp_path: Path, reference_file: Path) -> None:
    path = tmp_path / "short.h5"
    with h5py.File(path, "w") as f:
        f["incident_energies"] = np.ones((3, 1))
        f["showers"] = np.ones((3, 200), np.float32)
        f.attrs["geometry"] = "atlas-em-barrel"
    with pytest.raises(ValueError, match=r"short\.h5: key 'showers' has shape \(3, 200\)"):
        evaluate(reference_file, path, classifier=False)


def test_empty_candidate_is_rejected(tmp_path: Path, reference_file: Path) -> None:
    path = write_showers(tmp_path / "empty.h5", atlas_showers(40, 3)[:0])
    with pytest.raises(ValueError, match=r"empty\.h5: key 'showers' holds no showers"):
        evaluate(reference_file, path, classifier=False)


def test_empty_reference_is_rejected(tmp_path: Path, reference_file: Path) -> None:
    path = write_showers(tmp_path / "empty.h5", atlas_showers(40, 3)[:0])
    with pytest.raises(ValueError, match=r"empty\.h5: .*non-empty reference"):
        evaluate(path, reference_file, classifier=False)


def test_nan_candidate_file_is_rejected(tmp_path: Path, reference_file: Path) -> None:
    path = write_showers(tmp_path / "nan.h5", atlas_showers(40, 4))
    with h5py.File(path, "r+") as f:
        f["showers"][7, 100] = np.nan
    with pytest.raises(ValueError, match=r"nan\.h5.*key 'showers' holds NaN.*row 7"):
        evaluate(reference_file, path, classifier=False)


def test_nan_candidate_in_memory_is_rejected(reference_file: Path) -> None:
    showers = atlas_showers(40, 4)
    bad = ShowerSet(showers.incident_energy, showers.cells.copy(), showers.geometry)
    bad.cells[2, 5] = np.nan
    with pytest.raises(ValueError, match=r"model_b: key 'showers' holds NaN"):
        evaluate(reference_file, [bad], labels=["model_b"], classifier=False)


def test_missing_file_is_rejected(tmp_path: Path, reference_file: Path) -> None:
    with pytest.raises(ValueError, match=r"nope\.h5: no such file"):
        evaluate(reference_file, tmp_path / "nope.h5")


def test_labels_must_match_candidates(reference_file: Path) -> None:
    with pytest.raises(ValueError, match="2 labels for 1 candidates"):
        evaluate(reference_file, reference_file, labels=["a", "b"])


def test_per_config_needs_configurations(tmp_path: Path, reference_file: Path) -> None:
    showers = atlas_showers(40, 4)
    bare = ShowerSet(showers.incident_energy, showers.cells, showers.geometry)
    with pytest.raises(ValueError, match=r"model_c: per-configuration .*'config'"):
        evaluate(reference_file, [bare], labels=["model_c"], per_config=True)


def test_default_lowlevel_rows_bounds_memory() -> None:
    from caloforge.evaluation.comparison import default_lowlevel_rows

    assert default_lowlevel_rows(266) == 20_000  # coarse geometries keep the full subsample
    rows = default_lowlevel_rows(6480)
    assert rows * 6481 * 4 <= 256 * 2**20 < (rows + 1) * 6481 * 4
    assert default_lowlevel_rows(10**7) == 1000  # never fewer than 1000 showers
