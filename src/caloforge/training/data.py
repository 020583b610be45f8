"""Training data: the seeded train/validation split and a resumable batch stream."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from caloforge.models.base import Batch
from caloforge.showerset import ShowerSet

__all__ = ["BatchStream", "split"]


def split(
    showers: ShowerSet, val_fraction: float, max_val: int, seed: int
) -> tuple[ShowerSet, ShowerSet]:
    """Seeded held-out split: ``(train, validation)``; validation is at most ``max_val`` rows."""
    n = len(showers)
    perm = np.random.default_rng(seed).permutation(n)
    if n < 2:
        msg = f"need at least 2 showers to split into training and validation, got {n}"
        raise ValueError(msg)
    n_val = min(max(1, round(n * val_fraction)), max_val, n - 1)
    return showers[np.sort(perm[n_val:])], showers[np.sort(perm[:n_val])]


@dataclass
class BatchStream:
    """Shuffled batches without replacement, reshuffled each epoch; last partial batch dropped.

    All randomness comes from ``rng`` (a CPU torch generator), and the state (generator state,
    epoch, position, current permutation) is saved in checkpoints, so a resumed run sees exactly
    the batches the uninterrupted one would have.
    """

    x: torch.Tensor
    conditions: torch.Tensor
    batch_size: int
    rng: torch.Generator
    epoch: int = 0
    position: int = 0
    perm: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if len(self.x) < self.batch_size:
            msg = f"the training split has {len(self.x)} showers, fewer than batch_size={self.batch_size}"
            raise ValueError(msg)

    def __call__(self) -> Batch:
        if self.perm is None or self.position + self.batch_size > len(self.perm):
            if self.perm is not None:
                self.epoch += 1
            self.perm = torch.randperm(len(self.x), generator=self.rng)
            self.position = 0
        idx = self.perm[self.position : self.position + self.batch_size].to(self.x.device)
        self.position += self.batch_size
        return Batch(self.x[idx], self.conditions[idx])
