"""Conditional critics and the WGAN-GP gradient penalty (Gulrajani et al., arXiv:1704.00028)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from caloforge.models.dense import mlp

__all__ = ["Critic", "gradient_penalty"]


class Critic(nn.Module):
    """``(x (B, n_in), conditions (B, cond_dim)) -> (B, 1)`` score; dense, LeakyReLU 0.2."""

    def __init__(self, n_in: int, cond_dim: int, hidden: Sequence[int]) -> None:
        super().__init__()
        # no output bias: Wasserstein losses use score differences, so it would never learn
        self.net = mlp(n_in + cond_dim, hidden, 1, final_bias=False)

    def forward(self, x: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, conditions], dim=1))


def gradient_penalty(
    critic: Critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    conditions: torch.Tensor,
    eps: torch.Tensor,
) -> torch.Tensor:
    """Mean of ``(||grad_x critic(x_hat)||_2 - 1)^2`` on ``x_hat = eps real + (1 - eps) fake``.

    ``eps`` (B, 1) uniform in [0, 1], drawn by the caller (explicit randomness).
    """
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    score = critic(x_hat, conditions)
    (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()
