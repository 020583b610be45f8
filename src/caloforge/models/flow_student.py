"""Distillation of a trained ``flow`` (teacher) into another ``flow`` (student).

CaloFlow (Krause and Shih 2021) distils a MAF teacher, whose sampling is sequential, into an
IAF student that samples in one pass, by *probability-density distillation*: the student is
trained to agree with the teacher both in data space -- the same base sample ``z`` must give the
same shower, ``|| s^{-1}(z) - t^{-1}(z) ||^2`` -- and in latent space -- the same data ``x`` must
map to the same point, ``|| s(x) - t(x) ||^2``. Here both flows are spline couplings (each
direction is one pass), so the student is not a change of direction but a smaller, faster
network: fewer and narrower couplings that learn the teacher's map rather than the likelihood.

:func:`distillation_loss` is that loss (mean squared error per dimension, each term returned
separately); :class:`FlowTeacher` loads the teacher and checks the student can learn from it.
The student starts from the teacher's preprocessing statistics (its network space is the
teacher's) and is a ``flow`` artifact like any other (same generator, export and parity).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from caloforge.models.conditions import ConditionEncoding
from caloforge.models.reflow import load_frozen_teacher

if TYPE_CHECKING:
    from caloforge.geometry import Geometry
    from caloforge.models.flow import FlowConfig, FlowGenerator
    from caloforge.models.spline import CouplingFlow

__all__ = ["SHARED", "FlowTeacher", "distillation_loss"]

#: hyper-parameters a student must share with its teacher (the preprocessing: its network space)
SHARED = ("logit_alpha", "noise_mev", "cut_mev", "u0_headroom", "shape_scaling")


def distillation_loss(
    student: CouplingFlow,
    teacher: CouplingFlow,
    x: torch.Tensor,
    z: torch.Tensor,
    c: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """``{"x": data-space term, "z": latent-space term}``: mean squared differences between the
    student's and the teacher's inverse at base samples ``z`` (N, dim) and their forward at data
    ``x`` (N, dim), both given conditions ``c``. Gradients reach the student only."""
    with torch.no_grad():
        x_teacher = teacher.inverse(z, c)
        z_teacher, _ = teacher(x, c)
    z_student, _ = student(x, c)
    return {
        "x": ((student.inverse(z, c) - x_teacher) ** 2).mean(),
        "z": ((z_student - z_teacher) ** 2).mean(),
    }


class FlowTeacher:
    """A trained ``flow`` artifact that a student learns from."""

    def __init__(self, generator: FlowGenerator, path: Path) -> None:
        self.generator, self.path = generator, path

    @classmethod
    def load(
        cls,
        path: str | Path,
        geometry: Geometry,
        encoding: ConditionEncoding,
        student: FlowConfig,
    ) -> FlowTeacher:
        """Load the teacher at ``path``; errors name the key that makes it unusable for a
        student with hyper-parameters ``student`` on ``geometry`` and ``encoding``."""
        from caloforge.models.flow import FlowGenerator

        art = load_frozen_teacher(
            path, geometry, encoding, student, family="flow", keys=SHARED, shares="preprocessing"
        )
        assert isinstance(art.generator, FlowGenerator)  # checked with the family
        if art.hparams.teacher:
            msg = f"{Path(path) / 'model.json'}: key 'hyperparameters.teacher' is set; distil from a model trained on data"
            raise ValueError(msg)
        art.generator.eval()
        return cls(art.generator, Path(path))

    def to(self, device: torch.device | str) -> FlowTeacher:
        self.generator.to(device)
        return self
