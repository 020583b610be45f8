"""``train``: one loop for every family (nanoGPT-style: phases commented, state in checkpoints).

Output folder (per seed): the final artifact (``model.json``, ``weights.safetensors``), the
best-validation artifact in ``best/``, ``train_config.toml`` (the full run configuration),
``log.csv`` and ``checkpoints/last.safetensors``. With ``seeds=K`` each seed trains into
``out_dir/seed_<s>/``.

Under ``torchrun --nproc_per_node N`` the same call trains data-parallel (DDP) with the same
global batch size; only rank 0 writes. See :mod:`caloforge.training.distributed`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from caloforge.geometry import get_geometry
from caloforge.io import read_showers
from caloforge.models.artifact import save_model
from caloforge.models.base import Family
from caloforge.models.conditions import ConditionEncoding
from caloforge.models.registry import family_names, get_family
from caloforge.progress import TrainingProgress, stderr_console
from caloforge.provenance import machine_description, versions
from caloforge.showerset import ShowerSet
from caloforge.threads import choose_threads
from caloforge.training.checkpoint import (
    CheckpointState,
    data_fingerprint,
    load_checkpoint,
    save_checkpoint,
)
from caloforge.training.config import RunConfig, load_run_config, save_run_config
from caloforge.training.data import BatchStream, split
from caloforge.training.distributed import (
    SINGLE,
    DistributedContext,
    ShardedStream,
    init_distributed,
    shutdown_distributed,
    unwrap_family,
    wrap_family,
)
from caloforge.training.log import CsvLog
from caloforge.training.schedule import LearningRates, WeightAverage
from caloforge.training.validation import validation_metrics

__all__ = ["TrainResult", "TrainingDivergedError", "train"]

CHECKPOINT = Path("checkpoints") / "last.safetensors"
#: keys of TrainConfig that may change between an interrupted run and its resumption
RESUMABLE_CHANGES = ("steps", "epochs", "device", "threads", "progress")
#: TrainConfig keys added after checkpoints were first written: left out of the fingerprint at
#: their defaults, so those checkpoints still resume
LATER_DEFAULTS: dict[str, Any] = {"lr_schedule": "constant", "lr_warmup_steps": 0, "ema_decay": 0.0}

#: ``on_validation(step, metrics)``: called after every validation (on every rank); it may raise
#: to stop training (e.g. ``optuna.TrialPruned``), leaving the last checkpoint in place
ValidationCallback = Callable[[int, dict[str, float]], None]


class TrainingDivergedError(RuntimeError):
    """A loss or parameter became NaN/inf or exceeded ``max_abs_loss``."""


@dataclass
class TrainResult:
    out_dir: Path
    seed: int
    steps: int
    wall_seconds: float
    best_step: int | None
    metrics: dict[str, Any] = field(default_factory=dict)


def _prepare(data: ShowerSet | str | Path, run: RunConfig) -> tuple[ShowerSet, str]:
    cfg = run.train
    # train.geometry reads a file as --geometry does: a file naming no geometry (the
    # CaloChallenge's own) is read with it, one naming another readout is refused
    showers = data if isinstance(data, ShowerSet) else read_showers(data, cfg.geometry)
    source = "<ShowerSet>" if isinstance(data, ShowerSet) else str(data)
    if cfg.geometry is not None:
        expected = get_geometry(cfg.geometry)
        if not showers.geometry.same_readout(expected):
            msg = (
                f"{source}: the data's geometry {showers.geometry.name!r} "
                f"({showers.geometry.n_cells} cells) differs from the configured geometry "
                f"{cfg.geometry!r} ({expected.n_cells} cells) (train.geometry): "
                f"{showers.geometry.readout_difference(expected)} (here: the data)"
            )
            raise ValueError(msg)
    if (
        cfg.condition_on_config
        and showers.geometry.alignment_configs > 1
        and showers.config is None
    ):
        msg = (
            f"{source}: key 'config' missing; geometry {showers.geometry.name!r} has "
            f"{showers.geometry.alignment_configs} alignment configurations and the model "
            "conditions on them (set train.condition_on_config = false to train without)"
        )
        raise ValueError(msg)
    if len(showers) < 2:
        msg = f"{source}: {len(showers)} showers; need at least 2 to train"
        raise ValueError(msg)
    return showers, source


def _tensors(
    showers: ShowerSet, family: Family[Any], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    energy = torch.as_tensor(showers.incident_energy)[:, None]
    x = family.preprocessing.forward(torch.as_tensor(showers.cells, dtype=torch.float64), energy)
    cond = family.generator.encode_conditions(showers.incident_energy, showers.config)
    return x.to(torch.float32).to(device), cond.to(device)


@torch.no_grad()
def _validate(family: Family[Any], val: ShowerSet, seed: int) -> dict[str, float]:
    gen = family.generator
    noise = gen.make_noise(len(val), torch.Generator().manual_seed(seed))
    cells = gen.sample(val.incident_energy, val.config, noise=noise).cpu().numpy()
    return validation_metrics(val.cells, np.maximum(cells, 0), val.incident_energy, val.geometry)


def _check_finite(
    family: Family[Any], losses: dict[str, float], step: int, limit: float
) -> str | None:
    for name, value in losses.items():
        if not math.isfinite(value) or abs(value) > limit:
            return f"step {step}: loss {name!r} = {value:g} (limit |loss| <= {limit:g})"
    for mod_name, module in family.modules().items():
        for p_name, p in module.named_parameters():
            if not torch.isfinite(p).all():
                return f"step {step}: parameter {mod_name}.{p_name} is not finite"
    return None


def _fingerprint(run: RunConfig, train_set: ShowerSet, source: str) -> dict[str, Any]:
    d = run.to_dict()
    d["train"] = {
        k: v
        for k, v in d["train"].items()
        if k not in RESUMABLE_CHANGES and not (k in LATER_DEFAULTS and v == LATER_DEFAULTS[k])
    }
    data = data_fingerprint(
        train_set.incident_energy, train_set.cells, train_set.config, _source_path(source)
    )
    return d | {"n_train": len(train_set), "data": data}


def _source_path(source: str) -> str:
    """The data file's resolved path (``<ShowerSet>`` for data given in memory)."""
    return source if source.startswith("<") else str(Path(source).resolve())


def _fit(
    showers: ShowerSet,
    source: str,
    run: RunConfig,
    out_dir: Path,
    *,
    resume: bool,
    ctx: DistributedContext = SINGLE,
    on_validation: ValidationCallback | None = None,
) -> TrainResult:
    cfg = run.train
    seeds = np.random.SeedSequence(cfg.seed).generate_state(4)
    split_seed, data_seed, noise_seed, val_seed = (int(s) for s in seeds)
    device = ctx.device(cfg.device)
    main = ctx.is_main
    train_set, val_set = split(showers, cfg.val_fraction, cfg.val_max_showers, split_seed)
    e = train_set.incident_energy
    n_configs = showers.geometry.alignment_configs if cfg.condition_on_config else 1
    encoding = ConditionEncoding(float(e.min()), float(e.max()), n_configs)
    if not cfg.condition_on_config:
        val_set.conditions.pop("config", None)
        train_set.conditions.pop("config", None)
    family_cls = get_family(run.family)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        family = family_cls(showers.geometry, encoding, run.preprocessing, run.model).to(device)
    optimisers = family.make_optimisers(cfg.lr, (cfg.betas[0], cfg.betas[1]))
    # opt-in: learning-rate schedule (base rates read now, before a checkpoint's) and the
    # generator's weight average (validated and saved instead of the raw weights)
    rates = LearningRates(optimisers, cfg.lr_schedule, cfg.lr_warmup_steps)
    ema = WeightAverage(family.generator, cfg.ema_decay) if cfg.ema_decay > 0 else None

    def averaged() -> AbstractContextManager[None]:
        return nullcontext() if ema is None else ema.applied()

    x, cond = _tensors(train_set, family, device)
    stream = BatchStream(x, cond, cfg.batch_size, torch.Generator().manual_seed(data_seed))
    rngs = {"data": stream.rng, "noise": torch.Generator().manual_seed(noise_seed)}
    state = CheckpointState(fingerprint=_fingerprint(run, train_set, source))
    ckpt = out_dir / CHECKPOINT
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / CHECKPOINT.parent).mkdir(exist_ok=True)
    if resume:
        state = load_checkpoint(ckpt, family, optimisers, stream, rngs, state.fingerprint)
        if ema is not None:
            ema.load(state.extra, f"{ckpt} (averaged weights)")
    next_batch: Callable[[], Any] = stream
    if ctx.distributed:
        if cfg.batch_size % ctx.world_size:
            msg = f"train.batch_size={cfg.batch_size} is not divisible by the {ctx.world_size} processes (the global batch is split evenly)"
            raise ValueError(msg)
        wrap_family(family, ctx, device)
        next_batch = ShardedStream(stream, ctx.rank, ctx.world_size)
    log = None
    if main:
        save_run_config(out_dir / "train_config.toml", run)
        log = CsvLog(out_dir / "log.csv", resume_step=state.step if resume else None)
    total = cfg.total_steps(len(train_set), family.batches_per_step)
    provenance: dict[str, Any] = {
        "versions": versions("torch", "numpy", "safetensors"),
        "machine": machine_description(),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "data_file": source,
        "n_train": len(train_set),
        "n_validation": len(val_set),
        "trained_energy_range_mev": [encoding.energy_min_mev, encoding.energy_max_mev],
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "resumed_from_step": state.step if resume else None,
    }
    if ctx.distributed:
        provenance |= {"world_size": ctx.world_size, "backend": ctx.backend}
    save_kw = {"family": run.family, "hparams": run.model, "particle": showers.particle}
    metrics: dict[str, float] = {}
    if log is not None and not resume:
        # the untrained model's validation metrics at step 0: what training has to improve on
        with averaged():
            initial = _validate(family, val_set, val_seed)
        log.write(0, {f"val_{k}": v for k, v in initial.items()})
    t0 = time.perf_counter()
    bar = TrainingProgress(
        total,
        initial=state.step,
        description=f"{run.family} seed {cfg.seed}",
        enabled=cfg.progress and main,
    )
    try:
        while state.step < total:
            # forward / backward / optimiser steps (the family's phases)
            rates.apply(state.step, total)
            losses = ctx.mean(family.train_step(next_batch, optimisers, rngs["noise"]))
            problem = _check_finite(family, losses, state.step + 1, cfg.max_abs_loss)
            if problem is not None:
                kept = (
                    f"last good checkpoint: {ckpt}"
                    if ckpt.is_file()
                    else "no checkpoint was written yet"
                )
                msg = f"training diverged at {problem}; stopped ({kept}; lower train.lr or check the data)"
                raise TrainingDivergedError(msg)
            state.step += 1
            if ema is not None:
                ema.update(state.step)
            bar.advance(losses)
            # log
            if log is not None and (state.step % cfg.log_every == 0 or state.step == total):
                log.write(state.step, losses)
            # evaluate: validation metrics on the held-out split, keep the best
            validated = state.step % cfg.validate_every == 0 or state.step == total
            if validated:
                with torch.no_grad():  # data-derived generator state (e.g. a latent KDE)
                    family.refresh(x, cond)
                with averaged():
                    metrics = _validate(family, val_set, val_seed)
                if log is not None:
                    log.write(state.step, {f"val_{k}": v for k, v in metrics.items()})
                if state.best_score is None or metrics["score"] < state.best_score:
                    state.best_score, state.best_step = metrics["score"], state.step
                if state.best_step == state.step and main:
                    with averaged():
                        save_model(
                            out_dir / "best",
                            family.generator,
                            seed=cfg.seed,
                            provenance=provenance | {"steps": state.step},
                            metrics=metrics | {"step": state.step},
                            **save_kw,
                        )
            # checkpoint (atomic)
            if main and (state.step % cfg.checkpoint_every == 0 or state.step == total):
                if ema is not None:
                    state.extra = ema.state()
                save_checkpoint(ckpt, family, optimisers, stream, rngs, state)
            # report (after the checkpoint, so a stop keeps this step's state)
            if validated and on_validation is not None:
                on_validation(state.step, metrics)
    finally:
        bar.close()
        if ctx.distributed:
            unwrap_family(family)
    wall = time.perf_counter() - t0
    provenance |= {
        "steps": state.step,
        "wall_seconds_this_session": wall,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    final = {
        "final": metrics | {"step": state.step},
        "best": {"step": state.best_step, "score": state.best_score},
    }
    if main:
        with averaged():
            save_model(
                out_dir,
                family.generator,
                seed=cfg.seed,
                provenance=provenance,
                metrics=final,
                **save_kw,
            )
    ctx.barrier()
    return TrainResult(out_dir, cfg.seed, state.step, wall, state.best_step, final)


def train(
    data: ShowerSet | str | Path,
    family: str | None = None,
    config: RunConfig | str | Path | None = None,
    out_dir: str | Path = "model",
    *,
    seeds: int = 1,
    resume: bool = False,
    steps: int | None = None,
    device: str | None = None,
    threads: int | None = None,
    progress: bool | None = None,
    on_validation: ValidationCallback | None = None,
) -> list[TrainResult]:
    """Train ``family`` on ``data`` (a shower file or a ShowerSet) into ``out_dir``.

    ``config``: a :class:`RunConfig`, a TOML run file, or None for the family's defaults;
    ``steps``, ``device``, ``threads``, ``progress`` override its ``[train]`` values. ``seeds=K``
    trains K models with seeds ``train.seed + i`` into ``out_dir/seed_<s>/``. ``resume``
    continues each from its ``checkpoints/last.safetensors`` exactly. ``on_validation(step,
    metrics)`` is called after each validation (see :data:`ValidationCallback`). Returns one
    :class:`TrainResult` per seed.

    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) each process calls this and they
    train one model together, data-parallel; see :mod:`caloforge.training.distributed`.
    """
    if isinstance(config, RunConfig):
        run = config
        if family is not None and family != run.family:
            msg = f"family {family!r} differs from the config's family {run.family!r}"
            raise ValueError(msg)
    elif config is not None:
        run = load_run_config(config, family)
    elif family is not None:
        run = RunConfig(family=get_family(family).name)
    else:
        msg = f"train: give a family ({', '.join(family_names())}) or a config naming one"
        raise ValueError(msg)
    run = run.with_train(steps=steps, device=device, threads=threads, progress=progress)
    if seeds < 1:
        msg = f"seeds must be >= 1, got {seeds}"
        raise ValueError(msg)
    if run.train.device.startswith("cuda") and not torch.cuda.is_available():
        msg = f"device {run.train.device!r} requested but no CUDA device is available (torch {torch.__version__})"
        raise ValueError(msg)
    showers, source = _prepare(data, run)
    ctx = init_distributed(run.train.device)
    old_threads = torch.get_num_threads()
    # the idle cores unless told (torch's one-thread-per-core default stalls a busy machine)
    chosen = choose_threads(run.train.threads)
    torch.set_num_threads(chosen.threads)
    if run.train.progress and ctx.rank == 0 and not run.train.device.startswith("cuda"):
        stderr_console().print(f"{run.family}: torch uses {chosen}", markup=False, highlight=False)
    kw: dict[str, Any] = {"resume": resume, "ctx": ctx, "on_validation": on_validation}
    try:
        out = Path(out_dir)
        if seeds == 1:
            return [_fit(showers, source, run, out, **kw)]
        base = run.train.seed
        return [
            _fit(showers, source, run.with_train(seed=base + i), out / f"seed_{base + i}", **kw)
            for i in range(seeds)
        ]
    finally:
        torch.set_num_threads(old_threads)
        shutdown_distributed(ctx)
