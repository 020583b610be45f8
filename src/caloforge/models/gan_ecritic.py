"""``gan-ecritic``: WGAN-GP plus a second critic on the energies, and an optional MMD term.

A plain WGAN-GP learns the mean response but misses the resolution: the width of E_tot/E_inc
(ATLAS FastCaloGAN; 3DGAN adds an energy regression head for the same reason). Here a second,
small critic sees only ``(E_tot/E_inc, E_layer/E_inc per layer)`` with the conditions, with its own
gradient penalty, and the generator is also pulled towards the real E_tot/E_inc distribution
by a Gaussian-kernel maximum mean discrepancy (MMD, Gretton et al. 2012) on each batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from caloforge.models.base import Batch
from caloforge.models.critic import Critic, gradient_penalty
from caloforge.models.registry import register_family
from caloforge.models.wgan_gp import WGANGP, WGANGPConfig

__all__ = ["EnergyCriticGAN", "EnergyCriticGANConfig", "mmd"]


@dataclass(frozen=True)
class EnergyCriticGANConfig(WGANGPConfig):
    energy_critic_hidden: tuple[int, ...] = (64, 64)
    energy_weight: float = 1.0
    mmd_weight: float = 1.0
    mmd_bandwidths: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)


def mmd(x: torch.Tensor, y: torch.Tensor, bandwidths: tuple[float, ...]) -> torch.Tensor:
    """Biased MMD^2 between 1-D samples ``x`` (B,) and ``y`` (B,), Gaussian kernels whose
    bandwidths are multiples of the std of ``y`` (so the term is scale-free)."""
    scale = y.detach().std().clamp_min(1e-6)
    xs, ys = x[:, None] / scale, y[:, None] / scale
    total = x.new_zeros(())
    for h in bandwidths:
        k = lambda a, b, h=h: torch.exp(-((a - b.T) ** 2) / (2 * h * h)).mean()  # noqa: E731
        total = total + k(xs, xs) + k(ys, ys) - 2 * k(xs, ys)
    return total


@register_family
class EnergyCriticGAN(WGANGP):
    name = "gan-ecritic"
    Config = EnergyCriticGANConfig
    hparams: EnergyCriticGANConfig

    def build_aux(self) -> dict[str, nn.Module]:
        n_feat = 1 + self.geometry.n_layers
        return super().build_aux() | {
            "energy_critic": Critic(n_feat, self.encoding.dim, self.hparams.energy_critic_hidden)
        }

    def critic_modules(self) -> list[nn.Module]:
        return [self.aux["critic"], self.aux["energy_critic"]]

    def critic_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        out = super().critic_loss(batch, rng)
        with torch.no_grad():
            fake = self.energy_features(self.fake(batch, rng))
        real = self.energy_features(batch.x)
        eps = torch.rand(len(batch.x), 1, generator=rng).to(batch.x.device)
        ec = self.aux["energy_critic"]
        wdist = ec(real, batch.conditions).mean() - ec(fake, batch.conditions).mean()
        gp = gradient_penalty(ec, real, fake, batch.conditions, eps)
        e_loss = -wdist + self.hparams.gp_lambda * gp
        out["critic"] = out["critic"] + self.hparams.energy_weight * e_loss
        return out | {"energy_wasserstein": wdist, "energy_gp": gp}

    def generator_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        fake = self.fake(batch, rng)
        feats = self.energy_features(fake)
        image = -self.aux["critic"](fake, batch.conditions).mean()
        energy = -self.aux["energy_critic"](feats, batch.conditions).mean()
        real_ratio = self.energy_features(batch.x)[:, 0]
        m = mmd(feats[:, 0], real_ratio, self.hparams.mmd_bandwidths)
        total = image + self.hparams.energy_weight * energy + self.hparams.mmd_weight * m
        return {"generator": total, "generator_energy": energy, "mmd": m}
