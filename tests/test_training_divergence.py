"""A NaN stops training with a clear message and keeps the last good checkpoint."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from caloforge.models import get_family, load_model
from caloforge.models.vae import VAEConfig
from caloforge.training import RunConfig, TrainConfig, TrainingDivergedError, train
from caloforge.training.checkpoint import META_KEY
from synthetic import synthetic_showers


def test_nan_stops_and_keeps_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = get_family("vae")
    original = cls.train_step
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        out = original(self, *args, **kwargs)
        if calls["n"] == 5:
            with torch.no_grad():  # what a diverging update does to the weights
                next(self.generator.parameters()).fill_(math.nan)
            out["vae"] = math.nan
        return out

    monkeypatch.setattr(cls, "train_step", poisoned)
    run = RunConfig(
        family="vae",
        train=TrainConfig(steps=10, batch_size=16, checkpoint_every=2, threads=1, progress=False),
        model=VAEConfig(latent_dim=4, encoder_hidden=(16,), decoder_hidden=(16,)),
    )
    with pytest.raises(
        TrainingDivergedError,
        match=r"step 5: loss 'vae' = nan.*last good checkpoint: .*last\.safetensors",
    ):
        train(synthetic_showers(100, 0), config=run, out_dir=tmp_path)
    ckpt = tmp_path / "checkpoints" / "last.safetensors"
    with safe_open(str(ckpt), framework="pt") as f:
        assert '"step": 4' in f.metadata()[META_KEY]
        assert all(torch.isfinite(f.get_tensor(k)).all() for k in f.keys())  # noqa: SIM118
    assert not (tmp_path / "model.json").exists()  # no artifact from a diverged run
    # the run can continue from the last good state
    monkeypatch.setattr(cls, "train_step", original)
    train(synthetic_showers(100, 0), config=run, out_dir=tmp_path, resume=True)
    assert load_model(tmp_path).provenance["steps"] == 10
