"""`caloforge geometry list|show` and `caloforge info`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from caloforge.geometry import get_geometry
from caloforge.io import write_showers
from caloforge.showerset import ShowerSet


def test_geometry_list_names_every_preset(cli: Callable) -> None:
    result = cli(["geometry", "list"])
    assert result.exit_code == 0, result.output
    for name in ("atlas-em-barrel", "calogan", "calochallenge-3", "ild-ecal", "clic-ecal"):
        assert name in result.output
    assert "40500" in result.output


def test_geometry_show_layers_and_x0(cli: Callable) -> None:
    result = cli(["geometry", "show", "atlas-em-barrel"])
    assert result.exit_code == 0, result.output
    assert "cells: 266" in result.output
    for word in ("presampler", "strips", "middle", "back", "16.05"):
        assert word in result.output
    result = cli(["geometry", "show", "calogan", "--json"])
    assert json.loads(result.output)["name"] == "calogan"


def test_geometry_show_unknown_is_a_clean_error(cli: Callable) -> None:
    result = cli(["geometry", "show", "nope"])
    assert result.exit_code == 2
    assert "known presets" in result.output
    assert "Traceback" not in result.output


def test_info_reports_counts_and_ranges(tmp_path: Path, cli: Callable) -> None:
    g = get_geometry("atlas-em-barrel")
    s = ShowerSet(
        np.array([1e4, 5e4]), np.full((2, 266), 1.0), g, "photon", {"config": np.array([3, 3])}
    )
    write_showers(tmp_path / "s.h5", s)
    result = cli(["info", str(tmp_path / "s.h5")])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["n_showers"] == 2
    assert info["incident_energy_max_mev"] == 5e4
    assert info["config_counts"][3] == 2
    bad = cli(["info", str(tmp_path / "missing.h5")])
    assert bad.exit_code == 2
    assert "no such file" in bad.output


def test_python_m_caloforge_cli_lists_every_stage() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "caloforge.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    for stage in ("simulate", "train", "generate", "evaluate", "export", "bench", "geometry"):
        assert stage in out.stdout
