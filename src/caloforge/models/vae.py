"""``vae``: conditional variational auto-encoder with dense encoder and decoder.

As in the ATLAS VAE and the Geant4 Par04 model (Salamani et al., EPJ Web Conf. 2021): the targets
are energy ratios (cells / E_inc in the preprocessing's network space), the encoder sees cells and
conditions, the decoder (the :class:`~caloforge.models.base.Generator`) latent and conditions.
Loss: per-shower squared error on the cells, plus the same on the energy ratios (E_tot/E_inc,
E_layer/E_inc) weighted by ``energy_weight``, plus ``beta`` x KL to the standard-normal prior.
Sampling draws the latent from the prior: the noise is the latent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from caloforge.geometry import Geometry
from caloforge.models.base import Batch, Family, Objective, Trained
from caloforge.models.conditions import ConditionEncoding
from caloforge.models.dense import HeadKind, mlp
from caloforge.models.generator import DenseGenerator
from caloforge.models.hparams import check_sizes
from caloforge.models.preprocessing import Preprocessing

__all__ = ["VAE", "VAEConfig"]


@dataclass(frozen=True)
class VAEConfig:
    latent_dim: int = 32
    encoder_hidden: tuple[int, ...] = (160, 160)
    decoder_hidden: tuple[int, ...] = (160, 160)
    head: HeadKind = "relu"
    beta: float = 1e-3
    energy_weight: float = 1.0

    def __post_init__(self) -> None:
        check_sizes(
            latent_dim=self.latent_dim,
            encoder_hidden=self.encoder_hidden,
            decoder_hidden=self.decoder_hidden,
        )
        if self.head == "softmax-likelihood":
            # its E_tot/E_inc model reads the first noise component as N(0, 1); the VAE's
            # decoder input during training is the encoder's posterior sample, not prior noise
            msg = "vae: head 'softmax-likelihood' is for the GAN families; use 'relu' or 'softmax'"
            raise ValueError(msg)


class VAE(Family[VAEConfig]):
    name = "vae"
    Config = VAEConfig
    generator: DenseGenerator

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: VAEConfig,
    ) -> None:
        super().__init__(geometry, encoding, preprocessing, hparams)
        n_in = geometry.n_cells + encoding.dim
        #: (B, n_cells + cond_dim) -> (B, 2 latent_dim): posterior mean and log-variance
        self.encoder = Trained(mlp(n_in, hparams.encoder_hidden, 2 * hparams.latent_dim))

    @classmethod
    def build_generator(
        cls,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: VAEConfig,
    ) -> DenseGenerator:
        return DenseGenerator(
            geometry,
            encoding,
            preprocessing,
            noise_dim=hparams.latent_dim,
            hidden=hparams.decoder_hidden,
            head=hparams.head,
        )

    def networks(self) -> dict[str, Trained[Any]]:
        return super().networks() | {"encoder": self.encoder}

    def objectives(self) -> dict[str, Objective]:
        params = [*self.encoder.parameters(), *self.generator.parameters()]
        return {"vae": Objective(self.vae_loss, params)}

    def vae_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Reconstruction + ``energy_weight`` x energy-ratio error + ``beta`` x KL (term
        ``vae``), each a per-shower sum averaged over the batch."""
        b = batch
        mu, log_var = self.encoder(torch.cat([b.x, b.conditions], dim=1)).chunk(2, dim=1)
        log_var = log_var.clamp(-20.0, 10.0)
        eps = self.noise_like(len(b.x), rng, b.x.device)
        z = mu + torch.exp(0.5 * log_var) * eps
        x_hat = self.trained_generator(z, b.conditions)
        recon = ((x_hat - b.x) ** 2).sum(dim=1).mean()
        energy = ((self.energy_features(x_hat) - self.energy_features(b.x)) ** 2).sum(1).mean()
        kl = (-0.5 * (1 + log_var - mu**2 - log_var.exp()).sum(dim=1)).mean()
        total = recon + self.hparams.energy_weight * energy + self.hparams.beta * kl
        return {"vae": total, "reconstruction": recon, "energy": energy, "kl": kl}

    def train_step(
        self,
        next_batch: Callable[[], Batch],
        optimisers: dict[str, torch.optim.Optimizer],
        rng: torch.Generator,
    ) -> dict[str, float]:
        out = self.minimise("vae", next_batch(), rng, optimisers)
        return {k: float(v.detach()) for k, v in out.items()}
