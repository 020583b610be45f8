"""`generate --backend torch|onnxruntime`: same showers for the same noise; batch-local seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.export import export_onnx
from caloforge.generation import generate
from caloforge.geometry import get_geometry
from caloforge.io import read_showers
from caloforge.models import FAMILIES, ConditionEncoding, Preprocessing, save_model


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    g = get_geometry("atlas-em-barrel")
    fam = FAMILIES["wgan-gp"]
    torch.manual_seed(0)
    gen = fam.build_generator(g, ConditionEncoding(1e4, 1e5, 8), Preprocessing(), fam.Config())
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return save_model(
        tmp_path / "m", gen, family="wgan-gp", hparams=fam.Config(), particle="photon", seed=0
    )


def test_torch_and_onnxruntime_backends_agree(model_dir: Path, tmp_path: Path) -> None:
    kw = {"n": 30, "energies": [2e4, 5e4], "seed": 4, "batch_size": 25}
    a = generate(model_dir, tmp_path / "t.h5", backend="torch", **kw)
    onnx = export_onnx(model_dir, tmp_path / "m.onnx").path
    b = generate(
        model_dir, tmp_path / "o.h5", backend="onnxruntime", onnx_path=onnx, threads=1, **kw
    )
    c = generate(model_dir, tmp_path / "o2.h5", backend="onnxruntime", **kw)  # exported on the fly
    ta, tb, tc = (read_showers(p) for p in (a, b, c))
    assert len(ta) == 60
    assert np.array_equal(ta.config, tb.config)
    scale = np.abs(ta.cells).max()
    assert np.abs(ta.cells - tb.cells).max() <= 1e-5 * scale
    assert np.array_equal(tb.cells, tc.cells)
    assert tb.attrs["backend"] == "onnxruntime"


def test_batches_can_be_generated_separately(model_dir: Path, tmp_path: Path) -> None:
    kw = {"n": 50, "energies": [3e4], "seed": 9, "batch_size": 20, "config": 2}
    whole = read_showers(generate(model_dir, tmp_path / "w.h5", **kw))
    parts = [
        read_showers(generate(model_dir, tmp_path / f"p{k}.h5", chunks=r, **kw))
        for k, r in enumerate((range(0, 1), range(1, 3)))
    ]
    assert [len(p) for p in parts] == [20, 30]
    assert np.array_equal(np.concatenate([p.cells for p in parts]), whole.cells)


def test_bad_backend_and_cli(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown backend 'tensorflow'"):
        generate(model_dir, tmp_path / "x.h5", n=1, energies=[3e4], backend="tensorflow")
    res = CliRunner().invoke(
        app,
        [
            "generate",
            "--model",
            str(model_dir),
            "--out",
            str(tmp_path / "c.h5"),
            "--seed",
            "1",
            "--n",
            "10",
            "--energy",
            "30GeV",
            "--backend",
            "onnxruntime",
            "--threads",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    assert len(read_showers(tmp_path / "c.h5")) == 10
