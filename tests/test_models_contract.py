"""One contract over every registered model family: configuration, shapes, gradients of the
objectives the training step minimises, artifact round trip, exact resume.

Parametrised over the registry (:mod:`caloforge.models.registry`) with each family's default
hyper-parameters, so a new family is covered as soon as it is registered.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.geometry import get_geometry
from caloforge.models import ConditionEncoding, Preprocessing, load_model, save_model
from caloforge.models.base import Batch, Family
from caloforge.models.generator import DenseGenerator
from caloforge.models.registry import REGISTRY, family_names, get_family
from caloforge.training import RunConfig, TrainConfig, train
from caloforge.training.checkpoint import META_KEY
from synthetic import synthetic_showers

NAMES = family_names()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _family(name: str, **changes: object) -> Family:
    cls = get_family(name)
    torch.manual_seed(0)
    hp = dataclasses.replace(cls.Config(), **changes)
    return cls(get_geometry("atlas-em-barrel"), ConditionEncoding(2e4, 5e4, 8), Preprocessing(), hp)


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


def test_registry_names_its_classes() -> None:
    assert len(set(NAMES)) == len(NAMES) == len(REGISTRY)
    for name in NAMES:
        assert get_family(name).name == name
    with pytest.raises(ValueError, match="unknown model family 'gpt'; known: "):
        get_family("gpt")


def test_registry_imports_no_torch() -> None:
    """The command line builds --family choices and help from the registry: no torch import."""
    code = (
        "import sys; from caloforge.models.registry import family_help, family_names; "
        "names = family_names(); family_help(); print('torch' in sys.modules, *names)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", *NAMES]


def test_cli_family_choices_come_from_the_registry(cli: Callable) -> None:
    for command in ("train", "tune"):
        result = cli([command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0
        assert all(name in result.output for name in NAMES)
    args = ["train", "--data", "x.h5", "--family", "gpt", "--out", "m"]
    result = cli(args, env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "'gpt' is not one of " + ", ".join(map(repr, NAMES)) in result.output


@pytest.mark.parametrize("name", NAMES)
def test_configuration_is_typed_with_defaults_once(name: str) -> None:
    cls = get_family(name)
    assert dataclasses.is_dataclass(cls.Config)
    default = cls.Config()
    assert cls.config_from_mapping({}, "t") == default
    field = dataclasses.fields(cls.Config)[0]
    same = cls.config_from_mapping({field.name: getattr(default, field.name)}, "t")
    assert same == default
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(default, field.name, getattr(default, field.name))
    with pytest.raises(ValueError, match=r"cfg \[model\]: unknown key\(s\) 'colour'"):
        cls.config_from_mapping({"colour": "red"}, "cfg [model]")
    with pytest.raises(TypeError, match="hyper-parameters must be"):
        cls(get_geometry("atlas-em-barrel"), ConditionEncoding(2e4, 5e4, 8), Preprocessing(), {})


@pytest.mark.parametrize("name", NAMES)
def test_shapes(name: str) -> None:
    fam = _family(name)
    gen = fam.generator
    noise = gen.make_noise(5, torch.Generator().manual_seed(1))
    assert noise.shape == (5, gen.noise_dim)
    cond = gen.encode_conditions(np.full(5, 3e4), np.arange(5))
    assert cond.shape == (5, 1 + 8)
    cells = gen(noise, cond)
    assert cells.shape == (5, 266)
    assert cells.dtype == torch.float32
    assert torch.isfinite(cells).all()
    # energy decoded from the conditions is the incident energy
    assert torch.allclose(gen.encoding.decode_energy(cond), torch.full((5, 1), 3e4), rtol=1e-5)
    assert torch.equal(gen.sample(np.full(5, 3e4), np.arange(5), noise=noise), cells.detach())
    # forward is the network-space output (what training sees) mapped back to MeV
    with torch.no_grad():
        x = fam.trained_generator(noise, cond)
    energy = gen.encoding.decode_energy(cond)
    assert torch.equal(fam.preprocessing.inverse(x, energy), cells.detach())


@pytest.mark.parametrize("name", NAMES)
def test_sample_checks_the_noise_and_restores_the_training_mode(name: str) -> None:
    gen = _family(name).generator
    gen.train()
    with pytest.raises(ValueError, match=rf"noise has shape \(4, {gen.noise_dim}\); expected \(5,"):
        gen.sample(np.full(5, 3e4), 0, noise=torch.zeros(4, gen.noise_dim))
    seen: list[bool] = []
    out = gen.run_eval(
        lambda a, b: (seen.append(gen.training), a + b)[1], torch.ones(2), torch.ones(2)
    )
    assert seen == [False]
    assert gen.training
    assert torch.equal(out, torch.full((2,), 2.0))


@pytest.mark.parametrize("head", ["relu", "softmax", "softmax-likelihood"])
@pytest.mark.parametrize(
    "name",
    [n for n in NAMES if "head" in {f.name for f in dataclasses.fields(get_family(n).Config)}],
)
def test_output_heads(name: str, head: str) -> None:
    if name == "vae" and head == "softmax-likelihood":
        with pytest.raises(ValueError, match="softmax-likelihood"):
            _family(name, head=head)
        return
    fam = _family(name, head=head)
    gen = fam.generator
    noise = gen.make_noise(5, torch.Generator().manual_seed(1))
    cond = gen.encode_conditions(np.full(5, 3e4), np.arange(5))
    cells = gen(noise, cond)
    assert cells.shape == (5, 266)
    empty = float((cells == 0).float().mean())
    if head == "relu":  # relu of a random linear map: about half of the cells exactly zero
        assert 0.3 < empty < 0.7
        return
    assert empty == 0.0  # softmax fractions are never exactly zero
    # the energy scale (the network-space sum, E_tot/E_inc) starts at the data's
    assert isinstance(gen, DenseGenerator)  # the generator behind every ``head`` option
    gen.fit_energy_scale(torch.tensor([0.28, 0.32], dtype=torch.float64))
    with torch.no_grad():
        ratio = fam.trained_generator(noise, cond).sum(1)
    assert float(ratio.mean()) == pytest.approx(0.3, rel=0.1)


def _all_parameters(fam: Family) -> list[torch.nn.Parameter]:
    return [p for m in fam.modules().values() for p in m.parameters()]


@pytest.mark.parametrize("name", NAMES)
def test_objectives_reach_every_parameter(name: str) -> None:
    """Each objective's loss (the function ``train_step`` minimises through ``minimise``) gives
    every parameter of its optimiser a finite non-zero gradient; every parameter of every
    network belongs to exactly one objective."""
    fam = _family(name)
    objectives = fam.objectives()
    owners = [id(p) for obj in objectives.values() for p in obj.parameters]
    assert len(owners) == len(set(owners))  # no parameter in two optimisers
    assert set(owners) == {id(p) for p in _all_parameters(fam)}
    batch = _batches(fam, 1)[0]
    for objective_name, objective in objectives.items():
        for p in _all_parameters(fam):
            p.grad = None
        terms = objective.loss(batch, torch.Generator().manual_seed(2))
        terms[objective_name].backward()
        for p in objective.parameters:
            assert p.grad is not None, f"{objective_name}: a parameter got no gradient"
            assert torch.isfinite(p.grad).all()
            assert p.grad.abs().sum() > 0, f"{objective_name}: a parameter got a zero gradient"


class _Recording(torch.optim.Adam):
    """Adam that records, at each step, which of its parameters had a usable gradient."""

    def __init__(self, params: list[torch.nn.Parameter], **kw: object) -> None:
        super().__init__(params, **kw)  # type: ignore[arg-type]
        self.updated: set[int] = set()
        self.steps = 0

    def step(self, closure=None):  # type: ignore[no-untyped-def, override]
        self.steps += 1
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0:
                    self.updated.add(id(p))
        return super().step(closure)


@pytest.mark.parametrize("name", NAMES)
def test_train_step_updates_every_parameter_through_its_objectives(name: str) -> None:
    """One real ``train_step``: every optimiser steps, every parameter it holds has a gradient
    when it does, and the losses it returns include each objective's term."""
    fam = _family(name)
    optimisers = {
        k: _Recording(obj.parameters, lr=1e-4, betas=(0.5, 0.9))
        for k, obj in fam.objectives().items()
    }
    batches = itertools.cycle(_batches(fam, 12, size=16))
    before = [p.detach().clone() for p in _all_parameters(fam)]
    losses = fam.train_step(lambda: next(batches), optimisers, torch.Generator().manual_seed(0))
    assert set(fam.objectives()) <= set(losses)
    for k, opt in optimisers.items():
        assert opt.steps >= 1, f"optimiser {k!r} never stepped"
        missing = [
            i for i, p in enumerate(fam.objectives()[k].parameters) if id(p) not in opt.updated
        ]
        assert not missing, f"optimiser {k!r} stepped without gradients for parameters {missing}"
    after = _all_parameters(fam)
    assert all(not torch.equal(a, b) for a, b in zip(after, before, strict=True))


@pytest.mark.parametrize("name", NAMES)
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


WITH_ARTIFACT_DEFAULTS = [n for n in NAMES if get_family(n).artifact_defaults]


@pytest.mark.parametrize("name", WITH_ARTIFACT_DEFAULTS)
def test_artifact_saved_before_a_later_option_loads_as_it_was(name: str, tmp_path: Path) -> None:
    """A model saved before the keys of ``artifact_defaults`` existed (built with those values,
    its ``model.json`` without the keys) loads with them, not with the newer defaults, and
    samples as it did (gan3d: the cell sum drawn; bib-ae: no spectrum map, whose weights such
    a model does not have)."""
    old = get_family(name).artifact_defaults
    fam = _family(name, **old)
    with torch.no_grad():
        for p in fam.generator.parameters():
            p.add_(0.05 * torch.randn_like(p))
    out = save_model(
        tmp_path / "m", fam.generator, family=name, hparams=fam.hparams, particle="photon", seed=7
    )
    doc = json.loads((out / "model.json").read_text())
    for key in old:
        del doc["hyperparameters"][key]
    (out / "model.json").write_text(json.dumps(doc))
    art = load_model(out)
    assert art.hparams == fam.hparams
    assert art.hparams != get_family(name).Config()
    noise = fam.generator.make_noise(16, torch.Generator().manual_seed(3))
    e = np.geomspace(2e4, 5e4, 16)
    c = np.arange(16) % 8
    assert torch.equal(
        fam.generator.sample(e, c, noise=noise), art.generator.sample(e, c, noise=noise)
    )


def _run(name: str, steps: int) -> RunConfig:
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
    )


@pytest.mark.parametrize("name", NAMES)
def test_resume_reproduces_uninterrupted_run(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = synthetic_showers(200, 0)
    train(data, config=_run(name, 6), out_dir=tmp_path / "full")
    # interrupted run: the 5th step raises (after the checkpoint at step 4)
    cls = get_family(name)
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
