"""Every user error of the commands: one ``error: ...`` line, rc 2, before any work; existing
outputs refused unless --overwrite (issue 18, points 2, 8 and 10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.geometry import get_geometry
from caloforge.io import read_showers, write_showers
from caloforge.models import FAMILIES, ConditionEncoding, Preprocessing, save_model
from caloforge.showerset import ShowerSet


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


def _one_error(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    assert "Traceback" not in output
    return lines[0]


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    g = get_geometry("calogan")
    fam = FAMILIES["wgan-gp"]
    torch.manual_seed(0)
    cfg = fam.Config(noise_dim=8, generator_hidden=(16,), critic_hidden=(16,))
    gen = fam.build_generator(g, ConditionEncoding(1e4, 1e5, 1), Preprocessing(), cfg)
    return save_model(tmp_path / "m", gen, family="wgan-gp", hparams=cfg, particle="photon", seed=0)


def _simulate(out: Path, *extra: str) -> tuple[int, str]:
    return _run(
        "simulate", "-g", "calogan", "--engine", "gflash", "--energy", "10GeV", "--n", "3",
        "--no-progress", "--out", str(out), *extra,
    )  # fmt: skip


def test_simulate_refuses_an_existing_file_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "notes.h5"
    out.write_text("precious")
    rc, output = _simulate(out)
    assert rc == 2
    assert "already exists; pass --overwrite" in _one_error(output)
    assert out.read_text() == "precious"
    rc, output = _simulate(out, "--overwrite")
    assert rc == 0, output
    assert len(read_showers(out)) == 3


def test_simulate_dask_fan_out_refuses_before_any_part(tmp_path: Path) -> None:
    out = tmp_path / "x.h5"
    out.write_text("precious")
    rc, output = _simulate(out, "--cluster", "local:1")
    assert rc == 2
    assert "already exists" in _one_error(output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.h5"]  # no part folder made


def test_generate_errors(model_dir: Path, tmp_path: Path) -> None:
    base = ["generate", "--model", str(model_dir), "--seed", "1", "--energy", "30GeV"]
    folder = tmp_path / "folder"
    folder.mkdir()
    rc, output = _run(*base, "--n", "2", "--out", str(folder))
    assert rc == 2
    assert "is a folder, not a file" in _one_error(output)
    rc, output = _run(*base, "--n", "0", "--out", str(tmp_path / "a.h5"))
    assert rc == 2
    assert "--n must be >= 1" in _one_error(output)
    assert not (tmp_path / "a.h5").exists()
    rc, output = _run(*base, "--n", "2", "--device", "tpu", "--out", str(tmp_path / "a.h5"))
    assert rc == 2
    assert "--device: expected cpu, cuda or cuda:N, got 'tpu'" in _one_error(output)
    out = tmp_path / "b.h5"
    assert _run(*base, "--n", "2", "--out", str(out))[0] == 0
    rc, output = _run(*base, "--n", "2", "--out", str(out))
    assert rc == 2
    assert "already exists" in _one_error(output)
    assert _run(*base, "--n", "2", "--out", str(out), "--overwrite")[0] == 0


def test_seed_errors_name_the_option(model_dir: Path, tmp_path: Path) -> None:
    rc, output = _simulate(tmp_path / "s.h5", "--seed", "-1")
    assert rc == 2
    assert "'--seed'" in output
    rc, output = _run(
        "generate", "--model", str(model_dir), "--seed", "-1", "--n", "1", "--energy", "30GeV",
        "--out", str(tmp_path / "g.h5"),
    )  # fmt: skip
    assert rc == 2
    assert "'--seed'" in output


def test_generate_like_another_particle_or_geometry_warns(model_dir: Path, tmp_path: Path) -> None:
    g = get_geometry("calogan")
    ref = ShowerSet(np.full(4, 3e4), np.ones((4, g.n_cells), np.float32), g, "electron")
    write_showers(tmp_path / "ref.h5", ref)
    rc, output = _run(
        "generate", "--model", str(model_dir), "--seed", "1", "--like", str(tmp_path / "ref.h5"),
        "--out", str(tmp_path / "g.h5"),
    )  # fmt: skip
    assert rc == 0, output
    assert "warning: --like" in output
    assert "particle 'electron' is not the model's 'photon'" in output
    atlas = get_geometry("atlas-em-barrel")
    other = ShowerSet(np.full(2, 3e4), np.ones((2, atlas.n_cells), np.float32), atlas, "photon")
    other.conditions["config"] = np.zeros(2, dtype=np.int64)
    write_showers(tmp_path / "atlas.h5", other)
    rc, output = _run(
        "generate", "--model", str(model_dir), "--seed", "1", "--like", str(tmp_path / "atlas.h5"),
        "--out", str(tmp_path / "h.h5"),
    )  # fmt: skip
    assert rc == 0, output
    assert "geometry 'atlas-em-barrel' (266 cells) is not the model's 'calogan'" in output


def test_export_errors(model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "folder.onnx"
    folder.mkdir()
    rc, output = _run("export", "--model", str(model_dir), "--out", str(folder))
    assert rc == 2
    assert "is a folder, not a file" in _one_error(output)
    out = tmp_path / "m.onnx"
    sidecar = tmp_path / "m.onnx.json"
    sidecar.write_text("{}")
    rc, output = _run("export", "--model", str(model_dir), "--out", str(out), "--no-check")
    assert rc == 2
    assert "m.onnx.json: already exists" in _one_error(output)
    assert not out.exists()
    rc, output = _run(
        "export", "--model", str(model_dir), "--out", str(out), "--no-check", "--overwrite"
    )
    assert rc == 0, output
    assert out.is_file()
    assert sidecar.read_text() != "{}"


def test_train_errors(tmp_path: Path) -> None:
    g = get_geometry("calogan")
    data = tmp_path / "d.h5"
    write_showers(data, ShowerSet(np.full(8, 3e4), np.ones((8, g.n_cells), np.float32), g))
    base = ["train", "--data", str(data), "--family", "wgan-gp", "--steps", "1", "--no-progress"]
    not_a_folder = tmp_path / "model"
    not_a_folder.write_text("x")
    rc, output = _run(*base, "--out", str(not_a_folder))
    assert rc == 2
    assert "is a regular file, not a folder" in _one_error(output)
    existing = tmp_path / "other-model"
    existing.mkdir()
    (existing / "model.json").write_text("{}")
    rc, output = _run(*base, "--out", str(existing))
    assert rc == 2
    assert "already exists; pass --overwrite" in _one_error(output)
    assert (existing / "model.json").read_text() == "{}"
    rc, output = _run(*base, "--out", str(tmp_path / "m"), "--device", "tpu")
    assert rc == 2
    assert "--device: expected cpu, cuda or cuda:N, got 'tpu'" in _one_error(output)
    assert not (tmp_path / "m").exists()


def test_evaluate_errors(tmp_path: Path) -> None:
    g = get_geometry("calogan")
    ref = tmp_path / "r.h5"
    write_showers(ref, ShowerSet(np.full(8, 3e4), np.ones((8, g.n_cells), np.float32), g))
    out = tmp_path / "report"
    out.write_text("not a folder")
    rc, output = _run("evaluate", "-r", str(ref), "-c", str(ref), "--out", str(out))
    assert rc == 2
    assert "is a regular file, not a folder" in _one_error(output)
    assert out.read_text() == "not a folder"
    done = tmp_path / "done"
    done.mkdir()
    rc, output = _run("evaluate", "-r", str(ref), "-c", str(ref), "--out", str(done))
    assert rc == 2
    assert "already exists; pass --overwrite" in _one_error(output)
