"""Minibatch discrimination (Salimans et al., "Improved techniques for training GANs",
arXiv:1606.03498, sec. 3.2).

A discriminator that scores each sample alone cannot see that a generator's samples are too
alike (mode collapse). This layer gives each sample features of its closeness to the others of
its batch: ``M = f T`` reshapes to (B, n_kernels, kernel_dim); for kernel k,
``o_k(i) = sum_{j != i} exp(-||M_ik - M_jk||_1)``; the output is ``concat(f, o)``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MinibatchDiscrimination"]


class MinibatchDiscrimination(nn.Module):
    """(B, n_in) -> (B, n_in + n_kernels)."""

    def __init__(self, n_in: int, n_kernels: int, kernel_dim: int) -> None:
        super().__init__()
        if min(n_in, n_kernels, kernel_dim) < 1:
            msg = f"minibatch discrimination needs positive sizes, got {n_in}, {n_kernels}, {kernel_dim}"
            raise ValueError(msg)
        self.n_kernels, self.kernel_dim = int(n_kernels), int(kernel_dim)
        self.tensor = nn.Parameter(torch.randn(n_in, n_kernels * kernel_dim) * 0.1)

    def closeness(self, f: torch.Tensor) -> torch.Tensor:
        """(B, n_in) -> (B, n_kernels): ``sum_{j != i} exp(-L1 distance)`` per kernel."""
        m = (f @ self.tensor).reshape(-1, self.n_kernels, self.kernel_dim)
        dist = (m[:, None] - m[None, :]).abs().sum(dim=3)  # (B, B, n_kernels)
        return torch.exp(-dist).sum(dim=1) - 1.0  # the j = i term is exp(0) = 1

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return torch.cat([f, self.closeness(f)], dim=1)
