"""Data-parallel training: ``caloforge train`` under ``torchrun`` with two gloo CPU processes
agrees with one process at the same global batch size."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file

from caloforge.models.base import Batch, optimise
from caloforge.training import train
from caloforge.training.distributed import SINGLE, ShardedStream, init_distributed
from synthetic import synthetic_showers

COMMON = """
[train]
steps = 8
batch_size = 32
lr = 1e-3
log_every = 1
validate_every = 4
checkpoint_every = 4
threads = 1
progress = false
"""
VAE = (
    'family = "vae"\n'
    + COMMON
    + """
[model]
latent_dim = 8
encoder_hidden = [32]
decoder_hidden = [32, 32]
"""
)
WGAN = (
    'family = "wgan-gp"\n'
    + COMMON
    + """
[model]
noise_dim = 8
generator_hidden = [32, 32]
critic_hidden = [32, 32]
n_critic = 2
"""
)

ECRITIC = WGAN.replace('"wgan-gp"', '"gan-ecritic"') + "energy_critic_hidden = [16]\n"


@pytest.fixture
def data_file(shower_file: Callable[..., Path]) -> Path:
    return shower_file(synthetic_showers, 300, 0)


def _torchrun(data: Path, config: Path, family: str, out: Path) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    caloforge = Path(sys.executable).with_name("caloforge")
    if not (torchrun.is_file() and caloforge.is_file()):
        pytest.fail(f"torchrun / caloforge not installed beside {sys.executable}")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "--no-python", str(caloforge)]
    cmd += ["train", "--data", str(data), "--family", family, "--config", str(config)]
    cmd += ["--out", str(out), "--no-progress"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _log(path: Path) -> dict[tuple[int, str], float]:
    with path.open(newline="") as f:
        return {(int(r["step"]), r["name"]): float(r["value"]) for r in csv.DictReader(f)}


def _losses(log: dict[tuple[int, str], float]) -> dict[tuple[int, str], float]:
    return {k: v for k, v in log.items() if not k[1].startswith("val_")}


@pytest.mark.slow  # torchrun: two training processes
def test_torchrun_two_processes_match_one_process(data_file: Path, tmp_path: Path) -> None:
    """VAE: every random draw goes through the shared noise hook, so two ranks reproduce the
    single-process loss curve to float rounding (different summation order only)."""
    config = tmp_path / "vae.toml"
    config.write_text(VAE)
    train(data_file, config=config, out_dir=tmp_path / "single")
    _torchrun(data_file, config, "vae", tmp_path / "ddp")
    single, ddp = _log(tmp_path / "single/log.csv"), _log(tmp_path / "ddp/log.csv")
    assert single.keys() == ddp.keys()
    assert len(_losses(single)) == 8 * 4  # vae, reconstruction, energy, kl per step
    for key, value in single.items():
        assert ddp[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
    w1 = load_file(tmp_path / "single/weights.safetensors")
    w2 = load_file(tmp_path / "ddp/weights.safetensors")
    assert w1.keys() == w2.keys()
    for key in w1:
        torch.testing.assert_close(w2[key], w1[key], rtol=1e-4, atol=1e-6)
    # only rank 0 wrote: one artifact, one checkpoint, one log; provenance says 2 processes
    assert (tmp_path / "ddp/checkpoints/last.safetensors").is_file()
    assert (tmp_path / "ddp/best/model.json").is_file()
    assert '"world_size": 2' in (tmp_path / "ddp/model.json").read_text()


def _single_and_torchrun(
    data_file: Path, tmp_path: Path, toml: str, family: str
) -> tuple[dict, dict]:
    """Train ``family`` with config ``toml`` in one process and under torchrun (2 processes);
    the two loss logs by (step, name)."""
    config = tmp_path / f"{family}.toml"
    config.write_text(toml)
    train(data_file, config=config, out_dir=tmp_path / "single")
    _torchrun(data_file, config, family, tmp_path / "ddp")
    return _losses(_log(tmp_path / "single/log.csv")), _losses(_log(tmp_path / "ddp/log.csv"))


@pytest.mark.slow  # torchrun: two training processes
def test_torchrun_gan_agrees_statistically(data_file: Path, tmp_path: Path) -> None:
    """WGAN-GP: same data and latent noise, but the penalty's interpolation weights are drawn
    per rank, so the curves agree within the batch-to-batch fluctuation, not bit for bit."""
    single, ddp = _single_and_torchrun(data_file, tmp_path, WGAN, "wgan-gp")
    assert single.keys() == ddp.keys()
    for name in ("critic", "generator", "wasserstein", "gp"):
        a = np.array([single[(s, name)] for s in range(1, 9)])
        b = np.array([ddp[(s, name)] for s in range(1, 9)])
        scale = np.abs(a).max()
        assert np.abs(a - b).max() <= 0.15 * scale, (name, a, b)


@pytest.mark.slow  # torchrun: two training processes
def test_torchrun_likelihood_head_stays_in_step(data_file: Path, tmp_path: Path) -> None:
    """gan-ecritic's E_tot/E_inc likelihood model trains outside DDP's forward passes; its
    gradients are averaged by hand, so with the same data it follows the single-process fit
    (the negative log-likelihood curve to 5%). Not bit for bit: each rank fits the
    standardisation on its own rows and DDP broadcasts rank 0's."""
    single, ddp = _single_and_torchrun(data_file, tmp_path, ECRITIC, "gan-ecritic")
    a = np.array([single[(s, "energy")] for s in range(1, 9)])
    b = np.array([ddp[(s, "energy")] for s in range(1, 9)])
    assert np.abs(a - b).max() <= 0.05 * (np.abs(a).max() + 1.0), (a, b)


def test_sharded_stream_splits_the_global_batch() -> None:
    x = torch.arange(12.0).reshape(6, 2)
    c = torch.arange(6.0)[:, None]

    def draw() -> Batch:
        return Batch(x, c)

    parts = [ShardedStream(draw, r, 3)() for r in range(3)]
    assert torch.equal(torch.cat([p.x for p in parts]), x)
    assert torch.equal(torch.cat([p.conditions for p in parts]), c)
    with pytest.raises(ValueError, match="not divisible by the 4 processes"):
        ShardedStream(draw, 0, 4)()


def test_without_torchrun_the_single_process_path_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert init_distributed("cpu") is SINGLE
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert init_distributed("cpu") is SINGLE
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two' is not an integer"):
        init_distributed("cpu")


def _sync_worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)  # same start on both ranks
        lin = torch.nn.Linear(3, 1)
        opt = torch.optim.SGD(lin.parameters(), lr=1.0)
        x = torch.full((4, 3), float(rank + 1))  # different data per rank
        optimise(opt, lin(x).sum(), sync=True)
        torch.save({k: v.clone() for k, v in lin.state_dict().items()}, f"{out_dir}/{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # spawns two processes that import torch
def test_optimise_sync_averages_gradients_over_processes(tmp_path: Path) -> None:
    """``optimise(..., sync=True)`` (the likelihood head's step) leaves every rank with the
    parameters of one step on the mean gradient: grad of sum(w.x + b) over 4 rows is 4 x
    (rank + 1) per weight and 4 for the bias; the mean over ranks 0, 1 is 6 and 4."""
    torch.multiprocessing.spawn(
        _sync_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True
    )
    torch.manual_seed(0)
    start = torch.nn.Linear(3, 1).state_dict()
    r0 = torch.load(tmp_path / "0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "1.pt", weights_only=True)
    for key in start:
        torch.testing.assert_close(r0[key], r1[key])
    torch.testing.assert_close(r0["weight"], start["weight"] - 6.0)
    torch.testing.assert_close(r0["bias"], start["bias"] - 4.0)
