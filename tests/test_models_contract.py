"""One contract over every model family: shapes, gradients, artifact round trip, exact resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.geometry import get_geometry
from caloforge.models import FAMILIES, ConditionEncoding, Preprocessing, load_model, save_model
from caloforge.models.base import Batch, Family
from caloforge.models.hparams import from_mapping
from caloforge.training import RunConfig, TrainConfig, train
from caloforge.training.checkpoint import META_KEY
from test_models_synthetic import synthetic_showers

#: small networks so that the whole contract runs in seconds
TINY = {
    "wgan-gp": {
        "noise_dim": 8,
        "generator_hidden": [32, 32],
        "critic_hidden": [32, 32],
        "n_critic": 2,
    },
    "gan-ecritic": {
        "noise_dim": 8,
        "generator_hidden": [32, 32],
        "critic_hidden": [32, 32],
        "energy_critic_hidden": [16],
        "n_critic": 2,
    },
    "vae": {"latent_dim": 8, "encoder_hidden": [32], "decoder_hidden": [32, 32]},
}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_every_family_is_covered() -> None:
    assert set(TINY) == set(FAMILIES)


def _family(name: str, head: str | None = None) -> Family:
    cls = FAMILIES[name]
    hp = dict(TINY[name]) | ({"head": head} if head else {})
    g = get_geometry("atlas-em-barrel")
    torch.manual_seed(0)
    return cls(
        g, ConditionEncoding(2e4, 5e4, 8), Preprocessing(), from_mapping(cls.Config, hp, "test")
    )


def _batches(family: Family, k: int, size: int = 16) -> list[Batch]:
    s = synthetic_showers(200, 0)
    out = []
    for i in range(k):
        part = s[i * size : (i + 1) * size]
        e = torch.as_tensor(part.incident_energy)[:, None]
        x = family.preprocessing.forward(torch.as_tensor(part.cells, dtype=torch.float64), e)
        cond = family.generator.encode_conditions(part.incident_energy, part.config)
        out.append(Batch(x.float(), cond))
    return out


@pytest.mark.parametrize("head", ["relu", "softmax", "softmax-likelihood"])
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_shapes(name: str, head: str) -> None:
    if name == "vae" and head == "softmax-likelihood":
        with pytest.raises(ValueError, match="softmax-likelihood"):
            _family(name, head)
        return
    fam = _family(name, head)
    gen = fam.generator
    noise = gen.make_noise(5, torch.Generator().manual_seed(1))
    assert noise.shape == (5, gen.noise_dim)
    cond = gen.encode_conditions(np.full(5, 3e4), np.arange(5))
    assert cond.shape == (5, 1 + 8)
    cells = gen(noise, cond)
    assert cells.shape == (5, 266)
    assert cells.dtype == torch.float32
    assert (cells >= 0).all()
    # energy decoded from the conditions is the incident energy
    assert torch.allclose(gen.encoding.decode_energy(cond), torch.full((5, 1), 3e4), rtol=1e-5)
    assert torch.equal(gen.sample(np.full(5, 3e4), np.arange(5), noise=noise), cells.detach())
    if head.startswith("softmax"):  # fractions times a positive energy scale
        ratio = cells.sum(1) / 3e4
        assert torch.all(ratio > 0)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_gradients_reach_every_parameter(name: str) -> None:
    fam = _family(name)
    losses = fam.losses(_batches(fam, fam.batches_per_step), torch.Generator().manual_seed(2))
    groups = fam.optimiser_groups()
    assert set(groups) <= set(losses)  # one loss term per optimiser, named like it
    all_params = [p for m in fam.modules().values() for p in m.parameters()]
    grouped = {id(p) for ps in groups.values() for p in ps}
    assert grouped == {id(p) for p in all_params}  # every parameter is optimised
    for name_ in groups:
        for p in all_params:
            p.grad = None
        losses[name_].backward(retain_graph=True)
        for p in groups[name_]:
            assert p.grad is not None, f"{name_}: a parameter got no gradient"
            assert torch.isfinite(p.grad).all()
            assert p.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_artifact_round_trip_gives_identical_samples(name: str, tmp_path: Path) -> None:
    fam = _family(name)
    with torch.no_grad():
        for p in fam.generator.parameters():
            p.add_(0.05 * torch.randn_like(p))
    out = save_model(
        tmp_path / "m", fam.generator, family=name, hparams=fam.hparams, particle="photon", seed=7
    )
    art = load_model(out)
    assert art.family == name
    assert art.seed == 7
    assert art.hparams == fam.hparams
    assert art.encoding == fam.encoding
    assert art.geometry == fam.geometry
    noise = fam.generator.make_noise(64, torch.Generator().manual_seed(3))
    e = np.geomspace(2e4, 5e4, 64)
    c = np.arange(64) % 8
    a = fam.generator.sample(e, c, noise=noise)
    b = art.generator.sample(e, c, noise=noise)
    assert torch.equal(a, b)
    assert a.abs().sum() > 0


def _run(name: str, steps: int) -> RunConfig:
    cls = FAMILIES[name]
    return RunConfig(
        family=name,
        train=TrainConfig(
            steps=steps,
            batch_size=16,
            checkpoint_every=2,
            validate_every=3,
            log_every=1,
            threads=1,
            progress=False,
        ),
        model=from_mapping(cls.Config, TINY[name], "test"),
    )


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_resume_reproduces_uninterrupted_run(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = synthetic_showers(200, 0)
    train(data, config=_run(name, 6), out_dir=tmp_path / "full")
    # interrupted run: the 5th step raises (after the checkpoint at step 4)
    cls = FAMILIES[name]
    original = cls.train_step
    calls = {"n": 0}

    def crashing(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "train_step", crashing)
    with pytest.raises(KeyboardInterrupt):
        train(data, config=_run(name, 6), out_dir=tmp_path / "cut")
    monkeypatch.setattr(cls, "train_step", original)
    assert not (tmp_path / "cut" / "model.json").exists()
    train(data, config=_run(name, 6), out_dir=tmp_path / "cut", resume=True)

    from safetensors import safe_open

    def tensors(path: Path) -> dict[str, torch.Tensor]:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118

    for rel in ("weights.safetensors", "checkpoints/last.safetensors"):
        full, cut = tensors(tmp_path / "full" / rel), tensors(tmp_path / "cut" / rel)
        assert full.keys() == cut.keys()
        for key in full:
            assert torch.equal(full[key], cut[key]), f"{rel}: {key} differs after resume"
    with safe_open(str(tmp_path / "cut" / "checkpoints/last.safetensors"), framework="pt") as f:
        assert '"step": 6' in f.metadata()[META_KEY]
    assert (tmp_path / "full" / "log.csv").read_text() == (tmp_path / "cut" / "log.csv").read_text()
