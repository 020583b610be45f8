"""Training and model files (issue 18): resume checks the data's fingerprint (point 4), weights
are checked against model.json's digest and for NaN, hyper-parameters are bounded before
anything is allocated, NaN outputs are refused (point 7); log.csv line endings, file modes and
geometry differences (point 10)."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from caloforge.generation import generate
from caloforge.geometry import Geometry, get_geometry
from caloforge.io import write_showers
from caloforge.models import ConditionEncoding, Preprocessing, get_family, load_model, save_model
from caloforge.models.artifact import MAX_PARAMETERS, file_sha256
from caloforge.models.hparams import MAX_WIDTH
from caloforge.models.wgan_gp import WGANGPConfig
from caloforge.showerset import ShowerSet
from caloforge.training import RunConfig, train
from caloforge.training.checkpoint import data_fingerprint
from synthetic import synthetic_showers

HP = WGANGPConfig(noise_dim=4, generator_hidden=(8,), critic_hidden=(8,))
KW = {"steps": 2, "progress": False, "threads": 1}


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    g = get_geometry("calogan")
    torch.manual_seed(0)
    gen = get_family("wgan-gp").build_generator(
        g, ConditionEncoding(1e4, 1e5, 1), Preprocessing(), HP
    )
    return save_model(tmp_path / "m", gen, family="wgan-gp", hparams=HP, particle="photon", seed=0)


# ---- point 4: resume with other data --------------------------------------------------------
def test_resume_refuses_other_data_of_the_same_size(tmp_path: Path) -> None:
    a = synthetic_showers(200, 0)
    b = synthetic_showers(200, 1)
    write_showers(tmp_path / "a.h5", a)
    write_showers(tmp_path / "b.h5", b)
    train(tmp_path / "a.h5", "vae", None, tmp_path / "out", **KW)
    with pytest.raises(ValueError, match=r"trained on other data: .*a\.h5.*resuming with .*b\.h5"):
        train(tmp_path / "b.h5", "vae", None, tmp_path / "out", resume=True, **KW)
    # the same rows under another name are other data too (the record would name the wrong file)
    (tmp_path / "a.h5").rename(tmp_path / "renamed.h5")
    with pytest.raises(ValueError, match="trained on other data"):
        train(tmp_path / "renamed.h5", "vae", None, tmp_path / "out", resume=True, **KW)
    (tmp_path / "renamed.h5").rename(tmp_path / "a.h5")
    res = train(tmp_path / "a.h5", "vae", None, tmp_path / "out", resume=True, **KW | {"steps": 3})
    assert res[0].steps == 3


def test_data_fingerprint_sees_one_changed_sampled_row() -> None:
    s = synthetic_showers(50, 0)
    fp = data_fingerprint(s.incident_energy, s.cells, s.config, "f.h5")
    cells = s.cells.copy()
    cells[49, 0] += 1.0  # the last row is always sampled
    assert data_fingerprint(s.incident_energy, cells, s.config, "f.h5") != fp
    assert data_fingerprint(s.incident_energy, s.cells, s.config, "f.h5") == fp
    assert fp["shape"] == [50, s.geometry.n_cells]


# ---- point 7: weights digest, NaN weights, bounded hyper-parameters, NaN outputs ------------
def test_model_json_records_the_weights_digest(model_dir: Path) -> None:
    doc = json.loads((model_dir / "model.json").read_text())
    assert doc["weights_sha256"] == file_sha256(model_dir / "weights.safetensors")


def test_flipped_byte_in_the_weights_is_refused(model_dir: Path) -> None:
    w = model_dir / "weights.safetensors"
    data = bytearray(w.read_bytes())
    data[-3] ^= 0x10  # inside the last tensor's data: still a valid safetensors file
    w.write_bytes(bytes(data))
    load_file(str(w))  # readable: only the digest tells
    with pytest.raises(ValueError, match="SHA-256 differs from key 'weights_sha256'"):
        load_model(model_dir)


def test_nan_weights_are_refused_even_without_a_digest(model_dir: Path) -> None:
    w = model_dir / "weights.safetensors"
    tensors = load_file(str(w))
    key = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[key][0] = float("nan")
    save_file(tensors, str(w))
    doc = json.loads((model_dir / "model.json").read_text())
    del doc["weights_sha256"]  # an artifact written before the digest existed
    (model_dir / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=f"tensor '{key}' holds NaN or inf"):
        load_model(model_dir)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("noise_dim", 10**9, f"noise_dim: sizes must be between 1 and {MAX_WIDTH}"),
        ("generator_hidden", [8] * 65, "generator_hidden: at most 64 layers"),
        ("generator_hidden", [0], "generator_hidden: sizes must be between 1"),
        ("generator_hidden", [16384, 16384, 16384], "more than the"),
    ],
)
def test_hyper_parameters_bounded_before_allocation(
    model_dir: Path, key: str, value: object, message: str
) -> None:
    doc = json.loads((model_dir / "model.json").read_text())
    doc["hyperparameters"][key] = value
    (model_dir / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=message):
        load_model(model_dir)
    assert MAX_PARAMETERS < 3 * 16384 * 16384  # the last case is over the parameter bound


def test_vae_latent_dim_bounded() -> None:
    with pytest.raises(ValueError, match="latent_dim: sizes must be between 1 and 16384"):
        get_family("vae").Config(latent_dim=10**9)


def test_nan_outputs_are_an_error_not_a_file(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import caloforge.generation.run as run

    real = run.sample

    def one_nan(*args: object) -> np.ndarray:
        cells = np.array(real(*args))
        cells[1, 3] = np.nan
        return cells

    monkeypatch.setattr(run, "sample", one_nan)
    with pytest.raises(ValueError, match="produced NaN or inf cells in 1 of 4 showers"):
        generate(model_dir, tmp_path / "g.h5", n=4, energies=[3e4], seed=0)
    assert not (tmp_path / "g.h5").exists()


# ---- point 10 ---------------------------------------------------------------------------------
def test_resumed_log_has_one_line_ending_and_files_are_0644(tmp_path: Path) -> None:
    data = synthetic_showers(200, 0)
    old = os.umask(0o022)
    try:
        train(data, "vae", None, tmp_path / "out", **KW)
        train(data, "vae", None, tmp_path / "out", resume=True, **KW | {"steps": 4})
    finally:
        os.umask(old)
    raw = (tmp_path / "out" / "log.csv").read_bytes()
    assert b"\r" not in raw
    assert raw.count(b"\n") > 4
    for name in ("weights.safetensors", "model.json", "checkpoints/last.safetensors"):
        mode = stat.S_IMODE((tmp_path / "out" / name).stat().st_mode)
        assert mode == 0o644, (name, oct(mode))


def test_edited_geometry_with_the_same_cell_count_names_the_difference(tmp_path: Path) -> None:
    geo = get_geometry("calogan")
    doc = geo.to_dict()
    doc["layers"][1]["segmentation"]["pitch_x_mm"] = 41.0  # the same cells, another pitch
    edited = Geometry.from_dict(doc)
    assert edited.n_cells == geo.n_cells
    rng = np.random.default_rng(0)
    s = ShowerSet(np.full(10, 3e4), rng.random((10, geo.n_cells)).astype(np.float32), edited)
    run = RunConfig(family="vae")
    run = dataclasses.replace(run, train=dataclasses.replace(run.train, geometry="calogan"))
    with pytest.raises(
        ValueError,
        match=r"layer 1 \('layer1'\): CartesianGrid\(.*pitch_x_mm=41\.0.*here, .*pitch_x_mm=40\.0.*\(here: the data\)",
    ):
        train(s, None, run, tmp_path / "m", steps=1, progress=False)


def test_evaluate_names_what_differs_in_an_edited_geometry(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from caloforge.cli import app

    geo = get_geometry("calogan")
    doc = geo.to_dict()
    doc["layers"][1]["segmentation"]["pitch_x_mm"] = 41.0
    edited = Geometry.from_dict(doc)
    cells = np.random.default_rng(0).random((10, geo.n_cells)).astype(np.float32)
    write_showers(tmp_path / "ref.h5", ShowerSet(np.full(10, 3e4), cells, geo))
    write_showers(tmp_path / "cand.h5", ShowerSet(np.full(10, 3e4), cells, edited))
    args = ["evaluate", "-r", str(tmp_path / "ref.h5"), "-c", str(tmp_path / "cand.h5")]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "report"), "--no-classifier"])
    assert res.exit_code == 2
    message = " ".join(res.output.split())
    assert "layer 1 ('layer1'): CartesianGrid(" in message
    assert "pitch_x_mm=41.0" in message
    assert "(here: the candidate)" in message
