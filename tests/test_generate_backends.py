"""`generate --backend torch|onnxruntime`: same showers for the same noise; batch-local seeds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from caloforge.export import export_onnx
from caloforge.fanout import LocalExecutor
from caloforge.generation import generate
from caloforge.io import read_showers
from caloforge.models import load_model


def test_torch_and_onnxruntime_backends_agree(wgan_model: Path, tmp_path: Path) -> None:
    kw: dict[str, Any] = {"n": 30, "energies": [2e4, 5e4], "seed": 4, "batch_size": 25}
    a = generate(wgan_model, tmp_path / "t.h5", backend="torch", **kw)
    onnx = export_onnx(wgan_model, tmp_path / "m.onnx").path
    b = generate(
        wgan_model, tmp_path / "o.h5", backend="onnxruntime", onnx_path=onnx, threads=1, **kw
    )
    c = generate(wgan_model, tmp_path / "o2.h5", backend="onnxruntime", **kw)  # exported on the fly
    ta, tb, tc = (read_showers(p) for p in (a, b, c))
    assert len(ta) == 60
    assert ta.config is not None
    assert tb.config is not None
    assert np.array_equal(ta.config, tb.config)
    scale = np.abs(ta.cells).max()
    assert np.abs(ta.cells - tb.cells).max() <= 1e-5 * scale
    assert np.array_equal(tb.cells, tc.cells)
    assert tb.attrs["backend"] == "onnxruntime"


def test_any_row_range_gives_the_same_rows_as_the_whole_job(
    wgan_model: Path, tmp_path: Path
) -> None:
    kw: dict[str, Any] = {"n": 50, "energies": [3e4], "seed": 9, "batch_size": 20, "config": 2}
    whole = read_showers(generate(wgan_model, tmp_path / "w.h5", **kw))
    # ranges cutting through batches (batch 0 = rows 0..19, batch 1 = 20..39)
    cuts = ((0, 7), (7, 33), (33, 50))
    parts = [
        read_showers(generate(wgan_model, tmp_path / f"p{k}.h5", rows=r, **kw))
        for k, r in enumerate(cuts)
    ]
    assert [len(p) for p in parts] == [7, 26, 17]
    assert parts[1].attrs["rows"] == [7, 33]
    assert np.array_equal(np.concatenate([p.cells for p in parts]), whole.cells)
    with pytest.raises(ValueError, match="rows must satisfy"):
        generate(wgan_model, tmp_path / "bad.h5", rows=(40, 51), **kw)


def test_local_executor_fans_out_into_the_same_file(wgan_model: Path, tmp_path: Path) -> None:
    kw: dict[str, Any] = {
        "n": 23,
        "energies": [2e4, 5e4],
        "seed": 3,
        "batch_size": 10,
        "threads": 1,
    }
    whole = read_showers(generate(wgan_model, tmp_path / "w.h5", **kw))
    out = tmp_path / "f.h5"
    generate(wgan_model, out, executor=LocalExecutor(), part_size=15, **kw)  # 2 batches a part
    fanned = read_showers(out)
    assert np.array_equal(fanned.cells, whole.cells)
    assert fanned.config is not None
    assert whole.config is not None
    assert np.array_equal(fanned.config, whole.config)
    assert fanned.attrs["local"] == {"parts": 3, "part_size": 20, "workers": 1}
    assert "rows" not in fanned.attrs
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".f.h5")] == []


def test_onnxruntime_backend_imports_no_torch(wgan_model: Path, tmp_path: Path) -> None:
    onnx = export_onnx(wgan_model, tmp_path / "m.onnx").path
    rng = np.random.default_rng(0)
    energy, config = rng.uniform(1e4, 1e5, 9), rng.integers(0, 8, 9)
    np.savez(tmp_path / "in.npz", energy=energy, config=config)
    script = tmp_path / "ort_only.py"
    script.write_text(
        "import sys\n"
        "import numpy as np\n"
        "from caloforge.generation import OnnxBackend, sample\n"
        "b = OnnxBackend(sys.argv[1], threads=1)\n"
        "z = np.load(sys.argv[2])\n"
        "noise = np.random.default_rng(0).standard_normal((9, b.noise_dim)).astype(np.float32)\n"
        "np.save(sys.argv[3], sample(b, z['energy'], z['config'], noise))\n"
        "np.save(sys.argv[4], noise)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = os.environ | {"PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    paths = [tmp_path / "in.npz", tmp_path / "out.npy", tmp_path / "noise.npy"]
    done = subprocess.run(
        [sys.executable, str(script), str(onnx), *map(str, paths)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    art = load_model(wgan_model)
    ref = art.generator.sample(energy, config, noise=torch.from_numpy(np.load(paths[2])))
    out = np.load(paths[1])
    assert out.shape == (9, art.geometry.n_cells)
    assert np.abs(out - ref.numpy()).max() <= 1e-5 * np.abs(ref.numpy()).max()


def test_bad_backend_and_cli(wgan_model: Path, tmp_path: Path, cli: Callable) -> None:
    with pytest.raises(ValueError, match="unknown backend 'tensorflow'"):
        generate(wgan_model, tmp_path / "x.h5", n=1, energies=[3e4], backend="tensorflow")
    res = cli(
        [
            "generate",
            "--model",
            str(wgan_model),
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
