"""Reflow distillation of a flow-matching teacher into a few-step student (rectified flow).

Rectified flow (Liu, Gong and Liu, ICLR 2023) straightens a trained flow by training it again on
*coupled* pairs: the noise ``z`` and the teacher's own output ``x1 = teacher(z)`` instead of
independent noise and data. The student's paths from ``z`` to ``x1`` are then close to straight
lines, so a handful of Euler steps -- one in the limit -- lands where the teacher's many-step
solve does. The student starts from the teacher's weights and preprocessing (its network space
is the teacher's), keeps the flow-matching loss, and is sampled with its own ``solver`` and
``solver_steps`` (e.g. one Euler step: one evaluation of each network per shower).

:class:`Teacher` makes the pairs, fresh for every batch (the teacher's fixed-step solve, no
gradients): for the energy stage ``(z_e, y_e)``; for the shape stage ``(z_s, y_s)`` given the
teacher's layer energies for an independent ``z_e`` (what the shape stage is conditioned on).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from caloforge.models.conditions import ConditionEncoding
from caloforge.models.shower_transform import ShowerTransform
from caloforge.models.velocity import integrate

if TYPE_CHECKING:
    from caloforge.geometry import Geometry
    from caloforge.models.artifact import Artifact
    from caloforge.models.flow_matching import FlowMatchingConfig, FlowMatchingGenerator

__all__ = ["ARCHITECTURE", "Teacher", "load_frozen_teacher"]

#: hyper-parameters a student must share with its teacher (it starts from the teacher's tensors)
ARCHITECTURE = (
    "energy_hidden",
    "energy_blocks",
    "shape_hidden",
    "shape_blocks",
    "time_frequencies",
    "time_scale",
    "logit_alpha",
    "noise_mev",
    "cut_mev",
    "u0_headroom",
)


def load_frozen_teacher(
    path: str | Path,
    geometry: Geometry,
    encoding: ConditionEncoding,
    student: Any,
    *,
    family: str,
    keys: tuple[str, ...],
    shares: str,
) -> Artifact:
    """The trained ``family`` model at ``path``, its generator frozen, checked usable as the
    teacher of a student with hyper-parameters ``student`` on ``geometry`` and ``encoding``
    (the hyper-parameters ``keys``, its ``shares``, must be the student's); errors name the key.
    Used by every distillation: reflow here and the flow's student."""
    from caloforge.models.artifact import load_model

    art = load_model(path)
    where = f"{Path(path) / 'model.json'}"
    if art.family != family:
        msg = f"{where}: key 'family' is {art.family!r}; this teacher must be a {family!r} model"
        raise ValueError(msg)
    if not art.geometry.same_readout(geometry):
        msg = f"{where}: key 'geometry' ({art.geometry.name!r}) differs from the training data's ({geometry.name!r})"
        raise ValueError(msg)
    if art.encoding != encoding:
        msg = f"{where}: key 'conditions' {dataclasses.asdict(art.encoding)} differs from the student's {dataclasses.asdict(encoding)} (train on the teacher's data)"
        raise ValueError(msg)
    for key in keys:
        if getattr(art.hparams, key) != getattr(student, key):
            msg = f"{where}: key 'hyperparameters.{key}' is {getattr(art.hparams, key)!r}; the student has {getattr(student, key)!r} (a student shares its teacher's {shares})"
            raise ValueError(msg)
    transform = getattr(art.generator, "transform", None)
    if not (isinstance(transform, ShowerTransform) and transform.is_fitted):
        msg = f"{where}: the teacher's preprocessing is not fitted (an untrained model)"
        raise ValueError(msg)
    for p in art.generator.parameters():
        p.requires_grad_(False)
    return art


class Teacher:
    """A trained ``flow-matching`` artifact that makes (noise, output) pairs for a student."""

    def __init__(self, generator: FlowMatchingGenerator, path: Path) -> None:
        self.generator, self.path = generator, path

    @classmethod
    def load(
        cls,
        path: str | Path,
        geometry: Geometry,
        encoding: ConditionEncoding,
        student: FlowMatchingConfig,
    ) -> Teacher:
        """Load the teacher at ``path`` and check that a student with hyper-parameters
        ``student`` on ``geometry`` and ``encoding`` can learn from it; errors name the key."""
        from caloforge.models.flow_matching import FlowMatchingGenerator

        art = load_frozen_teacher(
            path,
            geometry,
            encoding,
            student,
            family="flow-matching",
            keys=ARCHITECTURE,
            shares="architecture",
        )
        assert isinstance(art.generator, FlowMatchingGenerator)  # checked with the family
        return cls(art.generator, Path(path))

    def to(self, device: torch.device | str) -> Teacher:
        self.generator.to(device)
        return self

    def _solve(self, field: torch.nn.Module, x0: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        gen = self.generator
        return integrate(field, x0, c, gen.steps, gen.solver)

    @torch.no_grad()
    def energy_pairs(self, z_e: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """(N, n_layers) noise -> the teacher's (N, n_layers) energy-stage output, clamped to
        the preprocessing's range (:meth:`ShowerTransform.clamp`: the same showers)."""
        gen = self.generator
        return gen.transform.clamp(self._solve(gen.energy_field, z_e, conditions), "energy")

    @torch.no_grad()
    def shape_pairs(
        self, z_e: torch.Tensor, z_s: torch.Tensor, conditions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The teacher's layer energies (N, n_layers) for ``z_e`` and its shape-stage output
        (N, n_cells) for ``z_s`` given them, clamped to the preprocessing's range (the same
        showers; a 2000-step teacher on the 50 GeV cascade put one cell of a 256-shower batch
        at 2.3e5 where the range ends at 8.2, and its student's loss went from 0.01 to 2.6e8)."""
        gen = self.generator
        e = gen.transform.energy_inverse(self.energy_pairs(z_e, conditions))
        y = self._solve(gen.shape_field, z_s, gen.shape_conditions(conditions, e))
        return e, gen.transform.clamp(y, "shape")
