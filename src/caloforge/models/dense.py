"""Dense building blocks shared by the families: MLPs and cell-output heads.

Heads map the last hidden layer to the network space of :mod:`caloforge.models.preprocessing`:

- ``"softmax"``: ``softmax(logits) * softplus(s)`` -- cell fractions of the shower times an
  energy scale ``s`` (the predicted E_tot / E_inc); the ATLAS FastCaloGAN output. ``s`` is a
  linear map times the constant :data:`SCALE_GAIN`: with Adam every weight moves by about the
  learning rate per step whatever its gradient, and on the undamped path that random walk alone
  spreads E_tot / E_inc by ~10%, several times a calorimeter's resolution at 50 GeV. The
  families set the bias from the data's mean E_tot / E_inc (:meth:`CellHead.set_mean_scale`).
- ``"relu"``: ``relu(linear)`` -- non-negative cells (times E_inc after the preprocessing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

__all__ = ["CellHead", "mlp"]

HeadKind = Literal["softmax", "relu"]

#: damping of the softmax head's energy-scale path (see the module docstring)
SCALE_GAIN = 0.05


def mlp(
    n_in: int, hidden: Sequence[int], n_out: int, *, slope: float = 0.2, final_bias: bool = True
) -> nn.Sequential:
    """Linear + LeakyReLU blocks, then a final Linear to ``n_out`` (no final activation)."""
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.LeakyReLU(slope)]
        width = h
    layers.append(nn.Linear(width, n_out, bias=final_bias))
    return nn.Sequential(*layers)


class CellHead(nn.Module):
    """(N, n_hidden) -> (N, n_cells) network-space cells; see the module docstring."""

    def __init__(self, n_hidden: int, n_cells: int, kind: HeadKind) -> None:
        super().__init__()
        if kind not in ("softmax", "relu"):
            msg = f"output head must be 'softmax' or 'relu', got {kind!r}"
            raise ValueError(msg)
        self.kind = kind
        self.cells = nn.Linear(n_hidden, n_cells)
        self.scale = nn.Linear(n_hidden, 1) if kind == "softmax" else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.scale is None:
            return torch.relu(self.cells(h))
        s = SCALE_GAIN * self.scale(h)
        return torch.softmax(self.cells(h), dim=1) * nn.functional.softplus(s)

    @torch.no_grad()
    def set_mean_scale(self, ratio: float) -> None:
        """Softmax head: start E_tot/E_inc at ``ratio`` (> 0) on average, through the bias."""
        if self.scale is None:
            return
        if not ratio > 0:
            msg = f"mean E_tot/E_inc must be > 0, got {ratio}"
            raise ValueError(msg)
        inv_softplus = ratio + math.log(-math.expm1(-ratio))
        self.scale.bias.fill_(inv_softplus / SCALE_GAIN)
