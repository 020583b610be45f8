"""``wgan-gp``: conditional Wasserstein GAN with gradient penalty, dense networks.

As in the ATLAS photon GAN (FastCaloGAN, ATL-SOFT-PUB-2020-006): a dense generator and critic,
both conditioned on log-energy and, for ``atlas-em-barrel``, the alignment configuration;
``n_critic`` critic updates per generator update (5 found best); penalty weight ``gp_lambda`` 10.
The critic sees energy fractions (cells / E_inc) in the preprocessing's network space,
standardised per cell with statistics fitted on the first ``fit_batches`` real batches (see
:mod:`caloforge.models.critic`). The default output head is ``softmax``: cell fractions times one
predicted E_tot/E_inc, so the total energy (and its width) is a single output the generator
controls directly rather than the sum of 266 independent cells.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from caloforge.geometry import Geometry
from caloforge.models.base import Batch, Family, Objective, Trained
from caloforge.models.conditions import ConditionEncoding
from caloforge.models.critic import Critic, gradient_penalty
from caloforge.models.dense import EnergyRatioModel, HeadKind
from caloforge.models.generator import DenseGenerator
from caloforge.models.hparams import check_counts, check_sizes
from caloforge.models.preprocessing import Preprocessing
from caloforge.models.suppression import quantile_thresholds

__all__ = ["WGANGP", "CriticGAN", "WGANGPConfig"]


@dataclass(frozen=True)
class WGANGPConfig:
    noise_dim: int = 64
    generator_hidden: tuple[int, ...] = (160, 160, 160)
    critic_hidden: tuple[int, ...] = (160, 160, 160)
    head: HeadKind = "softmax"
    n_critic: int = 5
    gp_lambda: float = 10.0
    fit_batches: int = 8
    #: the critic sees ``log1p(f / critic_log_alpha)`` of the cell fractions ``f`` (when the
    #: preprocessing is ``fraction``; 0 = the fractions themselves), then standardised per cell.
    #: 0 for the plain WGAN-GP: in log space its only critic hardly sees the total energy (the
    #: mean E_tot/E_inc ended 20% low on cascade showers; gan-ecritic, whose energy critic
    #: judges the energies, uses the log)
    critic_log_alpha: float = 0.0
    #: the image critic sees the cells divided by their sum (the shape, blind to E_tot); only
    #: sensible with a second critic on the energies (gan-ecritic)
    critic_shape_only: bool = False
    #: exponential-average weight of each step's update of the generator's zero-suppression
    #: thresholds (per cell: the quantile of the generated values at the data's fraction of
    #: empty cells); 0 switches the calibration off
    threshold_momentum: float = 0.1
    #: learning rate of the ``softmax-likelihood`` head's E_tot/E_inc model, in units of the
    #: trainer's learning rate
    energy_lr_factor: float = 2.0

    def __post_init__(self) -> None:
        check_sizes(
            noise_dim=self.noise_dim,
            generator_hidden=self.generator_hidden,
            critic_hidden=self.critic_hidden,
        )
        check_counts(n_critic=self.n_critic, fit_batches=self.fit_batches)
        if self.critic_log_alpha < 0:
            msg = f"critic_log_alpha must be >= 0, got {self.critic_log_alpha}"
            raise ValueError(msg)
        if not self.energy_lr_factor > 0:
            msg = f"energy_lr_factor must be > 0, got {self.energy_lr_factor}"
            raise ValueError(msg)


WC = TypeVar("WC", bound=WGANGPConfig)


class CriticGAN(Family[WC]):
    """The WGAN-GP training process on a :class:`DenseGenerator`, shared by ``wgan-gp`` and
    ``gan-ecritic``: ``n_critic`` critic updates on fresh batches, then one generator update;
    with the ``softmax-likelihood`` head the E_tot/E_inc model takes a maximum-likelihood step on
    every batch."""

    generator: DenseGenerator

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: WC,
    ) -> None:
        super().__init__(geometry, encoding, preprocessing, hparams)
        log_alpha = hparams.critic_log_alpha if preprocessing.kind == "fraction" else 0.0
        self.critic = Trained(
            Critic(
                geometry.n_cells,
                encoding.dim,
                hparams.critic_hidden,
                log_alpha=log_alpha,
                shape_only=hparams.critic_shape_only,
            )
        )

    @classmethod
    def build_generator(
        cls,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: WC,
    ) -> DenseGenerator:
        return DenseGenerator(
            geometry,
            encoding,
            preprocessing,
            noise_dim=hparams.noise_dim,
            hidden=hparams.generator_hidden,
            head=hparams.head,
        )

    def networks(self) -> dict[str, Trained[Any]]:
        return super().networks() | {"critic": self.critic}

    def critics(self) -> list[Trained[Critic]]:
        """The critics, all trained by the ``critic`` optimiser."""
        return [self.critic]

    @property
    def energy_model(self) -> EnergyRatioModel | None:
        """The generator's likelihood model of E_tot/E_inc (``softmax-likelihood`` head)."""
        return self.generator.energy

    def objectives(self) -> dict[str, Objective]:
        critics = [p for c in self.critics() for p in c.parameters()]
        em = self.energy_model
        if em is None:
            return {
                "generator": Objective(self.generator_loss, list(self.generator.parameters())),
                "critic": Objective(self.critic_loss, critics),
            }
        # the E_tot/E_inc model is fitted by maximum likelihood only: the critics' gradients
        # reach it through the samples but its own optimiser steps on the likelihood alone
        # (a stable objective: a larger step; outside the generator's DDP forward: sync)
        own = {id(p) for p in em.parameters()}
        rest = [p for p in self.generator.parameters() if id(p) not in own]
        energy = Objective(
            self.energy_loss,
            list(em.parameters()),
            lr_factor=self.hparams.energy_lr_factor,
            sync=True,
        )
        return {
            "generator": Objective(self.generator_loss, rest),
            "critic": Objective(self.critic_loss, critics),
            "energy": energy,
        }

    @property
    def batches_per_step(self) -> int:
        return self.hparams.n_critic + 1

    def fit_critics(self, x: torch.Tensor) -> None:
        """Fit the critics' input standardisation on real network-space cells ``x`` (B, n_cells),
        and start the generator's softmax head at the data's mean E_tot/E_inc."""
        self.critic.module.fit(x)
        ratios = self.preprocessing.to_fraction(x).sum(dim=1)
        if self.generator.head.kind != "relu":
            self.generator.fit_energy_scale(ratios)

    def critics_fitted(self) -> bool:
        return all(c.module.is_fitted for c in self.critics())

    @torch.no_grad()
    def calibrate_threshold(self, batch: Batch, rng: torch.Generator) -> None:
        """Move the generator's per-cell zero-suppression thresholds towards the quantile of
        this batch's generated cells at the data's empty-cell fraction."""
        w = self.hparams.threshold_momentum
        if w <= 0:
            return
        gen = self.generator
        noise = self.noise_like(len(batch.x), rng, batch.x.device)
        raw = gen.unthresholded(noise, batch.conditions)
        target = quantile_thresholds(raw, self.critic.module.zero_fraction)
        gen.cell_threshold.mul_(1 - w).add_(w * target)

    # ---- losses ----------------------------------------------------------------------------
    def fake(self, batch: Batch, rng: torch.Generator) -> torch.Tensor:
        """Generated network-space cells (B, n_cells) for the batch's conditions."""
        noise = self.noise_like(len(batch.x), rng, batch.x.device)
        return self.trained_generator(noise, batch.conditions)

    def critic_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Wasserstein estimate ``D(fake) - D(real)`` plus ``gp_lambda`` x gradient penalty."""
        with torch.no_grad():
            fake = self.fake(batch, rng)
        eps = torch.rand(len(batch.x), 1, generator=rng).to(batch.x.device)
        critic, c = self.critic, batch.conditions
        z_real, z_fake = critic.module.standardise(batch.x), critic.module.standardise(fake)
        wdist = critic(z_real, c).mean() - critic(z_fake, c).mean()
        gp = gradient_penalty(critic, z_real, z_fake, c, eps)
        return {"critic": -wdist + self.hparams.gp_lambda * gp, "wasserstein": wdist, "gp": gp}

    def generator_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """``-D(fake)`` for fresh noise at the batch's conditions."""
        fake = self.fake(batch, rng)
        return {
            "generator": -self.critic(self.critic.module.standardise(fake), batch.conditions).mean()
        }

    def energy_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Negative log-likelihood of the batch's real E_tot/E_inc (``softmax-likelihood``);
        no terms without that head. Draws nothing from ``rng``."""
        em = self.energy_model
        if em is None:
            return {}
        ratios = self.preprocessing.to_fraction(batch.x).sum(dim=1)
        return {"energy": em.nll(ratios, batch.conditions)}

    def train_step(
        self,
        next_batch: Callable[[], Batch],
        optimisers: dict[str, torch.optim.Optimizer],
        rng: torch.Generator,
    ) -> dict[str, float]:
        # first step: fit the critics' input standardisation on real data (kept in checkpoints)
        if not self.critics_fitted():
            self.fit_critics(torch.cat([next_batch().x for _ in range(self.hparams.fit_batches)]))
        likelihood = self.energy_model is not None
        # critic phase: n_critic updates on fresh batches
        # (the E_tot/E_inc likelihood model, if any, takes a step on every batch: its data are
        # the real showers alone, and its tails need many updates)
        c: dict[str, torch.Tensor] = {}
        for _ in range(self.hparams.n_critic):
            cb = next_batch()
            c = self.minimise("critic", cb, rng, optimisers)
            if likelihood:
                self.minimise("energy", cb, rng, optimisers)
        # generator phase: one update against the (frozen in effect) critics
        batch = next_batch()
        g = self.minimise("generator", batch, rng, optimisers)
        e = self.minimise("energy", batch, rng, optimisers) if likelihood else {}
        self.calibrate_threshold(batch, rng)
        return {k: float(v.detach()) for k, v in (c | g | e).items()}


class WGANGP(CriticGAN[WGANGPConfig]):
    name = "wgan-gp"
    Config = WGANGPConfig
