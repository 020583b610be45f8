"""Bad input: corrupt or incomplete artifacts, mismatched data and configuration files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from caloforge.geometry import get_geometry
from caloforge.io import write_showers
from caloforge.models import load_model
from caloforge.showerset import ShowerSet
from caloforge.training import load_run_config, train
from synthetic import synthetic_showers


def _edit_json(model_dir: Path, edit) -> None:  # type: ignore[no-untyped-def]
    path = model_dir / "model.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def test_missing_folder_and_files(tmp_path: Path, wgan_model_copy: Path) -> None:
    with pytest.raises(ValueError, match="not a model folder"):
        load_model(tmp_path / "nowhere")
    (wgan_model_copy / "weights.safetensors").unlink()
    with pytest.raises(ValueError, match=r"weights\.safetensors: no such file"):
        load_model(wgan_model_copy)
    (wgan_model_copy / "model.json").unlink()
    with pytest.raises(ValueError, match=r"model\.json: no such file"):
        load_model(wgan_model_copy)


@pytest.mark.parametrize("key", ["family", "hyperparameters", "geometry", "conditions", "seed"])
def test_missing_model_json_key(wgan_model_copy: Path, key: str) -> None:
    _edit_json(wgan_model_copy, lambda d: d.pop(key))
    with pytest.raises(ValueError, match=rf"model\.json: missing key\(s\) '{key}'"):
        load_model(wgan_model_copy)


def test_wrong_values_in_model_json(wgan_model_copy: Path) -> None:
    _edit_json(wgan_model_copy, lambda d: d["hyperparameters"].update(n_critic="five"))
    with pytest.raises(ValueError, match=r"key 'hyperparameters'.*'n_critic'.*integer"):
        load_model(wgan_model_copy)
    _edit_json(wgan_model_copy, lambda d: d["hyperparameters"].update(n_critic=5, colour="red"))
    with pytest.raises(ValueError, match=r"unknown key\(s\) 'colour'"):
        load_model(wgan_model_copy)
    _edit_json(
        wgan_model_copy, lambda d: (d["hyperparameters"].pop("colour"), d.update(family="gpt"))
    )
    with pytest.raises(ValueError, match="unknown model family 'gpt'"):
        load_model(wgan_model_copy)
    (wgan_model_copy / "model.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_model(wgan_model_copy)


def test_wrong_tensor_shapes_and_keys(wgan_model_copy: Path) -> None:
    # an artifact without the weights' digest (older caloforge): the tensors themselves are
    # checked (with the digest, any edit is refused first: test_reliability_models)
    doc = json.loads((wgan_model_copy / "model.json").read_text())
    del doc["weights_sha256"]
    (wgan_model_copy / "model.json").write_text(json.dumps(doc))
    path = wgan_model_copy / "weights.safetensors"
    tensors = load_file(str(path))
    key = next(k for k in tensors if k.endswith("weight"))
    save_file(tensors | {key: torch.zeros(3, 3)}, str(path))
    with pytest.raises(
        ValueError, match=rf"weights\.safetensors: tensor '{key}' has shape \(3, 3\)"
    ):
        load_model(wgan_model_copy)
    del tensors[key]
    save_file(tensors, str(path))
    with pytest.raises(ValueError, match=rf"missing \['{key}'\]"):
        load_model(wgan_model_copy)
    path.write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_model(wgan_model_copy)


def test_geometry_mismatch_between_data_and_config(tmp_path: Path) -> None:
    g = get_geometry("calogan")
    rng = np.random.default_rng(0)
    data = ShowerSet(np.full(40, 1e4), rng.random((40, g.n_cells)).astype(np.float32), g)
    path = write_showers(tmp_path / "calogan.h5", data)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('[train]\ngeometry = "atlas-em-barrel"\nsteps = 1\n')
    with pytest.raises(
        ValueError,
        match=r"calogan\.h5: the file's geometry 'calogan' \(504 cells\) differs.*'atlas-em-barrel' \(266 cells\)",
    ):
        train(path, "wgan-gp", cfg, tmp_path / "out")


def test_missing_config_condition(tmp_path: Path) -> None:
    s = synthetic_showers(50, 0)
    path = write_showers(tmp_path / "noconf.h5", ShowerSet(s.incident_energy, s.cells, s.geometry))
    with pytest.raises(ValueError, match=r"noconf\.h5: key 'config' missing"):
        train(path, "vae", None, tmp_path / "out", steps=1, progress=False)


def test_config_file_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[train]\nstep = 10\n")
    with pytest.raises(ValueError, match=r"cfg\.toml \[train\]: unknown key\(s\) 'step'"):
        load_run_config(cfg, "wgan-gp")
    cfg.write_text("[model]\nlatent_dim = 4\n")
    with pytest.raises(ValueError, match=r"\[model\]: unknown key\(s\) 'latent_dim'"):
        load_run_config(cfg, "wgan-gp")
    cfg.write_text('family = "vae"\n')
    with pytest.raises(ValueError, match="'family' is 'vae' but family 'wgan-gp'"):
        load_run_config(cfg, "wgan-gp")
    cfg.write_text("[train]\nbatch_size = 0\n")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        load_run_config(cfg, "wgan-gp")
    cfg.write_text("[train\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_run_config(cfg, "wgan-gp")


def test_resume_without_checkpoint_or_with_other_config(tmp_path: Path) -> None:
    data = synthetic_showers(200, 0)
    kw = {"steps": 1, "progress": False, "threads": 1}
    with pytest.raises(ValueError, match="no checkpoint to resume from"):
        train(data, "vae", None, tmp_path / "out", resume=True, **kw)
    train(data, "vae", None, tmp_path / "out", **kw)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[model]\nlatent_dim = 4\n")
    with pytest.raises(ValueError, match="another configuration"):
        train(data, "vae", cfg, tmp_path / "out", resume=True, **kw)


def test_check_counts_names_the_first_count_below_one() -> None:
    from caloforge.models.hparams import check_counts

    check_counts(steps=1, layers=7)
    with pytest.raises(ValueError, match=r"^layers must be >= 1, got 0$"):
        check_counts(steps=3, layers=0, depth=-1)
