"""Learning-rate schedules and the weight average: closed-form values, the trainer applying them,
the averaged weights in the artifacts, and exact resume with both on."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from caloforge.models.registry import get_family
from caloforge.training import RunConfig, TrainConfig, train
from caloforge.training.schedule import LearningRates, WeightAverage, lr_factor
from synthetic import synthetic_showers

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_schedule_factors_have_their_closed_form_values() -> None:
    assert [lr_factor("constant", s, 10) for s in (0, 5, 9)] == [1.0, 1.0, 1.0]
    assert lr_factor("cosine", 0, 100) == 1.0
    assert lr_factor("cosine", 50, 100) == pytest.approx(0.5)
    assert lr_factor("cosine", 25, 100) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor("cosine", 100, 100) == pytest.approx(0.0, abs=1e-15)
    # linear warm-up, then the cosine
    assert lr_factor("cosine", 0, 100, warmup=10) == pytest.approx(0.1 * 1.0)
    assert lr_factor("cosine", 4, 100, warmup=10) == pytest.approx(
        0.5 * lr_factor("cosine", 4, 100)
    )
    # one-cycle: base / 25 at the start, the base rate at 30%, base / 25e4 at the end
    assert lr_factor("one-cycle", 0, 100) == pytest.approx(1 / 25)
    assert lr_factor("one-cycle", 15, 100) == pytest.approx((1 + 1 / 25) / 2)
    assert lr_factor("one-cycle", 30, 100) == pytest.approx(1.0)
    assert lr_factor("one-cycle", 100, 100) == pytest.approx(1 / 25 / 1e4)
    with pytest.raises(ValueError, match="lr_schedule must be one of constant, cosine, one-cycle"):
        lr_factor("linear", 0, 10)
    with pytest.raises(ValueError, match=r"train\.lr_schedule must be one of"):
        TrainConfig(lr_schedule="step")
    with pytest.raises(ValueError, match=r"train\.ema_decay in \[0, 1\)"):
        TrainConfig(ema_decay=1.0)


def test_learning_rates_scale_each_optimisers_own_base_rate() -> None:
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    opts = {
        "a": torch.optim.Adam(a.parameters(), lr=1e-3),
        "b": torch.optim.Adam(b.parameters(), lr=4e-3),
    }
    rates = LearningRates(opts, "cosine")
    rates.apply(50, 100)
    assert opts["a"].param_groups[0]["lr"] == pytest.approx(0.5e-3)
    assert opts["b"].param_groups[0]["lr"] == pytest.approx(2e-3)
    rates.apply(0, 100)  # from the base, not from the last value
    assert opts["a"].param_groups[0]["lr"] == pytest.approx(1e-3)
    constant = LearningRates(opts, "constant")
    opts["a"].param_groups[0]["lr"] = 7.0
    constant.apply(3, 10)
    assert opts["a"].param_groups[0]["lr"] == 7.0  # never touched


def test_weight_average_follows_its_recursion_and_restores_the_weights() -> None:
    lin = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(0.0)
    avg = WeightAverage(lin, 0.9)
    expected = 0.0
    for step, value in enumerate([1.0, 2.0, 3.0, 4.0], start=1):
        with torch.no_grad():
            lin.weight.fill_(value)
        avg.update(step)
        d = min(0.9, (1 + step) / (10 + step))
        expected = d * expected + (1 - d) * value
    assert float(avg.average["weight"]) == pytest.approx(expected)
    with avg.applied():
        assert float(lin.weight.detach()) == pytest.approx(expected)
    assert float(lin.weight.detach()) == 4.0
    with pytest.raises(ValueError, match="missing"):
        avg.load({}, "ckpt")
    with pytest.raises(ValueError, match=r"ema_decay must be in \(0, 1\)"):
        WeightAverage(lin, 1.0)


def _run(steps: int, **train_kw: object) -> RunConfig:
    return RunConfig(
        family="vae",
        train=TrainConfig(
            steps=steps,
            batch_size=16,
            lr=1e-3,
            checkpoint_every=2,
            validate_every=3,
            log_every=1,
            threads=1,
            progress=False,
            **train_kw,  # type: ignore[arg-type]
        ),
    )


SCHEDULED = {"lr_schedule": "one-cycle", "ema_decay": 0.9}


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


def test_trainer_applies_the_schedule_and_saves_the_averaged_weights(tmp_path: Path) -> None:
    data = synthetic_showers(200, 0)
    train(data, config=_run(6, **SCHEDULED), out_dir=tmp_path / "m")
    ckpt = _tensors(tmp_path / "m" / "checkpoints/last.safetensors")
    weights = load_file(str(tmp_path / "m" / "weights.safetensors"))
    averaged = {k[len("extra.") :]: v for k, v in ckpt.items() if k.startswith("extra.")}
    raw = {
        k[len("module.generator.") :]: v
        for k, v in ckpt.items()
        if k.startswith("module.generator.")
    }
    assert averaged
    for key, value in averaged.items():
        assert torch.equal(weights[key], value), key  # the artifact holds the average
        assert not torch.equal(raw[key], value), key  # training went on with the raw weights
    # the last step's rate is the one-cycle rate of update 5 of 6 (its base: train.lr)
    with safe_open(str(tmp_path / "m" / "checkpoints/last.safetensors"), framework="pt") as f:
        meta = f.metadata()["caloforge_checkpoint"]
    groups = json.loads(meta)["param_groups"]
    lrs = [g["lr"] for gs in groups.values() for g in gs]
    assert lrs
    assert all(lr == pytest.approx(1e-3 * lr_factor("one-cycle", 5, 6)) for lr in lrs)


def test_resume_with_schedule_and_average_reproduces_the_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = synthetic_showers(200, 0)
    train(data, config=_run(6, **SCHEDULED), out_dir=tmp_path / "full")
    # interrupted run: the 5th step raises (after the checkpoint at step 4)
    cls = get_family("vae")
    original = cls.train_step
    calls = {"n": 0}

    def crashing(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "train_step", crashing)
    with pytest.raises(KeyboardInterrupt):
        train(data, config=_run(6, **SCHEDULED), out_dir=tmp_path / "cut")
    monkeypatch.setattr(cls, "train_step", original)
    train(data, config=_run(6, **SCHEDULED), out_dir=tmp_path / "cut", resume=True)
    for rel in ("weights.safetensors", "best/weights.safetensors", "checkpoints/last.safetensors"):
        full, cut = _tensors(tmp_path / "full" / rel), _tensors(tmp_path / "cut" / rel)
        assert full.keys() == cut.keys()
        for key in full:
            assert torch.equal(full[key], cut[key]), f"{rel}: {key} differs after resume"
    assert (tmp_path / "full" / "log.csv").read_text() == (tmp_path / "cut" / "log.csv").read_text()
    # resuming with another schedule is refused (the run's fingerprint)
    other = _run(6, lr_schedule="cosine", ema_decay=0.9)
    with pytest.raises(ValueError, match="another configuration"):
        train(data, config=other, out_dir=tmp_path / "cut", resume=True)
