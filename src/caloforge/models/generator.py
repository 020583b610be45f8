"""The dense conditional generator used by every current family (GAN generator, VAE decoder)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from caloforge.geometry import Geometry
from caloforge.models.base import Generator
from caloforge.models.conditions import ConditionEncoding
from caloforge.models.dense import CellHead, HeadKind, mlp
from caloforge.models.preprocessing import Preprocessing

__all__ = ["DenseGenerator"]


class DenseGenerator(Generator):
    """MLP on ``concat(noise, conditions)`` -> :class:`~caloforge.models.dense.CellHead`.

    ``hidden`` widths of the hidden layers (LeakyReLU 0.2), ``head`` the output head.
    """

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        *,
        noise_dim: int,
        hidden: Sequence[int],
        head: HeadKind,
    ) -> None:
        super().__init__(geometry, encoding, preprocessing)
        if not hidden:
            msg = "a dense generator needs at least one hidden layer"
            raise ValueError(msg)
        if head == "softmax" and preprocessing.kind != "fraction":
            msg = "the softmax head outputs energy fractions; use preprocessing kind 'fraction'"
            raise ValueError(msg)
        self._noise_dim = int(noise_dim)
        self.body = nn.Sequential(
            mlp(self._noise_dim + encoding.dim, hidden[:-1], hidden[-1]), nn.LeakyReLU(0.2)
        )
        self.head = CellHead(hidden[-1], geometry.n_cells, head)

    @property
    def noise_dim(self) -> int:
        return self._noise_dim

    def transformed(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(torch.cat([noise, conditions], dim=1)))
