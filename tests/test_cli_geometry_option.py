"""``--geometry`` on every command that reads a shower file: train -> generate -> evaluate on a
plain CaloChallenge-layout file (only ``incident_energies`` and ``showers``), from the CLI."""

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
batch_size = 32
validate_every = 5
checkpoint_every = 5
threads = 1
progress = false

[model]
noise_dim = 8
generator_hidden = [32]
critic_hidden = [32]
n_critic = 1
"""


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _plain_file(path: Path, n: int = 200, seed: int = 0) -> Path:
    """A file as the challenge ships them: two datasets, no attributes."""
    rng = np.random.default_rng(seed)
    energy = 2.0 ** rng.integers(10, 16, size=(n, 1))
    frac = rng.dirichlet(np.full(368, 0.3), size=n)
    with h5py.File(path, "w") as f:
        f["incident_energies"] = energy.astype(np.float64)
        f["showers"] = (frac * energy).astype(np.float32)
    return path


@pytest.mark.filterwarnings("ignore::caloforge.evaluation.metrics.SmallSampleWarning")
@pytest.mark.slow  # train, generate and evaluate from the CLI
def test_plain_file_train_generate_evaluate_with_geometry_only(tmp_path: Path) -> None:
    plain = _plain_file(tmp_path / "plain.h5")
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CONFIG)
    model = tmp_path / "model"
    geo = ["--geometry", GEOMETRY]
    train = ["train", "--data", str(plain), "--family", "gan-ecritic", "--config", str(cfg)]
    result = runner.invoke(app, [*train, *geo, "--steps", "5", "--out", str(model), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["steps"] == 5

    gen = tmp_path / "gen.h5"
    args = ["generate", "--model", str(model), "--out", str(gen), "--seed", "1"]
    result = runner.invoke(app, [*args, "--like", str(plain), *geo])
    assert result.exit_code == 0, result.output
    with h5py.File(gen) as f, h5py.File(plain) as p:
        assert f["showers"].shape == (200, 368)
        assert np.array_equal(f["incident_energies"][:, 0], p["incident_energies"][:, 0])

    out = tmp_path / "eval"
    ev = ["evaluate", "-r", str(plain), "-c", str(gen), "-o", str(out), "--no-classifier",
          "--max-histograms", "2"]  # fmt: skip
    result = runner.invoke(app, [*ev, *geo])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reference"]["geometry"] == GEOMETRY


def test_without_geometry_the_plain_file_is_refused_with_the_option_named(tmp_path: Path) -> None:
    plain = _plain_file(tmp_path / "plain.h5", n=20)
    result = runner.invoke(
        app, ["evaluate", "-r", str(plain), "-c", str(plain), "-o", str(tmp_path / "e")]
    )
    assert result.exit_code == 2
    assert "--geometry" in result.output


def test_file_and_geometry_that_disagree_are_a_clear_error(tmp_path: Path) -> None:
    plain = _plain_file(tmp_path / "plain.h5", n=20)
    ev = ["evaluate", "-r", str(plain), "-c", str(plain), "-o", str(tmp_path / "e")]
    result = runner.invoke(app, [*ev, "--geometry", "calochallenge-2"])
    assert result.exit_code == 2
    assert "key 'showers' has shape (20, 368); expected (20, 6480)" in result.output
    result = runner.invoke(app, ["info", str(plain), "--geometry", "calochallenge-1-pions"])
    assert result.exit_code == 2
    assert "expected (20, 533)" in result.output
