"""End to end: train on a few hundred synthetic showers, generate, compare (CLI and API)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from caloforge.generation import generate
from caloforge.io import read_showers, write_showers
from caloforge.models import load_model
from caloforge.training import ensemble_spread, train
from synthetic import synthetic_showers

CONFIG = """
[train]
batch_size = 32
validate_every = 10
checkpoint_every = 10
threads = 1
progress = false

[model]
noise_dim = 16
generator_hidden = [64, 64]
critic_hidden = [64, 64]
n_critic = 2
"""


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def data_file(shower_file: Callable[..., Path]) -> Path:
    return shower_file(synthetic_showers, 400, 11)


@pytest.mark.slow  # training end to end
def test_cli_train_generate(tmp_path: Path, data_file: Path, cli: Callable) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "model"
    args = ["train", "--data", str(data_file), "--family", "gan-ecritic", "--config", str(cfg)]
    result = cli([*args, "--steps", "20", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary[0]["steps"] == 20
    # the artifact describes itself
    doc = json.loads((out / "model.json").read_text())
    assert doc["family"] == "gan-ecritic"
    assert doc["conditions"]["energy_min_mev"] == 20_000.0
    assert doc["provenance"]["data_file"] == str(data_file)
    assert doc["provenance"]["steps"] == 20
    assert (out / "best" / "model.json").is_file()
    assert "n_critic = 2" in (out / "train_config.toml").read_text()
    log = (out / "log.csv").read_text().splitlines()
    assert log[0] == "step,name,value"
    assert any(",val_sep_etot_over_einc," in row for row in log)

    gen_file = tmp_path / "gen.h5"
    gen_args = ["generate", "--model", str(out), "--seed", "3", "--out", str(gen_file)]
    result = cli([*gen_args, "--n", "50", "--energies", "20GeV,50GeV"])
    assert result.exit_code == 0, result.output
    g = read_showers(gen_file)
    assert len(g) == 100
    assert np.array_equal(np.unique(g.incident_energy), [20_000.0, 50_000.0])
    assert set(np.unique(g.config)) == set(range(8))  # drawn uniformly: all 8 in 100 showers
    # the likelihood head's E_tot/E_inc is fitted to the data's (0.9, 10%/sqrt(E/GeV) wide)
    ratio = g.total_energy / g.incident_energy
    for energy in (20_000.0, 50_000.0):
        assert abs(ratio[g.incident_energy == energy].mean() - 0.9) < 0.05
    # same seed, same file content
    result = cli(
        [*gen_args[:-1], str(tmp_path / "again.h5"), "--n", "50", "--energies", "20GeV,50GeV"]
    )
    assert np.array_equal(read_showers(tmp_path / "again.h5").cells, g.cells)

    # a bare number is refused with the accepted units
    result = cli([*gen_args, "--n", "5", "--energy", "50", "--overwrite"])
    assert result.exit_code == 2
    assert "GeV" in result.output
    # outside the trained range: a warning, and the count in the file's attrs
    result = cli([*gen_args, "--n", "5", "--energy", "200GeV", "--config", "3", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert "outside the trained range" in result.output
    with h5py.File(gen_file) as f:
        attrs = json.loads(f.attrs["caloforge_attrs"])
    assert attrs["n_outside_trained_range"] == 5
    assert np.all(read_showers(gen_file).config == 3)


@pytest.mark.slow  # training end to end
def test_api_train_ensemble_and_generate_like(tmp_path: Path, data_file: Path) -> None:
    ref = write_showers(tmp_path / "ref.h5", synthetic_showers(300, 12))
    results = train(
        data_file, "wgan-gp", None, tmp_path / "ens", seeds=2, steps=15, threads=1, progress=False
    )
    assert [r.seed for r in results] == [0, 1]
    spread = ensemble_spread(tmp_path / "ens", "sep_etot_over_einc")
    per_seed = [
        load_model(tmp_path / "ens" / f"seed_{s}").metrics["final"]["sep_etot_over_einc"]
        for s in (0, 1)
    ]
    assert spread["n"] == 2
    assert spread["per_seed"] == {0: per_seed[0], 1: per_seed[1]}
    assert spread["mean"] == pytest.approx(np.mean(per_seed))
    assert spread["std"] == pytest.approx(np.std(per_seed, ddof=1))
    model = tmp_path / "ens" / "seed_0"
    out = generate(model, tmp_path / "like.h5", like=ref, seed=1, batch_size=64)
    gen, reference = read_showers(out), read_showers(ref)
    assert np.array_equal(gen.incident_energy, reference.incident_energy)
    assert np.array_equal(gen.config, reference.config)
    with h5py.File(out) as f:
        assert json.loads(f.attrs["caloforge_attrs"])["family"] == "wgan-gp"
    assert load_model(model).metrics["final"]["step"] == 15


def test_train_divergence_exit_code(tmp_path: Path, data_file: Path, cli: Callable) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(
        "[train]\nmax_abs_loss = 1e-12\nthreads = 1\nbatch_size = 32\n\n[model]\nn_critic = 1\n"
    )
    args = ["train", "--data", str(data_file), "--family", "wgan-gp", "--config", str(cfg)]
    result = cli([*args, "--steps", "3", "--out", str(tmp_path / "m"), "--no-progress"])
    assert result.exit_code == 3
    assert "training diverged at step 1" in result.output
