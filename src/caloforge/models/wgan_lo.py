"""``wgan-lo``: a Wasserstein GAN with gradient penalty and latent optimisation (LOGAN).

The "Getting High" WGAN (Buhmann et al. 2021) on ILD layer images; latent optimisation as in
LOGAN (Wu et al., arXiv:1912.00953): before each update the latent ``z`` takes one natural-
gradient ascent step on the critic's score, ``z' = z + alpha g / (beta + ||g||^2)`` with
``g = d D(G(z)) / dz``, and both losses use ``G(z')`` (the step itself is not differentiated
through). Generation uses ``G(z)``: the critic is a training-only network and the artifact has
no critic, so the exported generator keeps the noise as its only input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from caloforge.models.base import Batch
from caloforge.models.critic import gradient_penalty
from caloforge.models.grid_gan import GridGAN, GridGANConfig

__all__ = ["WGANLO", "WGANLOConfig"]


@dataclass(frozen=True)
class WGANLOConfig(GridGANConfig):
    gp_lambda: float = 10.0
    #: step size and damping of the natural-gradient latent step (LOGAN's values)
    latent_step: float = 0.9
    latent_damping: float = 5.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.gp_lambda < 0 or self.latent_step < 0 or not self.latent_damping > 0:
            msg = (
                "gp_lambda and latent_step must be >= 0 and latent_damping > 0, got "
                f"{self.gp_lambda}, {self.latent_step}, {self.latent_damping}"
            )
            raise ValueError(msg)


class WGANLO(GridGAN[WGANLOConfig]):
    name = "wgan-lo"
    Config = WGANLOConfig

    def optimised_noise(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """One natural-gradient step of the latent up the critic's score (detached)."""
        hp = self.hparams
        z = noise.detach().requires_grad_(True)
        score = self.critic(self.trained_generator(z, conditions), conditions).sum()
        (g,) = torch.autograd.grad(score, z)
        step = hp.latent_step * g / (hp.latent_damping + (g * g).sum(dim=1, keepdim=True))
        return (z + step).detach()

    def fake(self, batch: Batch, rng: torch.Generator) -> torch.Tensor:
        noise = self.noise_like(len(batch.x), rng, batch.x.device)
        z = self.optimised_noise(noise, batch.conditions)
        return self.trained_generator(z, batch.conditions)

    def critic_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """``D(fake) - D(real)`` plus ``gp_lambda`` x gradient penalty, fakes from ``z'``."""
        fake = self.fake(batch, rng).detach()
        eps = torch.rand(len(batch.x), 1, generator=rng).to(batch.x.device)
        c = batch.conditions
        wdist = self.critic(batch.x, c).mean() - self.critic(fake, c).mean()
        gp = gradient_penalty(self.critic, batch.x, fake, c, eps)
        return {"critic": -wdist + self.hparams.gp_lambda * gp, "wasserstein": wdist, "gp": gp}

    def generator_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """``-D(G(z'))``."""
        return {"generator": -self.critic(self.fake(batch, rng), batch.conditions).mean()}
