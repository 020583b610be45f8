"""The generator and critic of the grid GANs (``gan-mbd``, ``wgan-lo``), and their shared
training process.

Generator: ``concat(noise, conditions)`` -> a pattern from a
:class:`~caloforge.models.grid.GridDecoder` (ReLU output: exact zeros, as in a zero-suppressed
calorimeter) normalised to a bounded E_tot/E_inc from a
:class:`~caloforge.models.bounded.RatioHead` (:func:`~caloforge.models.bounded.share`: the cells
never add up to more than the incident energy), then into the preprocessing's network space.
Critic: a
:class:`~caloforge.models.grid.GridEncoder` of the network-space cells, which also sees the
conditions and ``log1p`` of the layer sums and the total (the longitudinal profile and total
energy, which layer-wise convolutions see only through their flattened maps), optionally with a
:class:`~caloforge.models.minibatch.MinibatchDiscrimination` layer before its output.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from caloforge.geometry import Geometry
from caloforge.models.base import Batch, Family, Generator, Objective, Trained
from caloforge.models.bounded import RatioHead, share
from caloforge.models.conditions import ConditionEncoding
from caloforge.models.gan_ecritic import mmd
from caloforge.models.grid import CellGrid, GridDecoder, GridEncoder
from caloforge.models.hparams import check_counts, check_sizes
from caloforge.models.minibatch import MinibatchDiscrimination
from caloforge.models.preprocessing import Preprocessing

__all__ = ["GridCritic", "GridGAN", "GridGANConfig", "GridGenerator", "check_channels"]

#: ``ratio_mmd``: kernel widths (multiples of the data's std of log E_tot/E_inc in the batch)
#: and the width of the kernel on the incident-energy condition (which spans [-1, 1])
RATIO_MMD_BANDWIDTHS = (0.5, 1.0, 2.0)
RATIO_COND_BANDWIDTH = 0.25


def check_channels(**channels: tuple[int, ...]) -> None:
    """Each value must be two positive channel counts."""
    for key, value in channels.items():
        if len(value) != 2:
            msg = f"{key} must be two channel counts, got {list(value)}"
            raise ValueError(msg)
    check_sizes(**channels)


@dataclass(frozen=True)
class GridGANConfig:
    noise_dim: int = 32
    generator_hidden: tuple[int, ...] = (128,)
    #: feature maps per layer image: at half size (before the transposed convolution), full size
    generator_channels: tuple[int, ...] = (2, 4)
    critic_hidden: tuple[int, ...] = (64,)
    #: feature maps of the critic's two stride-2 convolutions
    critic_channels: tuple[int, ...] = (4, 8)
    #: critic updates per generator update
    n_critic: int = 1
    #: train the ratio head (E_tot/E_inc) by a conditional MMD to the data's instead of through
    #: the critic (:meth:`GridGAN.ratio_loss`). Through the critic it drifted: wgan-lo to 0.6 x
    #: the data's E_vis (ild-ecal, 300 steps); gan-mbd to 1.2 x and 16 x (ild-ecal transport-9
    #: photons, 2000 steps, seeds 0 / 1: benchmarks/results/ild_t9.md, before this default)
    ratio_mmd: bool = True

    def __post_init__(self) -> None:
        check_sizes(
            noise_dim=self.noise_dim,
            generator_hidden=self.generator_hidden,
            critic_hidden=self.critic_hidden,
        )
        check_channels(
            generator_channels=self.generator_channels, critic_channels=self.critic_channels
        )
        check_counts(n_critic=self.n_critic)


class GridGenerator(Generator):
    """``(noise, conditions)`` -> network-space cells: the fractions of E_inc
    :meth:`fractions` mapped by the preprocessing."""

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        *,
        noise_dim: int,
        hidden: tuple[int, ...],
        channels: tuple[int, ...],
    ) -> None:
        super().__init__(geometry, encoding, preprocessing)
        self._noise_dim = int(noise_dim)
        grid = CellGrid(geometry)
        n_in = self._noise_dim + encoding.dim
        self.decoder = GridDecoder(n_in, grid, hidden, (channels[0], channels[1]))
        self.ratio = RatioHead(n_in, hidden)
        #: stop the cells' gradient at the ratio (training with ``ratio_mmd``; no effect on the
        #: values, so none on generation or export)
        self.detach_ratio = False

    @property
    def noise_dim(self) -> int:
        return self._noise_dim

    def fractions(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """(B, n_cells) cell energies / E_inc: the decoder's ReLU pattern shared out to the
        ratio head's E_tot/E_inc (at most ``MAX_RATIO``)."""
        h = torch.cat([noise, conditions], dim=1)
        ratio = self.ratio(h)
        return share(self.decoder(h), ratio.detach() if self.detach_ratio else ratio)

    def transformed(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        return self.preprocessing.from_fraction(self.fractions(noise, conditions))


class GridCritic(nn.Module):
    """``(cells (B, n_cells), conditions (B, cond_dim)) -> (B, 1)`` score of network-space cells.

    ``minibatch_kernels`` > 0 adds minibatch discrimination (then a sample's score depends on
    the other samples of its call: score real and generated batches in separate calls)."""

    def __init__(
        self,
        geometry: Geometry,
        cond_dim: int,
        hidden: tuple[int, ...],
        channels: tuple[int, ...],
        *,
        minibatch_kernels: int = 0,
        minibatch_kernel_dim: int = 8,
    ) -> None:
        super().__init__()
        grid = CellGrid(geometry)
        self.n_layers = geometry.n_layers
        n_extra = cond_dim + 1 + geometry.n_layers
        n_out = 0 if minibatch_kernels > 0 else 1
        self.encoder = GridEncoder(
            grid, n_extra, hidden, (channels[0], channels[1]), n_out, final_bias=False
        )
        self.minibatch: MinibatchDiscrimination | None = None
        if minibatch_kernels > 0:
            n_feat = self.encoder.n_features
            self.minibatch = MinibatchDiscrimination(
                n_feat, minibatch_kernels, minibatch_kernel_dim
            )
            self.out = nn.Linear(n_feat + minibatch_kernels, 1)

    def extra(self, cells: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """conditions, ``log1p`` of the total and of each layer's sum of network-space cells."""
        layers = self.encoder.grid.to_grid(cells).sum(dim=(2, 3))
        sums = torch.cat([layers.sum(dim=1, keepdim=True), layers], dim=1)
        return torch.cat([conditions, torch.log1p(sums.clamp_min(0))], dim=1)

    def forward(self, cells: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        extra = self.extra(cells, conditions)
        if self.minibatch is None:
            return self.encoder(cells, extra)
        return self.out(self.minibatch(self.encoder(cells, extra)))


GC = TypeVar("GC", bound=GridGANConfig)


class GridGAN(Family[GC]):
    """A generator and one critic, ``n_critic`` critic updates on fresh batches per generator
    update. Subclasses give the critic (:meth:`build_critic`) and the two losses."""

    generator: GridGenerator

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: GC,
    ) -> None:
        super().__init__(geometry, encoding, preprocessing, hparams)
        self.critic = Trained(self.build_critic())
        self.generator.detach_ratio = hparams.ratio_mmd

    def build_critic(self) -> GridCritic:
        hp = self.hparams
        return GridCritic(self.geometry, self.encoding.dim, hp.critic_hidden, hp.critic_channels)

    @classmethod
    def build_generator(
        cls,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: GC,
    ) -> GridGenerator:
        return GridGenerator(
            geometry,
            encoding,
            preprocessing,
            noise_dim=hparams.noise_dim,
            hidden=hparams.generator_hidden,
            channels=hparams.generator_channels,
        )

    def networks(self) -> dict[str, Trained[Any]]:
        return super().networks() | {"critic": self.critic}

    def objectives(self) -> dict[str, Objective]:
        if not self.hparams.ratio_mmd:
            return {
                "generator": Objective(self.generator_loss, list(self.generator.parameters())),
                "critic": Objective(self.critic_loss, self.critic.parameters()),
            }
        ratio = list(self.generator.ratio.parameters())
        own = {id(p) for p in ratio}
        rest = [p for p in self.generator.parameters() if id(p) not in own]
        return {
            "generator": Objective(self.generator_loss, rest),
            "critic": Objective(self.critic_loss, self.critic.parameters()),
            # the ratio head is called outside the generator's training forward: sync
            "ratio": Objective(self.ratio_loss, ratio, sync=True),
        }

    def ratio_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Conditional MMD between log E_tot/E_inc of the ratio head and of the batch's showers,
        pairs weighted by a Gaussian kernel of width :data:`RATIO_COND_BANDWIDTH` on the
        incident-energy condition (:func:`~caloforge.models.gan_ecritic.mmd`)."""
        noise = self.noise_like(len(batch.x), rng, batch.x.device)
        h = torch.cat([noise, batch.conditions], dim=1)
        fake = torch.log(self.generator.ratio(h))
        real = torch.log(self.preprocessing.to_fraction(batch.x).sum(dim=1).clamp_min(1e-30))
        c = batch.conditions[:, 0]
        m = mmd(fake, real, RATIO_MMD_BANDWIDTHS, c, c, cond_bandwidth=RATIO_COND_BANDWIDTH)
        return {"ratio": m}

    @property
    def batches_per_step(self) -> int:
        return self.hparams.n_critic + 1

    def fake(self, batch: Batch, rng: torch.Generator) -> torch.Tensor:
        """Generated network-space cells (B, n_cells) at the batch's conditions."""
        noise = self.noise_like(len(batch.x), rng, batch.x.device)
        return self.trained_generator(noise, batch.conditions)

    @abstractmethod
    def critic_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """The critic's loss (term ``critic``)."""

    @abstractmethod
    def generator_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """The generator's loss (term ``generator``)."""

    def train_step(
        self,
        next_batch: Callable[[], Batch],
        optimisers: dict[str, torch.optim.Optimizer],
        rng: torch.Generator,
    ) -> dict[str, float]:
        c: dict[str, torch.Tensor] = {}
        for _ in range(self.hparams.n_critic):
            batch = next_batch()
            if not self.generator.ratio.is_fitted:
                self.generator.ratio.fit(self.preprocessing.to_fraction(batch.x).sum(dim=1))
            c = self.minimise("critic", batch, rng, optimisers)
        batch = next_batch()
        g = self.minimise("generator", batch, rng, optimisers)
        if self.hparams.ratio_mmd:
            g |= self.minimise("ratio", batch, rng, optimisers)
        return {k: float(v.detach()) for k, v in (c | g).items()}
