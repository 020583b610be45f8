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
    Network-space cells at or below the per-cell buffer ``cell_threshold`` are set to zero
    (zero thresholds: no effect). The GAN families calibrate it during training so that each
    cell is empty as often as in the data (a softmax head never outputs exact zeros, while
    ~40% of the cells of a 50 GeV photon in atlas-em-barrel are empty).
    """

    cell_threshold: torch.Tensor

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
        self.register_buffer("cell_threshold", torch.zeros(geometry.n_cells))

    @property
    def noise_dim(self) -> int:
        return self._noise_dim

    def unthresholded(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """Network-space cells before the zero-suppression threshold."""
        return self.head(self.body(torch.cat([noise, conditions], dim=1)))

    def transformed(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        x = self.unthresholded(noise, conditions)
        return torch.where(x > self.cell_threshold, x, torch.zeros_like(x))
