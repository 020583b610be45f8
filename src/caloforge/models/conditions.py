"""Condition encoding: incident energy (log-scaled to the trained range) and alignment config.

Conditions tensor, (N, 1 + n_configs') float32: column 0 is ``(ln E - centre) / half_width``
with ``centre`` and ``half_width`` from the trained energy range (so the trained range maps to
[-1, 1]); when the geometry has several alignment configurations (8 for ``atlas-em-barrel``)
and the model conditions on them, a one-hot block follows. The energy is recoverable from
column 0, which lets a generator turn energy fractions into MeV without a second input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ConditionEncoding"]

#: smallest half-width of the ln E window: a single-energy training set still gets a scale
MIN_HALF_WIDTH = 0.5


@dataclass(frozen=True)
class ConditionEncoding:
    """How (energy in MeV, config) become the conditions tensor; saved in model.json."""

    energy_min_mev: float
    energy_max_mev: float
    n_configs: int = 1

    def __post_init__(self) -> None:
        if not (0 < self.energy_min_mev <= self.energy_max_mev):
            msg = f"trained energy range must satisfy 0 < min <= max MeV, got [{self.energy_min_mev}, {self.energy_max_mev}]"
            raise ValueError(msg)
        if self.n_configs < 1:
            msg = f"n_configs must be >= 1, got {self.n_configs}"
            raise ValueError(msg)

    @property
    def centre(self) -> float:
        return 0.5 * (math.log(self.energy_min_mev) + math.log(self.energy_max_mev))

    @property
    def half_width(self) -> float:
        half = 0.5 * (math.log(self.energy_max_mev) - math.log(self.energy_min_mev))
        return max(half, MIN_HALF_WIDTH)

    @property
    def uses_config(self) -> bool:
        return self.n_configs > 1

    @property
    def dim(self) -> int:
        return 1 + (self.n_configs if self.uses_config else 0)

    def in_range(self, energy_mev: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
        """Boolean mask of energies inside the trained range (with a relative tolerance)."""
        e = np.asarray(energy_mev, dtype=np.float64)
        return (e >= self.energy_min_mev * (1 - rtol)) & (e <= self.energy_max_mev * (1 + rtol))

    def encode(
        self, energy_mev: np.ndarray | torch.Tensor, config: np.ndarray | torch.Tensor | None
    ) -> torch.Tensor:
        """(N,) energies in MeV and (N,) configs (or None) -> (N, dim) float32 conditions."""
        e = torch.as_tensor(np.asarray(energy_mev, dtype=np.float64)).reshape(-1)
        if not torch.isfinite(e).all() or (e <= 0).any():
            msg = "encode_conditions: energies must be positive and finite (MeV)"
            raise ValueError(msg)
        cols = [((torch.log(e) - self.centre) / self.half_width).to(torch.float32)[:, None]]
        if self.uses_config:
            if config is None:
                msg = f"this model is conditioned on the alignment configuration (0..{self.n_configs - 1}); pass config"
                raise ValueError(msg)
            c = torch.as_tensor(np.asarray(config)).reshape(-1).to(torch.int64)
            if c.shape != e.shape:
                c = c.expand(e.shape) if c.numel() == 1 else c
            if c.shape != e.shape:
                msg = f"config has {c.numel()} entries for {e.numel()} energies"
                raise ValueError(msg)
            if (c < 0).any() or (c >= self.n_configs).any():
                msg = f"config must be in 0..{self.n_configs - 1}"
                raise ValueError(msg)
            cols.append(torch.nn.functional.one_hot(c, self.n_configs).to(torch.float32))
        return torch.cat(cols, dim=1)

    def decode_energy(self, conditions: torch.Tensor) -> torch.Tensor:
        """(N, dim) conditions -> (N, 1) energies in MeV (export-friendly tensor ops)."""
        return torch.exp(conditions[:, :1] * self.half_width + self.centre)
