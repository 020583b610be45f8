"""The dense conditional generator used by every current family (GAN generator, VAE decoder)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from caloforge.geometry import Geometry
from caloforge.models.base import Generator
from caloforge.models.conditions import ConditionEncoding
from caloforge.models.dense import CellHead, EnergyRatioModel, HeadKind, mlp
from caloforge.models.preprocessing import Preprocessing

__all__ = ["DenseGenerator"]


class DenseGenerator(Generator):
    """MLP on ``concat(noise, conditions)`` -> :class:`~caloforge.models.dense.CellHead`.

    ``hidden`` widths of the hidden layers (LeakyReLU 0.2), ``head`` the output head.
    Network-space cells at or below the per-cell buffer ``cell_threshold`` are set to zero
    (zero thresholds: no effect). The GAN families calibrate it during training so that each
    cell is empty as often as in the data (a softmax head never outputs exact zeros, while
    ~40% of the cells of a 50 GeV photon in atlas-em-barrel are empty).

    With the ``softmax-likelihood`` head, E_tot/E_inc is drawn from ``self.energy`` (an
    :class:`~caloforge.models.dense.EnergyRatioModel` of the conditions) with the first two
    noise components, which the MLP also sees (so the shape can follow the total); after the
    zero-suppression the surviving cells are rescaled so that they add up to exactly that
    E_tot/E_inc.
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
        if head.startswith("softmax") and preprocessing.kind != "fraction":
            msg = "the softmax head outputs energy fractions; use preprocessing kind 'fraction'"
            raise ValueError(msg)
        self._noise_dim = int(noise_dim)
        self.body = nn.Sequential(
            mlp(self._noise_dim + encoding.dim, hidden[:-1], hidden[-1]), nn.LeakyReLU(0.2)
        )
        self.head = CellHead(hidden[-1], geometry.n_cells, head)
        self.energy = None
        if head == "softmax-likelihood":
            if self._noise_dim < 2:
                msg = "the softmax-likelihood head needs noise_dim >= 2"
                raise ValueError(msg)
            self.energy = EnergyRatioModel(encoding.dim)
        self.register_buffer("cell_threshold", torch.zeros(geometry.n_cells))

    @property
    def noise_dim(self) -> int:
        return self._noise_dim

    def unthresholded(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """Network-space cells before the zero-suppression threshold."""
        x = self.head(self.body(torch.cat([noise, conditions], dim=1)))
        if self.energy is not None:
            x = x * self.energy.sample(noise[:, 0], noise[:, 1], conditions)[:, None]
        return x

    def transformed(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        x = self.unthresholded(noise, conditions)
        kept = torch.where(x > self.cell_threshold, x, torch.zeros_like(x))
        if self.energy is None:
            return kept
        # the suppressed cells' energy goes back to the survivors: E_tot/E_inc as sampled
        return kept * (x.sum(dim=1, keepdim=True) / kept.sum(dim=1, keepdim=True).clamp_min(1e-12))

    @torch.no_grad()
    def fit_energy_scale(self, ratios: torch.Tensor) -> None:
        """Start the energy scale at the data's E_tot/E_inc (B,): the softmax head's mean, or
        the likelihood model's standardisation."""
        if self.energy is not None:
            self.energy.set_reference(ratios)
        else:
            self.head.set_mean_scale(float(ratios.mean()))
