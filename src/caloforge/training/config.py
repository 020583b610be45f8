"""Training configuration: typed dataclasses, defaults defined once, TOML in and out.

A run file (``--config cfg.toml``)::

    family = "wgan-gp"          # optional; must agree with --family when both are given

    [train]                     # TrainConfig
    steps = 2000
    batch_size = 128

    [model]                     # the family's hyper-parameters (e.g. WGANGPConfig)
    n_critic = 5

    [preprocessing]             # caloforge.models.Preprocessing
    kind = "fraction"

Unknown tables and keys are errors naming the file and the key.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from caloforge.io import atomic_write_text
from caloforge.models.hparams import from_mapping, to_mapping
from caloforge.models.preprocessing import Preprocessing
from caloforge.models.registry import get_family
from caloforge.training.schedule import SCHEDULES

__all__ = ["RunConfig", "TrainConfig", "load_run_config", "read_toml", "save_run_config"]


@dataclass(frozen=True)
class TrainConfig:
    """How to train (any family). ``epochs``, when set, overrides ``steps``.

    A step is one generator update (a GAN step also makes ``n_critic`` critic updates, each
    on its own batch); an epoch is one pass of the training split through the batches drawn.
    """

    steps: int = 2000
    epochs: float | None = None
    batch_size: int = 128
    lr: float = 5e-4  # the rate of every recorded GAN benchmark (benchmarks/results/models.md)
    betas: tuple[float, ...] = (0.5, 0.9)
    device: str = "cpu"
    threads: int | None = None
    seed: int = 0
    val_fraction: float = 0.1
    val_max_showers: int = 5000
    validate_every: int = 500
    checkpoint_every: int = 500
    log_every: int = 10
    max_abs_loss: float = 1e8
    geometry: str | None = None
    condition_on_config: bool = True
    progress: bool = True
    #: learning-rate schedule and weight averaging (:mod:`caloforge.training.schedule`)
    lr_schedule: str = "constant"
    lr_warmup_steps: int = 0
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        positive = {
            "steps": self.steps,
            "batch_size": self.batch_size,
            "validate_every": self.validate_every,
            "checkpoint_every": self.checkpoint_every,
            "log_every": self.log_every,
        }
        for key, value in positive.items():
            if value < 1:
                msg = f"train.{key} must be >= 1, got {value}"
                raise ValueError(msg)
        if self.epochs is not None and not self.epochs > 0:
            msg = f"train.epochs must be > 0, got {self.epochs}"
            raise ValueError(msg)
        if not (self.lr > 0 and len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas)):
            msg = f"train.lr must be > 0 and train.betas two numbers in [0, 1); got {self.lr}, {self.betas}"
            raise ValueError(msg)
        if not 0 < self.val_fraction < 1:
            msg = f"train.val_fraction must be in (0, 1), got {self.val_fraction}"
            raise ValueError(msg)
        if self.lr_schedule not in SCHEDULES:
            msg = (
                f"train.lr_schedule must be one of {', '.join(SCHEDULES)}, got {self.lr_schedule!r}"
            )
            raise ValueError(msg)
        if self.lr_warmup_steps < 0 or not 0 <= self.ema_decay < 1:
            msg = f"train.lr_warmup_steps must be >= 0 and train.ema_decay in [0, 1); got {self.lr_warmup_steps}, {self.ema_decay}"
            raise ValueError(msg)
        if self.threads is not None and self.threads < 1:
            msg = f"train.threads must be >= 1, got {self.threads}"
            raise ValueError(msg)

    def total_steps(self, n_train: int, batches_per_step: int) -> int:
        if self.epochs is None:
            return self.steps
        return max(1, math.ceil(self.epochs * n_train / (self.batch_size * batches_per_step)))


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs besides the data: family, training, model, preprocessing."""

    family: str
    train: TrainConfig = field(default_factory=TrainConfig)
    model: Any = None
    preprocessing: Preprocessing = field(default_factory=Preprocessing)

    def __post_init__(self) -> None:
        config = get_family(self.family).Config
        if self.model is None:
            object.__setattr__(self, "model", config())
        elif not isinstance(self.model, config):
            msg = f"family {self.family!r} takes a {config.__name__} as model, got {type(self.model).__name__}"
            raise ValueError(msg)

    def with_train(self, **changes: Any) -> RunConfig:
        """A copy with TrainConfig fields replaced (``None`` values are ignored)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        return replace(self, train=replace(self.train, **changes)) if changes else self

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "train": to_mapping(self.train),
            "model": to_mapping(self.model),
            "preprocessing": to_mapping(self.preprocessing),
        }


def run_config_from_dict(doc: dict[str, Any], where: str, family: str | None = None) -> RunConfig:
    unknown = sorted(set(doc) - {"family", "train", "model", "preprocessing"})
    if unknown:
        msg = f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; expected family, [train], [model], [preprocessing]"
        raise ValueError(msg)
    file_family = doc.get("family")
    if family and file_family and family != file_family:
        msg = f"{where}: key 'family' is {file_family!r} but family {family!r} was requested"
        raise ValueError(msg)
    name = family or file_family
    if not name:
        msg = f"{where}: no family given (key 'family' or --family)"
        raise ValueError(msg)
    cls = get_family(str(name))
    for table in ("train", "model", "preprocessing"):
        if not isinstance(doc.get(table, {}), dict):
            msg = f"{where}: key {table!r} must be a table"
            raise ValueError(msg)
    return RunConfig(
        family=cls.name,
        train=from_mapping(TrainConfig, doc.get("train", {}), f"{where} [train]"),
        model=cls.config_from_mapping(doc.get("model", {}), f"{where} [model]"),
        preprocessing=from_mapping(
            Preprocessing, doc.get("preprocessing", {}), f"{where} [preprocessing]"
        ),
    )


def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """The TOML document in ``path``; a missing file or invalid TOML is a ValueError naming the
    file (``what``: how the message names a missing one, e.g. "search-space file")."""
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: no such {what}"
        raise ValueError(msg)
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path}: not valid TOML: {exc}"
        raise ValueError(msg) from exc


def load_run_config(path: str | Path, family: str | None = None) -> RunConfig:
    """Read a TOML run file (see the module docstring); ``family`` overrides an absent key."""
    return run_config_from_dict(read_toml(path), str(path), family)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def dumps_toml(run: RunConfig) -> str:
    """The run as TOML (``None`` values are left out: they are the defaults)."""
    d = run.to_dict()
    lines = [f"family = {_toml_value(d['family'])}"]
    for table in ("train", "model", "preprocessing"):
        lines += ["", f"[{table}]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in d[table].items() if v is not None]
    return "\n".join(lines) + "\n"


def save_run_config(path: str | Path, run: RunConfig) -> None:
    atomic_write_text(path, dumps_toml(run))
