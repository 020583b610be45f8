"""``gan-mbd``: a GAN with minibatch discrimination on layer images (the "Getting High" GAN).

Buhmann et al. (Comput. Softw. Big Sci. 5 (2021) 13) trained, besides the WGAN and the BIB-AE,
a GAN whose discriminator has a minibatch-discrimination layer (Salimans et al. 2016) against
mode collapse, on 30 x 30 x 30 ILD photon showers with 3D convolutions. Here: the non-saturating
GAN loss (Goodfellow et al. 2014) -- discriminator ``softplus(-D(real)) + softplus(D(fake))``,
generator ``softplus(-D(fake))`` -- with the layer-wise convolutional networks of
:mod:`caloforge.models.grid_gan` and a :class:`~caloforge.models.minibatch.MinibatchDiscrimination`
layer before the discriminator's output. Real and generated batches are scored in separate
calls, so each sample is compared with its own batch only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.functional import softplus

from caloforge.models.base import Batch
from caloforge.models.grid_gan import GridCritic, GridGAN, GridGANConfig

__all__ = ["GANMBD", "GANMBDConfig"]


@dataclass(frozen=True)
class GANMBDConfig(GridGANConfig):
    minibatch_kernels: int = 16
    minibatch_kernel_dim: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.minibatch_kernels < 1 or self.minibatch_kernel_dim < 1:
            msg = (
                "minibatch_kernels and minibatch_kernel_dim must be >= 1, got "
                f"{self.minibatch_kernels}, {self.minibatch_kernel_dim}"
            )
            raise ValueError(msg)


class GANMBD(GridGAN[GANMBDConfig]):
    name = "gan-mbd"
    Config = GANMBDConfig

    def build_critic(self) -> GridCritic:
        hp = self.hparams
        return GridCritic(
            self.geometry,
            self.encoding.dim,
            hp.critic_hidden,
            hp.critic_channels,
            minibatch_kernels=hp.minibatch_kernels,
            minibatch_kernel_dim=hp.minibatch_kernel_dim,
        )

    def critic_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """``softplus(-D(real)) + softplus(D(fake))`` (binary cross-entropy on the logits)."""
        with torch.no_grad():
            fake = self.fake(batch, rng)
        c = batch.conditions
        d_real, d_fake = self.critic(batch.x, c), self.critic(fake, c)
        loss = softplus(-d_real).mean() + softplus(d_fake).mean()
        return {"critic": loss, "d_real": torch.sigmoid(d_real).mean()}

    def generator_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Non-saturating ``softplus(-D(fake))``."""
        d_fake = self.critic(self.fake(batch, rng), batch.conditions)
        return {"generator": softplus(-d_fake).mean()}
