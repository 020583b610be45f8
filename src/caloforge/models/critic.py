"""Conditional critics and the WGAN-GP gradient penalty (Gulrajani et al., arXiv:1704.00028).

Every critic scores standardised features: :meth:`Critic.standardise` maps raw inputs to
``z = (features(x) - shift) / scale`` per feature (``features``: an optional shape
normalisation and ``log1p(x / log_alpha)``), with ``shift`` and ``scale`` fitted once on real
data (:meth:`Critic.fit`, called by the families on their first training step and kept in
checkpoints), and ``forward(z, conditions)`` -- the critic's one training entry point -- scores
them. The gradient penalty acts in that standardised space.
Without it the 1-Lipschitz constraint binds in raw network space, where calorimeter features
are tiny and narrow (E_tot/E_inc of a sampling calorimeter spreads by ~1e-3, a tail cell's
energy fraction by ~1e-5): the critic can then only change by ~1e-3 across the whole real
distribution, and the generator gets almost no signal about widths -- the resolution a plain
WGAN-GP misses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from caloforge.models.dense import mlp

__all__ = ["Critic", "gradient_penalty"]

#: a feature whose std is below this fraction of the largest std is scaled by that floor instead
SCALE_FLOOR = 1e-3


class Critic(nn.Module):
    """``(z (B, n_in), conditions (B, cond_dim)) -> (B, 1)`` score of standardised features
    ``z = standardise(x)``; dense, LeakyReLU 0.2."""

    shift: torch.Tensor
    scale: torch.Tensor
    fitted: torch.Tensor
    zero_fraction: torch.Tensor

    def __init__(
        self,
        n_in: int,
        cond_dim: int,
        hidden: Sequence[int],
        *,
        log_alpha: float = 0.0,
        shape_only: bool = False,
    ) -> None:
        super().__init__()
        if not log_alpha >= 0:
            msg = f"log_alpha must be >= 0, got {log_alpha}"
            raise ValueError(msg)
        #: > 0: inputs go through ``log1p(x / log_alpha)`` before the standardisation (for
        #: non-negative energy fractions spanning many decades)
        self.log_alpha = float(log_alpha)
        #: divide the inputs by their sum first: the critic judges the shower shape only, blind
        #: to the total energy (which another critic then has to judge)
        self.shape_only = bool(shape_only)
        # no output bias: Wasserstein losses use score differences, so it would never learn
        self.net = mlp(n_in + cond_dim, hidden, 1, final_bias=False)
        self.register_buffer("shift", torch.zeros(n_in))
        self.register_buffer("scale", torch.ones(n_in))
        self.register_buffer("fitted", torch.zeros(()))
        #: per input, the fraction of real rows where it is <= 0 (fitted with the rest)
        self.register_buffer("zero_fraction", torch.zeros(n_in))

    @property
    def is_fitted(self) -> bool:
        return bool(self.fitted > 0)

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        """Set the standardisation from real inputs ``x`` (B, n_in), B >= 2."""
        if x.ndim != 2 or x.shape[1] != self.shift.numel() or len(x) < 2:
            msg = f"Critic.fit needs (B >= 2, {self.shift.numel()}) inputs, got {tuple(x.shape)}"
            raise ValueError(msg)
        self.zero_fraction.copy_((x <= 0).to(self.zero_fraction).mean(dim=0))
        x = self.features(x).to(torch.float64)
        std = x.std(dim=0)
        floor = float(std.max()) * SCALE_FLOOR
        self.shift.copy_(x.mean(dim=0).to(self.shift))
        self.scale.copy_(std.clamp_min(floor if floor > 0 else 1.0).to(self.scale))
        self.fitted.fill_(1.0)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.shape_only:
            x = x / x.sum(dim=1, keepdim=True).clamp_min(1e-12)
        if self.log_alpha > 0:
            return torch.log1p(x.clamp_min(0) / self.log_alpha)
        return x

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """Raw inputs (B, n_in) -> the standardised features (B, n_in) :meth:`forward` scores."""
        return (self.features(x) - self.shift) / self.scale

    def forward(self, z: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """Score (B, 1) of standardised features ``z`` (B, n_in) under ``conditions``."""
        return self.net(torch.cat([z, conditions], dim=1))


def gradient_penalty(
    critic: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    z_real: torch.Tensor,
    z_fake: torch.Tensor,
    conditions: torch.Tensor,
    eps: torch.Tensor,
) -> torch.Tensor:
    """Mean of ``(||grad_z critic(z_hat)||_2 - 1)^2`` on ``z_hat = eps z_real + (1 - eps) z_fake``
    in the critic's standardised space (``z = Critic.standardise(x)``, (B, n_in) each).

    ``critic``: a :class:`Critic` or the handle training calls it through. ``eps`` (B, 1)
    uniform in [0, 1], drawn by the caller (explicit randomness).
    """
    z_hat = (eps * z_real.detach() + (1 - eps) * z_fake.detach()).detach().requires_grad_(True)
    score = critic(z_hat, conditions)
    (grad,) = torch.autograd.grad(score.sum(), z_hat, create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()
