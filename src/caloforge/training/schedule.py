"""Learning-rate schedules and an exponential moving average (EMA) of the generator's weights.

Both are opt-in through ``[train]`` (:class:`~caloforge.training.config.TrainConfig`) and work
for every family, through the trainer:

- ``lr_schedule``: ``"constant"`` (the default: the optimisers' rates are never touched),
  ``"cosine"`` (an optional linear warm-up over ``lr_warmup_steps``, then half a cosine from the
  base rate to 0 at the last step) or ``"one-cycle"`` (Smith and Topin 2017, as PyTorch's
  ``OneCycleLR`` with its defaults: a cosine rise from base / 25 to the base rate over the first
  30% of the steps, then a cosine fall to base / 25 / 10^4). The base rate is each optimiser's
  own (the trainer's ``lr`` times the objective's ``lr_factor``).
- ``ema_decay`` (0 = off): the generator's parameters are averaged after every step,
  ``avg <- d avg + (1 - d) p`` with ``d = min(ema_decay, (1 + step) / (10 + step))`` (the usual
  warm-up, so early averages are not dominated by the initial weights). Validation, the
  best-validation artifact and the final artifact use the averaged weights; training continues
  on the raw ones. Buffers (fitted preprocessing statistics) are the live ones.

Both are functions of the step count, which the checkpoint holds; the averaged weights are
checkpointed too (:meth:`WeightAverage.state`), so a resumed run continues exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["SCHEDULES", "LearningRates", "WeightAverage", "lr_factor"]

SCHEDULES = ("constant", "cosine", "one-cycle")
#: OneCycleLR defaults: share of the steps spent rising, initial and final divisors
ONE_CYCLE_RISE, ONE_CYCLE_DIV, ONE_CYCLE_FINAL_DIV = 0.3, 25.0, 1e4


def _cosine(start: float, end: float, fraction: float) -> float:
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * fraction))


def lr_factor(schedule: str, step: int, total: int, warmup: int = 0) -> float:
    """The factor on the base learning rate for update ``step`` (0-based) of ``total``."""
    if schedule == "constant":
        return 1.0
    if total < 1 or step < 0:
        msg = f"learning-rate schedule needs total >= 1 and step >= 0, got {step} of {total}"
        raise ValueError(msg)
    if schedule == "cosine":
        rise = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
        return rise * _cosine(1.0, 0.0, min(step, total) / total)
    if schedule == "one-cycle":
        peak = ONE_CYCLE_RISE * total
        low = 1.0 / ONE_CYCLE_DIV
        if step < peak:
            return _cosine(low, 1.0, step / peak)
        return _cosine(1.0, low / ONE_CYCLE_FINAL_DIV, min(1.0, (step - peak) / (total - peak)))
    msg = f"train.lr_schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}"
    raise ValueError(msg)


class LearningRates:
    """Sets every optimiser's learning rates to (base rate) x :func:`lr_factor`; the base rates
    are read when constructed (before a checkpoint overwrites the groups)."""

    def __init__(
        self,
        optimisers: Mapping[str, torch.optim.Optimizer],
        schedule: str,
        warmup: int = 0,
    ) -> None:
        lr_factor(schedule, 0, 1, warmup)  # validates the name
        self.optimisers, self.schedule, self.warmup = optimisers, schedule, warmup
        self.base = {k: [float(g["lr"]) for g in o.param_groups] for k, o in optimisers.items()}

    def apply(self, step: int, total: int) -> None:
        """Rates for update ``step`` (0-based) of ``total``; a constant schedule changes nothing."""
        if self.schedule == "constant":
            return
        factor = lr_factor(self.schedule, step, total, self.warmup)
        for name, opt in self.optimisers.items():
            for group, base in zip(opt.param_groups, self.base[name], strict=True):
                group["lr"] = base * factor


class WeightAverage:
    """Exponential moving average of ``module``'s parameters (see the module docstring)."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            msg = f"train.ema_decay must be in (0, 1) (0 turns it off), got {decay}"
            raise ValueError(msg)
        self.module, self.decay = module, decay
        self.average = {k: p.detach().clone() for k, p in module.named_parameters()}

    def update(self, step: int) -> None:
        """Fold the current parameters in, after update number ``step`` (1-based)."""
        d = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, p in self.module.named_parameters():
                self.average[k].mul_(d).add_(p.detach(), alpha=1 - d)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """The module carries the averaged parameters inside the block, its own after."""
        params = dict(self.module.named_parameters())
        saved = {k: p.detach().clone() for k, p in params.items()}
        with torch.no_grad():
            for k, p in params.items():
                p.copy_(self.average[k])
        try:
            yield
        finally:
            with torch.no_grad():
                for k, p in params.items():
                    p.copy_(saved[k])

    def state(self) -> dict[str, torch.Tensor]:
        """The averaged parameters by name (for the checkpoint)."""
        return {k: v.detach().cpu().contiguous() for k, v in self.average.items()}

    def load(self, tensors: Mapping[str, torch.Tensor], source: str) -> None:
        """Restore :meth:`state`; a missing or extra name is a ValueError naming ``source``."""
        if set(tensors) != set(self.average):
            missing = sorted(set(self.average) - set(tensors))
            extra = sorted(set(tensors) - set(self.average))
            msg = f"{source}: averaged weights do not match the generator (missing {missing[:3]}, unexpected {extra[:3]})"
            raise ValueError(msg)
        for k, v in tensors.items():
            self.average[k] = v.to(self.average[k].device, self.average[k].dtype).clone()
