"""``bib-ae``: the Bounded-Information-Bottleneck auto-encoder with a post-processor and KDE
sampling of the latent (the "Getting High" BIB-AE, Buhmann et al., Comput. Softw. Big Sci. 5
(2021) 13; BIB-AE: Voloshynovskiy et al., arXiv:1912.00830).

- encoder (training only): network-space cells and conditions -> posterior mean and
  log-variance of a ``latent_dim`` latent (:class:`~caloforge.models.grid.GridEncoder`);
- decoder (in the generator): latent and conditions -> cells
  (:class:`~caloforge.models.grid.GridDecoder`);
- image critic (WGAN-GP, :class:`~caloforge.models.grid_gan.GridCritic`): real showers against
  their reconstructions; latent critic (WGAN-GP, dense): prior draws against encoded latents;
- auto-encoder loss: squared reconstruction error + ``beta`` x KL + ``mmd_weight`` x MMD between
  the encoded latents and prior draws (:func:`caloforge.models.gan_ecritic.mmd`) +
  ``adversarial_weight`` x both critics' generator terms;
- post-processor (in the generator): a small residual layer-wise convolutional network applied
  to the decoder's output, trained on the (detached) reconstructions to restore each shower's
  per-cell energy spectrum, which the squared-error reconstruction smears (the MIP peak): loss
  ``sort_weight`` x squared difference of the sorted cell values (per shower the 1D
  Wasserstein-2 distance of the cell spectra) + ``post_mse_weight`` x squared error to the real
  shower. The paper compared sorted cell values by an MMD; both vanish only for equal spectra;
- generation: the latent from a KDE of encoded training showers
  (:class:`~caloforge.models.kde.LatentKDE`, refreshed on every training step), driven by the
  noise: ``noise[:, 0]`` selects a kernel, ``noise[:, 1:]`` is the draw within it.

``generator.post_process`` (from ``post_process``) switches the post-processor in or out of
generation; the benchmark sets it False on a trained model to show what the stage buys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from caloforge.geometry import Geometry, mip_loss_mev
from caloforge.models.base import Batch, Family, Generator, Objective, Trained
from caloforge.models.conditions import ConditionEncoding
from caloforge.models.critic import gradient_penalty
from caloforge.models.dense import mlp
from caloforge.models.gan_ecritic import mmd
from caloforge.models.grid import CellGrid, GridDecoder, GridEncoder
from caloforge.models.grid_gan import GridCritic, check_channels
from caloforge.models.hparams import check_sizes
from caloforge.models.kde import LatentKDE
from caloforge.models.preprocessing import Preprocessing
from caloforge.models.spectrum_map import SpectrumMap

__all__ = ["BIBAE", "BIBAEConfig", "BIBAEGenerator", "PostProcessor"]

#: seed of the posterior draws that refit the latent KDE (:meth:`BIBAE.refresh`)
REFIT_SEED = 20_220_601


@dataclass(frozen=True)
class BIBAEConfig:
    latent_dim: int = 24
    encoder_hidden: tuple[int, ...] = (64,)
    encoder_channels: tuple[int, ...] = (4, 8)
    decoder_hidden: tuple[int, ...] = (128,)
    decoder_channels: tuple[int, ...] = (2, 4)
    critic_hidden: tuple[int, ...] = (64,)
    critic_channels: tuple[int, ...] = (4, 8)
    latent_critic_hidden: tuple[int, ...] = (64, 64)
    post_channels: int = 16
    beta: float = 0.1
    mmd_weight: float = 100.0
    mmd_bandwidths: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    adversarial_weight: float = 1.0
    gp_lambda: float = 10.0
    sort_weight: float = 1.0
    #: weight of the sorted-spectrum distance in MIP units, log1p(cell / E_MIP), which weighs
    #: the MIP region alike at every incident energy (network space squeezes it at high E).
    #: Off by default; 1.0 in the ILD recipe (benchmarks/bench_ild.py, where it was measured).
    #: On the synthetic atlas-em-barrel showers of tests/test_training_improves.py it stalls a
    #: 60-step run: validation score 1.93 with it, 1.44 without (2.0 untrained)
    mip_sort_weight: float = 0.0
    post_mse_weight: float = 0.0
    #: weight of the squared log ratio of the post-processed shower's energy sum to the real one
    post_energy_weight: float = 100.0
    #: the post-processor's learning rate over the trainer's
    post_lr_factor: float = 10.0
    #: kernels of the latent KDE (the encoded showers of the last ``kde_kernels`` training rows)
    kde_kernels: int = 2048
    post_process: bool = True
    #: finish the post-processing with the fitted monotone spectrum map
    #: (:class:`~caloforge.models.spectrum_map.SpectrumMap`, refitted before every saved model
    #: on ``kde_kernels`` generated and training showers): the trained per-cell network alone
    #: left no MIP peak in one of two ild-ecal seeds (benchmarks/results/ild_t9.md)
    spectrum_map: bool = True
    spectrum_knots: int = 96
    spectrum_energy_groups: int = 4
    spectrum_depth_groups: int = 6

    def __post_init__(self) -> None:
        check_sizes(
            latent_dim=self.latent_dim,
            encoder_hidden=self.encoder_hidden,
            decoder_hidden=self.decoder_hidden,
            critic_hidden=self.critic_hidden,
            latent_critic_hidden=self.latent_critic_hidden,
            post_channels=self.post_channels,
        )
        check_channels(
            encoder_channels=self.encoder_channels,
            decoder_channels=self.decoder_channels,
            critic_channels=self.critic_channels,
        )
        weights = {
            "beta": self.beta,
            "mmd_weight": self.mmd_weight,
            "adversarial_weight": self.adversarial_weight,
            "gp_lambda": self.gp_lambda,
            "sort_weight": self.sort_weight,
            "mip_sort_weight": self.mip_sort_weight,
            "post_mse_weight": self.post_mse_weight,
            "post_energy_weight": self.post_energy_weight,
        }
        for key, value in weights.items():
            if not value >= 0:
                msg = f"{key} must be >= 0, got {value}"
                raise ValueError(msg)
        if not self.post_lr_factor > 0:
            msg = f"post_lr_factor must be > 0, got {self.post_lr_factor}"
            raise ValueError(msg)
        if self.kde_kernels < 2:
            msg = f"kde_kernels must be >= 2, got {self.kde_kernels}"
            raise ValueError(msg)
        if min(self.spectrum_energy_groups, self.spectrum_depth_groups) < 1:
            msg = f"spectrum_energy_groups and spectrum_depth_groups must be >= 1, got {self.spectrum_energy_groups}, {self.spectrum_depth_groups}"
            raise ValueError(msg)
        if self.spectrum_knots < 2:
            msg = f"spectrum_knots must be >= 2, got {self.spectrum_knots}"
            raise ValueError(msg)


class PostProcessor(nn.Module):
    """(B, n_cells) network-space cells, (B, cond_dim) -> (B, n_cells): ``relu(x + delta)``,
    ``delta`` a small MLP of each cell's value (in network space and as ``log1p(cell /
    E_MIP)``, :meth:`mip_units`), the incident-energy condition and the cell's depth
    (layer / n_layers), the same for every cell -- a learnt, energy- and depth-dependent map of
    the cell energy scale, which is what the per-cell spectrum asks for. The paper's
    post-processor is a small 3D convolutional network; here a per-cell one (1 x 1 x 1
    convolutions), for CPU cost. Starts near the identity."""

    depth: torch.Tensor
    per_mip: torch.Tensor

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        channels: int,
    ) -> None:
        super().__init__()
        self.encoding = encoding
        self.preprocessing = preprocessing
        self.net = nn.Sequential(
            nn.Linear(4, channels),
            nn.LeakyReLU(0.2),
            nn.Linear(channels, channels),
            nn.LeakyReLU(0.2),
            nn.Linear(channels, 1),
        )
        last = self.net[-1]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():
            last.weight.mul_(0.01)
            last.bias.zero_()
        layer = torch.as_tensor(geometry.cell_layer, dtype=torch.float32)
        self.register_buffer("depth", layer / max(geometry.n_layers, 1))
        # 1 / (a MIP's loss in the cell's layer), 1/MeV; 0 for a layer without active slabs
        mip = torch.tensor([mip_loss_mev(ly.slabs) for ly in geometry.layers])
        inv = torch.where(mip > 0, 1.0 / mip.clamp_min(1e-30), torch.zeros_like(mip))
        self.register_buffer("per_mip", inv[layer.long()].to(torch.float32), persistent=False)

    def mip_units(self, x: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """``log1p(cell / E_MIP)`` of network-space cells (negative values count as 0)."""
        cells = self.preprocessing.inverse(
            x.clamp_min(0.0), self.encoding.decode_energy(conditions)
        )
        return torch.log1p(cells * self.per_mip)

    def pre_activation(self, x: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """``x + delta``, before the ReLU: the cell's output, or for an empty cell how far it
        is from firing (network space)."""
        energy = conditions[:, :1].expand_as(x)
        mip = self.mip_units(x, conditions)
        inputs = torch.stack([x, energy, self.depth.expand_as(x), mip], dim=2)
        return x + self.net(inputs)[..., 0]

    def forward(self, x: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.pre_activation(x, conditions))

    def scores(
        self, x: torch.Tensor, conditions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(cells, score) of decoder cells ``x``: the post-processed network-space cells and
        the spectrum map's input, ``log1p(cell / E_MIP)`` for the non-empty cells and the
        (non-positive) pre-activation for the empty ones, which ranks them by how near they
        came to firing."""
        pre = self.pre_activation(x, conditions)
        cells = torch.relu(pre)
        return cells, torch.where(pre > 0, self.mip_units(cells, conditions), pre)


class BIBAEGenerator(Generator):
    """Noise (N, 1 + latent_dim) -> KDE latent -> decoder -> (post-processor) -> cells."""

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: BIBAEConfig,
    ) -> None:
        super().__init__(geometry, encoding, preprocessing)
        self.latent_dim = hparams.latent_dim
        c = hparams.decoder_channels
        self.decoder = GridDecoder(
            hparams.latent_dim + encoding.dim,
            CellGrid(geometry),
            hparams.decoder_hidden,
            (c[0], c[1]),
        )
        self.kde = LatentKDE(hparams.kde_kernels, hparams.latent_dim)
        self.post_processor = PostProcessor(
            geometry, encoding, preprocessing, hparams.post_channels
        )
        self.spectrum_map = (
            SpectrumMap(
                geometry.cell_layer,
                geometry.n_layers,
                hparams.spectrum_energy_groups,
                hparams.spectrum_depth_groups,
                hparams.spectrum_knots,
            )
            if hparams.spectrum_map
            else None
        )
        #: apply the post-processor in :meth:`transformed` (a switch, not saved in the weights)
        self.post_process = hparams.post_process

    @property
    def noise_dim(self) -> int:
        return 1 + self.latent_dim

    def latent(self, noise: torch.Tensor) -> torch.Tensor:
        """(N, 1 + latent_dim) noise -> (N, latent_dim) draws of the latent KDE."""
        return self.kde.sample(noise[:, 0], noise[:, 1:])

    def decode(self, latent: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """The decoder alone: (N, latent_dim), (N, cond_dim) -> network-space cells."""
        return self.decoder(torch.cat([latent, conditions], dim=1))

    def post_network(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """Network-space cells after the decoder and the post-processor network (with
        ``post_process``), before the spectrum map."""
        x = self.decode(self.latent(noise), conditions)
        return self.post_processor(x, conditions) if self.post_process else x

    def transformed(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        smap = self.spectrum_map
        if smap is None or not self.post_process:
            return self.post_network(noise, conditions)
        pp = self.post_processor
        x, score = pp.scores(self.decode(self.latent(noise), conditions), conditions)
        u = smap(score, conditions[:, 0])
        cells = torch.expm1(u) / pp.per_mip.clamp_min(1e-30)
        mapped = self.preprocessing.forward(cells, self.encoding.decode_energy(conditions))
        # layers without an active slab have no MIP scale: their cells pass unchanged; before
        # the map is fitted, x itself (a blend on the saved flag, not a branch: one traced graph)
        f = smap.fitted
        return f * torch.where(pp.per_mip > 0, mapped, x) + (1.0 - f) * x


class Decoding(nn.Module):
    """The generator as training calls it: ``forward(noise, conditions)`` is
    :meth:`BIBAEGenerator.transformed`; with a third argument ``latent`` (an encoded latent
    that replaces the KDE draw) it is the decoder alone, :meth:`BIBAEGenerator.decode`."""

    def __init__(self, generator: BIBAEGenerator) -> None:
        super().__init__()
        self.generator = generator

    def forward(
        self, noise: torch.Tensor, conditions: torch.Tensor, latent: torch.Tensor | None = None
    ) -> torch.Tensor:
        if latent is None:
            return self.generator.transformed(noise, conditions)
        return self.generator.decode(latent, conditions)


class LatentCritic(nn.Module):
    """(B, latent_dim), (B, cond_dim) -> (B, 1): dense WGAN critic of latents."""

    def __init__(self, latent_dim: int, cond_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.net = mlp(latent_dim + cond_dim, hidden, 1, final_bias=False)

    def forward(self, z: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, conditions], dim=1))


class BIBAE(Family[BIBAEConfig]):
    name = "bib-ae"
    Config = BIBAEConfig
    # models saved before the spectrum map had none (and no weights for one)
    artifact_defaults: ClassVar[dict[str, Any]] = {"spectrum_map": False}
    generator: BIBAEGenerator

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: BIBAEConfig,
    ) -> None:
        super().__init__(geometry, encoding, preprocessing, hparams)
        hp = hparams
        self.trained_generator = Trained(self.generator, Decoding(self.generator))
        ec = hp.encoder_channels
        self.encoder = Trained(
            GridEncoder(
                CellGrid(geometry),
                encoding.dim,
                hp.encoder_hidden,
                (ec[0], ec[1]),
                2 * hp.latent_dim,
            )
        )
        self.critic = Trained(
            GridCritic(geometry, encoding.dim, hp.critic_hidden, hp.critic_channels)
        )
        self.latent_critic = Trained(
            LatentCritic(hp.latent_dim, encoding.dim, hp.latent_critic_hidden)
        )

    @classmethod
    def build_generator(
        cls,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: BIBAEConfig,
    ) -> BIBAEGenerator:
        return BIBAEGenerator(geometry, encoding, preprocessing, hparams)

    def networks(self) -> dict[str, Trained[Any]]:
        return super().networks() | {
            "encoder": self.encoder,
            "critic": self.critic,
            "latent_critic": self.latent_critic,
        }

    def objectives(self) -> dict[str, Objective]:
        post = list(self.generator.post_processor.parameters())
        own = {id(p) for p in post}
        auto = [p for p in self.generator.parameters() if id(p) not in own]
        critics = [*self.critic.parameters(), *self.latent_critic.parameters()]
        return {
            "autoencoder": Objective(self.autoencoder_loss, [*self.encoder.parameters(), *auto]),
            "critic": Objective(self.critic_loss, critics),
            # the post-processor is called outside the generator's training forward: sync
            "post": Objective(
                self.post_loss, post, lr_factor=self.hparams.post_lr_factor, sync=True
            ),
        }

    @property
    def batches_per_step(self) -> int:
        return 2

    # ---- pieces ------------------------------------------------------------------------------
    def encode(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, (B, latent_dim) each."""
        mu, log_var = self.encoder(batch.x, batch.conditions).chunk(2, dim=1)
        return mu, log_var.clamp(-20.0, 10.0)

    def reconstruct(
        self, batch: Batch, rng: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction, latent, mean, log-variance, prior draw): the latent sampled from
        the posterior with the noise's Gaussian part, the prior draw a second noise draw."""
        n, device = len(batch.x), batch.x.device
        noise = self.noise_like(n, rng, device)
        prior = self.noise_like(n, rng, device)[:, 1:]
        mu, log_var = self.encode(batch)
        z = mu + torch.exp(0.5 * log_var) * noise[:, 1:]
        x_hat = self.trained_generator(noise, batch.conditions, z)
        return x_hat, z, mu, log_var, prior

    # ---- losses ------------------------------------------------------------------------------
    def critic_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Image critic (real vs reconstruction) + latent critic (prior vs encoded), each
        ``-W + gp_lambda x GP``."""
        with torch.no_grad():
            x_hat, z, _, _, prior = self.reconstruct(batch, rng)
        c, lam = batch.conditions, self.hparams.gp_lambda
        eps = torch.rand(len(batch.x), 2, generator=rng).to(batch.x.device)
        w_img = self.critic(batch.x, c).mean() - self.critic(x_hat, c).mean()
        gp_img = gradient_penalty(self.critic, batch.x, x_hat, c, eps[:, :1])
        w_lat = self.latent_critic(prior, c).mean() - self.latent_critic(z, c).mean()
        gp_lat = gradient_penalty(self.latent_critic, prior, z, c, eps[:, 1:])
        total = -w_img + lam * gp_img - w_lat + lam * gp_lat
        return {"critic": total, "wasserstein": w_img, "latent_wasserstein": w_lat}

    def autoencoder_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Reconstruction + ``beta`` KL + ``mmd_weight`` MMD(latent, prior) +
        ``adversarial_weight`` x (``-D(x_hat)`` - ``D_latent(z)``); per-shower sums, batch mean."""
        hp, c = self.hparams, batch.conditions
        x_hat, z, mu, log_var, prior = self.reconstruct(batch, rng)
        recon = ((x_hat - batch.x) ** 2).sum(dim=1).mean()
        kl = (-0.5 * (1 + log_var - mu**2 - log_var.exp()).sum(dim=1)).mean()
        m = mmd(z, prior, hp.mmd_bandwidths)
        adversarial = -self.critic(x_hat, c).mean() - self.latent_critic(z, c).mean()
        total = recon + hp.beta * kl + hp.mmd_weight * m + hp.adversarial_weight * adversarial
        return {
            "autoencoder": total,
            "reconstruction": recon,
            "kl": kl,
            "mmd": m,
            "adversarial": adversarial,
        }

    def post_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Post-processor on detached reconstructions: ``sort_weight`` x sorted-spectrum
        distance in network space + ``mip_sort_weight`` x the same in MIP units
        (``log1p(cell / E_MIP)``) + ``post_mse_weight`` x squared error; per-shower sums,
        batch mean."""
        hp = self.hparams
        pp = self.generator.post_processor
        with torch.no_grad():
            x_hat = self.reconstruct(batch, rng)[0]
            real_mip = pp.mip_units(batch.x, batch.conditions).sort(dim=1).values
        out = pp(x_hat, batch.conditions)
        spectrum = ((out.sort(dim=1).values - batch.x.sort(dim=1).values) ** 2).sum(dim=1).mean()
        out_mip = pp.mip_units(out, batch.conditions).sort(dim=1).values
        mip_spectrum = ((out_mip - real_mip) ** 2).sum(dim=1).mean()
        mse = ((out - batch.x) ** 2).sum(dim=1).mean()
        to_f = self.preprocessing.to_fraction
        e_out, e_real = to_f(out).sum(dim=1), to_f(batch.x).sum(dim=1)
        energy = (torch.log(e_out.clamp_min(1e-12) / e_real.clamp_min(1e-12)) ** 2).mean()
        total = hp.sort_weight * spectrum + hp.mip_sort_weight * mip_spectrum
        total = total + hp.post_mse_weight * mse + hp.post_energy_weight * energy
        return {
            "post": total,
            "spectrum": spectrum,
            "mip_spectrum": mip_spectrum,
            "energy_sum": energy,
        }

    @torch.no_grad()
    def refresh(self, x: torch.Tensor, conditions: torch.Tensor) -> None:
        """Refit the latent KDE on the current encoder's posteriors of the first
        ``kde_kernels`` training showers (all of them when fewer): one draw from each
        posterior (mean + sigma eps, eps from a fixed-seed generator, so a saved model does not
        depend on the global random state), i.e. a sample of the aggregate posterior the
        decoder was trained on. The ring filled during training holds means from encoders up to
        ``kde_kernels / batch`` steps old, whose decodings carried ~60% too much energy
        (ild-ecal, 800 steps); the means alone collapse to almost one point early in training
        (spread ~0.01 after 60 steps), where the posteriors are still wide."""
        n = min(len(x), self.hparams.kde_kernels)
        chunk = 256
        gen = torch.Generator(device=x.device).manual_seed(REFIT_SEED)
        draws = []
        for a in range(0, n, chunk):
            mu, log_var = self.encode(Batch(x[a : a + chunk], conditions[a : a + chunk]))
            eps = torch.randn(mu.shape, generator=gen, device=mu.device, dtype=mu.dtype)
            draws.append(mu + torch.exp(0.5 * log_var) * eps)
        self.generator.kde.refit(torch.cat(draws)[:n])
        if self.generator.spectrum_map is not None:
            self.fit_spectrum_map(x[:n], conditions[:n])

    @torch.no_grad()
    def fit_spectrum_map(self, x: torch.Tensor, conditions: torch.Tensor) -> None:
        """Fit the spectrum map on showers generated (decoder and post-processor network, the
        latent from the KDE with fixed-seed noise) at the energies of the real network-space
        showers ``x``, against ``x``."""
        gen, smap = self.generator, self.generator.spectrum_map
        assert smap is not None
        pp = gen.post_processor
        noise = gen.make_noise(len(x), torch.Generator().manual_seed(REFIT_SEED + 1)).to(x.device)
        chunk = 256
        made = [
            pp.scores(
                gen.decode(gen.latent(noise[a : a + chunk]), conditions[a : a + chunk]),
                conditions[a : a + chunk],
            )[1]
            for a in range(0, len(x), chunk)
        ]
        smap.fit(torch.cat(made), pp.mip_units(x, conditions), conditions[:, 0])

    def train_step(
        self,
        next_batch: Callable[[], Batch],
        optimisers: dict[str, torch.optim.Optimizer],
        rng: torch.Generator,
    ) -> dict[str, float]:
        c = self.minimise("critic", next_batch(), rng, optimisers)
        batch = next_batch()
        a = self.minimise("autoencoder", batch, rng, optimisers)
        p = self.minimise("post", batch, rng, optimisers)
        with torch.no_grad():  # the latent KDE: this batch's posterior means, newest in
            self.generator.kde.update(self.encode(batch)[0])
        return {k: float(v.detach()) for k, v in (c | a | p).items()}
