"""``gan-ecritic``: WGAN-GP plus a second critic on the energies, and a conditional MMD term.

A plain WGAN-GP learns the mean response but misses the resolution: the width of E_tot/E_inc
(ATLAS FastCaloGAN; 3DGAN adds an energy regression head for the same reason). Here a second,
small critic sees only ``(E_tot/E_inc, E_layer/E_inc per layer)`` with the conditions (both
standardised on real data, gradient penalty in that space), and the generator is also pulled
towards the real distribution of these energies by a Gaussian-kernel maximum mean discrepancy
(MMD, Gretton et al. 2012) on each batch: on E_tot/E_inc alone and on all energy features
jointly, with a kernel on the incident energy too, so that showers are compared with real
showers of (nearly) the same incident energy -- a batch mixing energies would otherwise only
match the mixture, not the resolution at each energy. Fake showers in a batch are generated
with the real batch's conditions, so both sides have the same energies.

The default output head is ``softmax-likelihood`` (:mod:`caloforge.models.dense`): E_tot/E_inc
itself is drawn from a conditional density fitted by maximum likelihood, and the critics and
the MMD shape the layer energies and cells around it. With the ``softmax`` head (the total a
network output) the energy critic and MMD alone left sigma/E 10-22% too narrow on cascade
photons (``benchmarks/results/models_earlier.md``); with it, sigma/E matched the reference
within its errors at unseen energies (``benchmarks/results/models.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from caloforge.geometry import Geometry
from caloforge.models.base import Batch, Trained
from caloforge.models.conditions import ConditionEncoding
from caloforge.models.critic import Critic, gradient_penalty
from caloforge.models.dense import HeadKind
from caloforge.models.hparams import check_sizes
from caloforge.models.preprocessing import Preprocessing
from caloforge.models.wgan_gp import CriticGAN, WGANGPConfig

__all__ = ["EnergyCriticGAN", "EnergyCriticGANConfig", "mmd"]


@dataclass(frozen=True)
class EnergyCriticGANConfig(WGANGPConfig):
    head: HeadKind = "softmax-likelihood"
    critic_log_alpha: float = 1e-4
    critic_shape_only: bool = True
    energy_critic_hidden: tuple[int, ...] = (64, 64)
    energy_weight: float = 1.0
    mmd_weight: float = 5.0
    mmd_bandwidths: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    #: width of the kernel on the encoded incident energy (conditions column 0, trained range
    #: -> [-1, 1]); 0 switches the conditioning off (MMD of the marginals)
    mmd_energy_bandwidth: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_sizes(energy_critic_hidden=self.energy_critic_hidden)
        if self.mmd_energy_bandwidth < 0:
            msg = f"mmd_energy_bandwidth must be >= 0, got {self.mmd_energy_bandwidth}"
            raise ValueError(msg)


def mmd(
    x: torch.Tensor,
    y: torch.Tensor,
    bandwidths: tuple[float, ...],
    cond_x: torch.Tensor | None = None,
    cond_y: torch.Tensor | None = None,
    cond_bandwidth: float = 0.0,
    *,
    paired: bool = False,
) -> torch.Tensor:
    """MMD^2 between samples ``x`` (B,) or (B, d) and ``y`` (B',) or (B', d).

    Gaussian kernels whose bandwidths are multiples of the per-feature std of ``y`` (so the term
    is scale-free), summed over ``bandwidths``. With ``cond_x`` (B,), ``cond_y`` (B',) and
    ``cond_bandwidth`` > 0 the kernel is multiplied by a Gaussian kernel of that width on the
    conditions (a conditional MMD: only pairs of similar conditions count).

    Default: the biased estimator (all pairs, i = j included). ``paired`` (B = B', row i of
    ``x`` made at the conditions of row i of ``y``): the unbiased estimator of Gretton et al.
    for equal samples, every term over i != j only. With a narrow condition kernel the biased
    one *rewards* too-narrow candidates: the cross pairs (x_i, y_i) share their condition
    exactly and weigh fully while few within-sample pairs do, and a narrower x_i lies closer
    to y_i (26 features at six energies, batches of 16: a candidate of 0.7 x the width scores
    0.014 +- 0.001 *below* an independent real sample; paired, 0.014 +- 0.001 above)."""
    x2 = x[:, None] if x.ndim == 1 else x
    y2 = y[:, None] if y.ndim == 1 else y
    if paired and len(x2) != len(y2):
        msg = f"mmd(paired=True) needs samples of equal size, got {len(x2)} and {len(y2)}"
        raise ValueError(msg)
    scale = y2.detach().std(dim=0).clamp_min(1e-6)
    xs, ys = x2 / scale, y2 / scale
    d_xx, d_yy, d_xy = torch.cdist(xs, xs) ** 2, torch.cdist(ys, ys) ** 2, torch.cdist(xs, ys) ** 2
    if cond_bandwidth > 0 and cond_x is not None and cond_y is not None:
        cx, cy = cond_x.reshape(-1, 1), cond_y.reshape(-1, 1)
        h2 = 2 * cond_bandwidth**2
        w_xx = torch.exp(-((cx - cx.T) ** 2) / h2)
        w_yy = torch.exp(-((cy - cy.T) ** 2) / h2)
        w_xy = torch.exp(-((cx - cy.T) ** 2) / h2)
    else:
        w_xx = w_yy = w_xy = x.new_ones(())
    if paired:  # drop every i = j pair; average over the n (n - 1) others
        n = len(x2)
        off = 1.0 - torch.eye(n, dtype=xs.dtype, device=xs.device)
        w_xx, w_yy, w_xy = w_xx * off, w_yy * off, w_xy * off
        norm_xx = norm_yy = norm_xy = 1.0 / (n * (n - 1))
    else:
        norm_xx, norm_yy, norm_xy = 1.0 / d_xx.numel(), 1.0 / d_yy.numel(), 1.0 / d_xy.numel()
    total = x.new_zeros(())
    for h in bandwidths:
        k = 2 * h * h
        total = (
            total
            + norm_xx * (w_xx * torch.exp(-d_xx / k)).sum()
            + norm_yy * (w_yy * torch.exp(-d_yy / k)).sum()
            - 2 * norm_xy * (w_xy * torch.exp(-d_xy / k)).sum()
        )
    return total


class EnergyCriticGAN(CriticGAN[EnergyCriticGANConfig]):
    name = "gan-ecritic"
    Config = EnergyCriticGANConfig

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: EnergyCriticGANConfig,
    ) -> None:
        super().__init__(geometry, encoding, preprocessing, hparams)
        n_feat = 1 + geometry.n_layers
        self.energy_critic = Trained(Critic(n_feat, encoding.dim, hparams.energy_critic_hidden))

    def networks(self) -> dict[str, Trained[Any]]:
        return super().networks() | {"energy_critic": self.energy_critic}

    def critics(self) -> list[Trained[Critic]]:
        return [self.critic, self.energy_critic]

    def fit_critics(self, x: torch.Tensor) -> None:
        super().fit_critics(x)
        self.energy_critic.module.fit(self.energy_features(x))

    def critic_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        out = super().critic_loss(batch, rng)
        with torch.no_grad():
            fake = self.energy_features(self.fake(batch, rng))
        real = self.energy_features(batch.x)
        eps = torch.rand(len(batch.x), 1, generator=rng).to(batch.x.device)
        ec, c = self.energy_critic, batch.conditions
        z_real, z_fake = ec.module.standardise(real), ec.module.standardise(fake)
        wdist = ec(z_real, c).mean() - ec(z_fake, c).mean()
        gp = gradient_penalty(ec, z_real, z_fake, c, eps)
        e_loss = -wdist + self.hparams.gp_lambda * gp
        out["critic"] = out["critic"] + self.hparams.energy_weight * e_loss
        return out | {"energy_wasserstein": wdist, "energy_gp": gp}

    def generator_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        fake = self.fake(batch, rng)
        feats = self.energy_features(fake)
        c = batch.conditions
        image = -self.critic(self.critic.module.standardise(fake), c).mean()
        energy = -self.energy_critic(self.energy_critic.module.standardise(feats), c).mean()
        real = self.energy_features(batch.x)
        hp = self.hparams
        e_cond, h = c[:, 0], hp.mmd_energy_bandwidth
        m = mmd(feats[:, 0], real[:, 0], hp.mmd_bandwidths, e_cond, e_cond, h) + mmd(
            feats, real, hp.mmd_bandwidths, e_cond, e_cond, h
        )
        total = image + hp.energy_weight * energy + hp.mmd_weight * m
        return {"generator": total, "generator_energy": energy, "mmd": m}
