"""``[train] geometry`` in the TOML run file reads the data as ``--geometry`` does: a plain
CaloChallenge-layout file (no geometry attribute) trains; a file or option naming another
readout is refused."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from caloforge.cli import app

runner = CliRunner()
GEOMETRY = "calochallenge-1-photons"  # 368 cells
CONFIG = """
[train]
geometry = "{geometry}"
batch_size = 16
validate_every = 2
checkpoint_every = 2
val_max_showers = 20
threads = 1
progress = false

[model]
noise_dim = 4
generator_hidden = [16]
critic_hidden = [16]
n_critic = 1
"""


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _plain_file(path: Path, n: int = 60) -> Path:
    rng = np.random.default_rng(0)
    energy = 2.0 ** rng.integers(10, 16, size=(n, 1))
    frac = rng.dirichlet(np.full(368, 0.3), size=n)
    with h5py.File(path, "w") as f:
        f["incident_energies"] = energy.astype(np.float64)
        f["showers"] = (frac * energy).astype(np.float32)
    return path


def _train(tmp_path: Path, geometry: str, *extra: str) -> tuple[int, str, str, Path]:
    cfg = tmp_path / "run.toml"
    cfg.write_text(CONFIG.format(geometry=geometry))
    out = tmp_path / "model"
    args = ["train", "--data", str(_plain_file(tmp_path / "plain.h5")), "--family", "gan-ecritic"]
    result = runner.invoke(
        app, [*args, "--config", str(cfg), "--steps", "2", "--out", str(out), "--json", *extra]
    )
    return result.exit_code, result.output, result.stdout, out


def test_train_geometry_from_the_config_reads_a_plain_file(tmp_path: Path) -> None:
    code, output, stdout, out = _train(tmp_path, GEOMETRY)
    assert code == 0, output
    assert json.loads(stdout)[0]["steps"] == 2
    assert json.loads((out / "model.json").read_text())["geometry"]["name"] == GEOMETRY


def test_a_config_geometry_other_than_the_option_is_refused(tmp_path: Path) -> None:
    code, output, _, _ = _train(tmp_path, "calochallenge-1-pions", "--geometry", GEOMETRY)
    assert code == 2
    assert "train.geometry" in output
    assert "calochallenge-1-pions" in output


def test_a_config_geometry_other_than_the_files_is_refused(tmp_path: Path) -> None:
    from caloforge.io import read_showers, write_showers
    from caloforge.training import train

    plain = _plain_file(tmp_path / "plain.h5")
    named = tmp_path / "named.h5"
    write_showers(named, read_showers(plain, GEOMETRY))
    cfg = tmp_path / "run.toml"
    cfg.write_text(CONFIG.format(geometry="calochallenge-2"))
    with pytest.raises(ValueError, match="differs from the given geometry 'calochallenge-2'"):
        train(named, "gan-ecritic", cfg, tmp_path / "m", steps=1, progress=False)
