"""Issue 18: simulate's batches do not grow with N (point 3); ONNX external data refused as a user
error (point 8); missing optional extras are one-line user errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.geometry import get_geometry
from caloforge.models import FAMILIES, ConditionEncoding, Preprocessing, save_model
from caloforge.simulation.batching import BATCH_BYTES, Batches, default_batch_size
from caloforge.simulation.gun import ParticleGun

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_default_batch_size_depends_on_the_geometry_only() -> None:
    cc2 = get_geometry("calochallenge-2")
    assert default_batch_size(cc2) == BATCH_BYTES // (8 * 6480) == 323
    assert default_batch_size(get_geometry("calochallenge-3")) == 51  # 40500 cells


@pytest.mark.parametrize("n", [700, 2000])
def test_batches_have_the_same_size_for_any_n(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    geo = get_geometry("calochallenge-2")
    sizes: list[int] = []

    def engine(geometry: object, part: object, **kwargs: object) -> object:
        sizes.append(len(part.energy_mev))  # type: ignore[attr-defined]
        from caloforge.simulation.engine import EngineOutput

        m = len(part.energy_mev)  # type: ignore[attr-defined]
        zeros = np.zeros(m)
        return EngineOutput(
            cells=np.zeros((m, geo.n_cells), np.float32),
            active_mev=zeros,
            passive_mev=zeros,
            escaped_mev=zeros,
            below_cut_mev=zeros,
        )

    import caloforge.simulation.batching as batching

    monkeypatch.setattr(batching, "get_engine", lambda name: engine)
    gun = ParticleGun("photon", energies_mev=(1e4,))
    for _ in Batches(geo, gun, n, 0, n, 0, "gflash", workers=1):
        pass
    size = default_batch_size(geo)
    assert size == 323
    assert sizes[:-1] == [size] * (len(sizes) - 1)
    assert sum(sizes) == n


def test_onnx_external_data_is_a_one_line_user_error(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    g = get_geometry("calogan")
    fam = FAMILIES["wgan-gp"]
    cfg = fam.Config(noise_dim=8, generator_hidden=(16,), critic_hidden=(16,))
    torch.manual_seed(0)
    gen = fam.build_generator(g, ConditionEncoding(1e4, 1e5, 1), Preprocessing(), cfg)
    model = save_model(
        tmp_path / "m", gen, family="wgan-gp", hparams=cfg, particle="photon", seed=0
    )
    runner = CliRunner()
    path = tmp_path / "m.onnx"
    assert runner.invoke(app, ["export", "-m", str(model), "-o", str(path)]).exit_code == 0
    proto = onnx.load(str(path))
    from onnx.external_data_helper import convert_model_to_external_data

    convert_model_to_external_data(
        proto, all_tensors_to_one_file=True, location="m.data", size_threshold=0
    )
    onnx.save_model(proto, str(path))
    assert (tmp_path / "m.data").is_file()
    res = runner.invoke(
        app,
        [
            "generate", "--model", str(model), "--backend", "onnxruntime", "--onnx", str(path),
            "--seed", "0", "--n", "2", "--energy", "30GeV", "--out", str(tmp_path / "g.h5"),
        ],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1
    assert "keeps its data in another file (ONNX external data); refusing" in lines[0]
    assert not (tmp_path / "g.h5").exists()


def test_missing_extra_is_a_user_error(tmp_path: Path) -> None:
    # 'distributed' hidden: --cluster must say which extra to install, rc 2, no traceback
    code = "import sys; sys.modules['distributed'] = None\nfrom caloforge.cli import main; main()"
    proc = subprocess.run(
        [
            sys.executable, "-c", code, "simulate", "-g", "calogan", "--energy", "10GeV",
            "--n", "2", "--engine", "gflash", "--cluster", "local:1", "--out", "x.h5",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: Dask fan-out (--scheduler, --cluster) needs the optional package 'distributed', "
        "which is not installed; install the extra: pip install 'caloforge[scale]'"
    ]
    assert not (tmp_path / "x.h5").exists()
