"""Invertible preprocessing between cells in MeV and the space the networks see.

Every transform starts from the energy fractions ``f = cells / E_inc`` (dimensionless, so one
network serves all incident energies) and then applies an element-wise map:

- ``"fraction"``: ``x = f`` (for softmax-fraction and ReLU outputs);
- ``"log"``: ``x = log1p(f / alpha)`` (compresses the many-decade cell spectrum; ``alpha`` sets
  the fraction below which the map is linear).

Saved in model.json as ``{"kind": ..., "alpha": ...}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

__all__ = ["Preprocessing"]

Kind = Literal["fraction", "log"]


@dataclass(frozen=True)
class Preprocessing:
    kind: Kind = "fraction"
    alpha: float = 1e-4

    def __post_init__(self) -> None:
        if self.kind not in ("fraction", "log"):
            msg = f"preprocessing kind must be 'fraction' or 'log', got {self.kind!r}"
            raise ValueError(msg)
        if not self.alpha > 0:
            msg = f"preprocessing alpha must be > 0, got {self.alpha}"
            raise ValueError(msg)

    # fraction <-> network space
    def from_fraction(self, f: torch.Tensor) -> torch.Tensor:
        return f if self.kind == "fraction" else torch.log1p(f / self.alpha)

    def to_fraction(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.kind == "fraction" else self.alpha * torch.expm1(x)

    # MeV <-> network space
    def forward(self, cells_mev: torch.Tensor, energy_mev: torch.Tensor) -> torch.Tensor:
        """(N, n_cells) MeV and (N, 1) MeV -> (N, n_cells) network space."""
        return self.from_fraction(cells_mev / energy_mev)

    def inverse(self, x: torch.Tensor, energy_mev: torch.Tensor) -> torch.Tensor:
        """(N, n_cells) network space and (N, 1) MeV -> (N, n_cells) cells in MeV."""
        return self.to_fraction(x) * energy_mev

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "alpha": self.alpha}
