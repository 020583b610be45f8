"""``gan3d``: the CERN/GeantV 3D GAN (Khattak et al., 3DGAN, CLIC Si-W ECAL) on any geometry.

What is kept from the paper:

- a 3D convolutional generator (dense layer to coarse feature maps, up-sampling convolutions)
  and a 3D convolutional discriminator (strided convolutions) on the cell volume of the
  geometry (:mod:`caloforge.models.conv3d`; for ``clic-ecal`` 25 x 25 x 25, the paper's);
- the auxiliary-classifier discriminator: besides the real/fake logit it regresses the
  incident energy, and it is *not* given the energy as an input;
- the energy-reproduction loss: the generator is also trained so that the discriminator's
  regressed energy of its showers equals the energy it was asked for. Both regressions are
  the absolute error of ln E (a relative energy error, like the paper's MAPE); the paper's
  weights (2 on the binary cross-entropy, 0.1 on a MAPE in percent) give ``energy_weight``
  = 0.1 x 100 / 2 = 5 against a cross-entropy of weight 1;
- the non-saturating binary cross-entropy GAN objective, one discriminator update per
  generator update (``n_critic``).

What differs, and why:

- **the layer energies come from a likelihood model** (``layer_flow``, the default): the
  two-stage recipe of the most faithful published generators (CaloFlow, CaloDREAM). A
  conditional normalising flow (:class:`~caloforge.models.layer_energy.LayerEnergyFlow`) fitted
  by maximum likelihood draws the energy of every layer -- the total, the depth of the shower
  and their correlation, which set the linearity and sigma/E -- and the convolutional network,
  given the drawn layer energies, shares each layer's energy over its cells (a softmax within
  the layer). The game is played at the real showers' layer energies (teacher forcing), so
  the discriminator judges the shapes. Without it (the alternatives below, measured on 6 000
  clic-ecal electrons) the single softmax left the layer energies to the adversarial game,
  and the depth fluctuated too little: cell-sum sigma/E 19-41% off at the ends of the range
  (docs/train.md);
- without ``layer_flow``, the paper's third target, the sum of the cells (trained towards a fit of the mean sampling
  fraction versus energy), pushes every shower to the mean and so narrows the resolution; here
  E_tot/E_inc is instead drawn from a conditional mixture density fitted by maximum
  likelihood (:class:`~caloforge.models.dense.EnergyRatioModel`, the ``softmax-likelihood``
  head of the dense families) and the network gives the shape: a softmax over the cells of
  the volume, times that E_tot/E_inc; with ``calibrated`` (default) the drawn quantity is the
  MIP-weighted energy sum(E_layer / f_mip) / E_inc and each cell's share is divided by its
  layer's weight, so the cell sum follows the shower's depth as in a sampling calorimeter;
- without ``layer_flow``, a conditional MMD of (E_tot/E_inc, E_layer/E_inc) between generated
  and real batches in the generator's loss (``layer_mmd_weight``): the convolutional
  discriminator sees cells, not layer sums, and left the layer shares fluctuating 2-7x the
  data's;
- the regression head is trained on real showers only (the paper trains it on generated
  showers too, with the sampled energies as labels, which lets the discriminator learn the
  generator's own mistakes as the energy);
- no batch normalisation (train and eval modes would differ) and the discriminator sees
  ``log1p(f / log_alpha)`` of the energy fractions ``f`` divided by one scale fitted on real
  data (empty voxels stay 0), not the paper's raw energies;
- the generator's per-cell zero-suppression thresholds are calibrated as in the dense GANs
  (:meth:`GAN3D.calibrate_threshold`): a softmax never outputs exact zeros; before every
  validation and saved model they are set exactly (:meth:`GAN3D.refresh`: each cell's empty
  fraction in the whole training set, the quantile of 2048 generated showers there), because
  the step-wise batch of 16 cannot resolve the occupancy of the many rarely hit cells;
- the generator's logits are offset by ln of the data's mean energy share per cell
  (``mean_shower``, fitted on the first batches with the discriminator's scale), so training
  starts from the mean shower rather than from a uniform volume: on a CPU budget of a few
  hundred steps the uniform start never found the longitudinal profile.

Conditions: the incident energy and, for ``atlas-em-barrel``, the alignment configuration
(generator only). The paper's later versions also condition on the incidence angle; our
particle gun fires every shower of a job along one fixed ``direction`` and no angle is stored
with the showers, so there is no angle to condition on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from caloforge.geometry import Geometry, mip_weights
from caloforge.models.base import Batch, Family, Generator, Objective, Trained
from caloforge.models.bounded import bounded_ratio
from caloforge.models.conditions import ConditionEncoding
from caloforge.models.conv3d import ConvDiscriminator, ConvUpsampler, VolumeMap
from caloforge.models.dense import EnergyRatioModel
from caloforge.models.gan_ecritic import mmd
from caloforge.models.hparams import check_counts, check_sizes
from caloforge.models.layer_energy import LayerEnergyFlow
from caloforge.models.preprocessing import Preprocessing
from caloforge.models.suppression import quantile_thresholds

__all__ = ["GAN3D", "GAN3DConfig", "Gan3DDiscriminator", "Gan3DGenerator"]

#: Adam betas of the E_tot/E_inc likelihood model (not the adversarial game's)
ENERGY_BETAS = (0.9, 0.999)
#: seed of the noise the thresholds are refitted with (:meth:`GAN3D.refresh`)
THRESHOLD_SEED = 4242


@dataclass(frozen=True)
class GAN3DConfig:
    noise_dim: int = 64
    #: channels of the coarse feature maps, then after each 2x up-sampling (k = len - 1 blocks)
    generator_channels: tuple[int, ...] = (16, 4, 2)
    #: channels of the stride-2 convolutions of the discriminator
    discriminator_channels: tuple[int, ...] = (8, 16, 16)
    discriminator_hidden: int = 64
    n_critic: int = 1
    #: weight of the energy-regression terms (|ln E_regressed - ln E|) against the
    #: cross-entropy (module docstring)
    energy_weight: float = 5.0
    #: the discriminator sees log1p(f / log_alpha) of the cell energy fractions f
    log_alpha: float = 1e-6
    fit_batches: int = 8
    #: exponential-average weight of each step's update of the zero-suppression thresholds
    threshold_momentum: float = 0.1
    #: before each validation and saved model, every cell's threshold is set exactly: the
    #: quantile, at the cell's empty fraction in the whole training set, of this many showers
    #: generated at the training set's first conditions (:meth:`GAN3D.refresh`). A batch of
    #: 16 cannot place a quantile above 15/16: every cell the data leave empty more often than
    #: that kept ~1/17 of its values, and the 1 000-step clic-ecal runs made 810 non-empty
    #: cells per shower against the data's 451. 0: the step-wise estimate alone
    threshold_showers: int = 2048
    #: learning rate of the E_tot/E_inc likelihood model, in units of the trainer's
    energy_lr_factor: float = 2.0
    #: likelihood steps of that model per training step, each on a fresh batch (it is cheap
    #: next to the convolutions, and its fit sets the linearity and resolution). Four steps on
    #: each batch the step drew, as before, over-fitted each 16-shower batch: on 6000 clic-ecal
    #: electrons sigma(E_tot)/E_tot came out 7-12% narrower than the data's at 10 and 100 GeV
    energy_updates: int = 8
    #: start the generator from the data's mean shower: its logits are offset by ln of the
    #: mean energy share per cell, fitted with the other data-fitted state. Without it, 400
    #: steps on 1200 clic-ecal electrons left 18x the reference's share in the first layer and
    #: 239x in the last at 10 GeV (the middle layers at 0.3x)
    mean_shower: bool = True
    #: weight of a conditional MMD between the generated and the real batch's E_tot/E_inc and
    #: layer energies E_layer/E_inc (pairs of near energies only, width
    #: ``layer_mmd_energy_bandwidth`` in encoded ln E) in the generator's loss. Without it
    #: (1000 steps, 6000 clic-ecal electrons) the layer fractions fluctuated 2-7x more than the
    #: data's and the MIP-weighted sigma/E was 3-4.6x the reference's; on the fractions
    #: E_layer/E_tot alone, 2.9-3.5x (the split did not follow the drawn total); 0: off
    layer_mmd_weight: float = 5.0
    layer_mmd_bandwidths: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    layer_mmd_energy_bandwidth: float = 0.1
    #: the layer MMD's unbiased paired estimator (``mmd(paired=True)``: no pair i = j in any
    #: term); the biased default rewards candidates that fluctuate too little (its cross pairs
    #: of equal energy weigh fully). Tried on 6000 clic-ecal electrons (transport 9, 1000
    #: steps, seeds 0 and 1, ``granular_clic-ecal-electrons-paired.md``): cell-sum sigma/E
    #: max. dev. 44.0 / 14.3% (biased: 41.2 / 19.3%), but its linearity 3.7 / 2.1% (biased:
    #: 0.56 / 0.75%); the MIP-weighted figures, drawn by the likelihood model, unchanged. Off
    layer_mmd_paired: bool = False
    #: draw the MIP-weighted energy (sum of E_layer / f_mip, the calibrated energy of a
    #: sampling calorimeter) from the likelihood model and let the softmax share it out, each
    #: cell's visible energy its share / its layer's weight (weights 1 / f_mip, on geometries
    #: whose every layer has an active slab; elsewhere 1): the cell sum then fluctuates with
    #: the depth of the shower as in the data. Drawing the cell sum instead (off), the sum and
    #: the front-layer share correlated at 0.16-0.27 against the data's 0.55-0.95 (clic-ecal,
    #: 10-100 GeV) and the MIP-weighted sigma/E came out 2.6-3.2x the reference's
    calibrated: bool = True
    #: the two-stage recipe's energy stage: the layer energies drawn from a conditional
    #: normalising flow fitted by maximum likelihood (:class:`~caloforge.models.layer_energy.
    #: LayerEnergyFlow`, ``energy_updates`` steps per training step), the network conditioned
    #: on them and sharing out each layer's energy by a softmax over that layer's cells; the
    #: generator is trained on the real showers' layer energies (teacher forcing) and the
    #: discriminator sees real and generated showers with the same layer energies, so the game
    #: is about the shapes. Replaces the E_tot/E_inc likelihood model, ``calibrated`` and the
    #: layer MMD (not used). Off: the 3DGAN's single softmax over the volume
    layer_flow: bool = True
    layer_flow_layers: int = 6
    layer_flow_hidden: int = 64

    def __post_init__(self) -> None:
        check_sizes(
            noise_dim=self.noise_dim,
            generator_channels=self.generator_channels,
            discriminator_channels=self.discriminator_channels,
            discriminator_hidden=self.discriminator_hidden,
        )
        if self.noise_dim < 2:
            msg = f"noise_dim must be >= 2 (two columns drive E_tot/E_inc), got {self.noise_dim}"
            raise ValueError(msg)
        if self.threshold_showers < 0:
            msg = f"threshold_showers must be >= 0, got {self.threshold_showers}"
            raise ValueError(msg)
        check_counts(
            n_critic=self.n_critic,
            fit_batches=self.fit_batches,
            energy_updates=self.energy_updates,
            layer_flow_layers=self.layer_flow_layers,
            layer_flow_hidden=self.layer_flow_hidden,
        )
        for key in ("energy_weight", "layer_mmd_weight", "layer_mmd_energy_bandwidth"):
            if not getattr(self, key) >= 0:
                msg = f"{key} must be >= 0, got {getattr(self, key)}"
                raise ValueError(msg)
        if not self.log_alpha > 0:
            msg = f"log_alpha must be > 0, got {self.log_alpha}"
            raise ValueError(msg)
        if not 0 <= self.threshold_momentum <= 1:
            msg = f"threshold_momentum must be in [0, 1], got {self.threshold_momentum}"
            raise ValueError(msg)
        if not self.energy_lr_factor > 0:
            msg = f"energy_lr_factor must be > 0, got {self.energy_lr_factor}"
            raise ValueError(msg)


def calibration_weights(geometry: Geometry) -> torch.Tensor:
    """(n_cells,) each cell's layer's MIP weight 1 / f_mip (:func:`caloforge.geometry.mip_weights`,
    the calibration the evaluation's MIP-weighted energy uses), divided by the smallest, so
    >= 1; all 1 on a geometry with a layer without an active slab (no MIP scale)."""
    weights = mip_weights([ly.slabs for ly in geometry.layers])
    if weights is None:
        return torch.ones(geometry.n_cells)
    per_layer = torch.as_tensor(weights / weights.min(), dtype=torch.float32)
    return per_layer[torch.as_tensor(geometry.cell_layer, dtype=torch.int64)]


class Gan3DGenerator(Generator):
    """Two ways to make a shower, both on :class:`ConvUpsampler` logits over the volume (padding
    voxels excluded), offset by the mean shower:

    - ``layer_flow``: the noise's last ``n_layers`` columns drive :class:`LayerEnergyFlow`,
      which draws the layer energies; ``concat(noise[:, :noise_dim], conditions, their
      standardised variables)`` -> logits -> a softmax within each layer x that layer's
      energy. Cells at or below ``cell_threshold`` are zeroed and each layer rescaled to its
      drawn energy.
    - otherwise (the 3DGAN's): ``concat(noise, conditions)`` -> logits -> one softmax over the
      cells x E_tot/E_inc drawn from :class:`EnergyRatioModel` with noise columns 0 and 1,
      clipped to ``[0, MAX_RATIO]`` by :func:`~caloforge.models.bounded.bounded_ratio` (the
      likelihood model's tails cannot put more than 2 E_inc into a shower); after the zero
      suppression the survivors are rescaled to that E_tot/E_inc."""

    cell_threshold: torch.Tensor
    logit_offset: torch.Tensor
    cell_weight: torch.Tensor

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        *,
        noise_dim: int,
        channels: tuple[int, ...],
        calibrated: bool = False,
        layer_flow: tuple[int, int] | None = None,
    ) -> None:
        """``layer_flow``: (couplings, hidden units) of the layer-energy flow; None: the
        E_tot/E_inc likelihood model."""
        super().__init__(geometry, encoding, preprocessing)
        if preprocessing.kind != "fraction":
            msg = "gan3d outputs energy fractions; use preprocessing kind 'fraction'"
            raise ValueError(msg)
        self._noise_dim = int(noise_dim)
        self.volume = VolumeMap(geometry)
        n_extra = 0 if layer_flow is None else geometry.n_layers  # the flow's variables
        self.body = ConvUpsampler(
            self._noise_dim + encoding.dim + n_extra, self.volume.shape, channels
        )
        self.energy: EnergyRatioModel | None = None
        self.layer_energy: LayerEnergyFlow | None = None
        if layer_flow is None:
            self.energy = EnergyRatioModel(encoding.dim)
        else:
            couplings, hidden = layer_flow
            self.layer_energy = LayerEnergyFlow(
                geometry, encoding.dim, layers=couplings, hidden=hidden
            )
        self.register_buffer("cell_threshold", torch.zeros(geometry.n_cells))
        #: added to the network's logits: ln of the data's mean energy share per cell
        #: (:meth:`fit_mean_shower`), so that the untrained generator already draws the mean
        #: shower and the network learns the deviations from it; zero until fitted
        self.register_buffer("logit_offset", torch.zeros(geometry.n_cells))
        #: each cell's calibration weight (:func:`calibration_weights`; 1 everywhere unless
        #: ``calibrated``): the likelihood model draws sum(w x), the softmax shares it out
        use_weights = calibrated and layer_flow is None
        weights = calibration_weights(geometry) if use_weights else torch.ones(geometry.n_cells)
        self.register_buffer("cell_weight", weights, persistent=False)

    @property
    def network_noise_dim(self) -> int:
        """The noise columns the network sees (the first ones)."""
        return self._noise_dim

    @property
    def noise_dim(self) -> int:
        """The network's noise columns, then (``layer_flow``) the layer-energy flow's."""
        extra = self.geometry.n_layers if self.layer_energy is not None else 0
        return self._noise_dim + extra

    @torch.no_grad()
    def fit_mean_shower(self, x: torch.Tensor, floor: float = 1e-3) -> None:
        """:attr:`logit_offset` from real network-space cells ``x`` (B, n_cells): ln of each
        cell's share of the summed energy, the shares first raised by ``floor`` / n_cells (a
        cell empty in these showers starts ~7 units of logit below an average one, not at
        minus infinity). A straight line in ln E through the mean showers of four energy groups
        was tried and measured no better (docs/train.md)."""
        total = x.clamp_min(0).sum(dim=0).double()
        share = total / total.sum().clamp_min(1e-300)
        self.logit_offset.copy_(torch.log(share + floor / share.numel()).to(self.logit_offset))

    def calibrated_sum(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_cells) network-space cells -> (B,) sum(w x), the quantity the likelihood model
        draws (the cell sum E_tot/E_inc when every weight is 1)."""
        return (x * self.cell_weight).sum(dim=1)

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, n_in) network inputs -> (B, n_cells) logits, the mean shower's offset added."""
        return self.volume.to_cells(self.body(inputs)) + self.logit_offset

    def shaped(
        self, noise: torch.Tensor, conditions: torch.Tensor, e: torch.Tensor, y: torch.Tensor
    ) -> torch.Tensor:
        """``layer_flow``: network-space cells before the zero suppression for given layer
        energies ``e`` (B, n_layers, fractions of E_inc) and their standardised variables
        ``y``: each layer's softmax shares x its energy. ``noise`` is the network's part."""
        assert self.layer_energy is not None
        logits = self.logits(torch.cat([noise, conditions, y], dim=1))
        # within-layer softmax: exp of the logits below the shower's largest, floored at
        # e^-60 so that no layer's shares underflow to an all-zero sum
        z = torch.exp((logits - logits.max(dim=1, keepdim=True).values).clamp_min(-60.0))
        le = self.layer_energy
        return z / le.per_cell(le.layer_energies(z)) * le.per_cell(e)

    def unthresholded(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """Network-space cells (fractions of E_inc) before the zero suppression. ``layer_flow``:
        :meth:`shaped` at the flow's draw. Otherwise the softmax's shares of the drawn
        sum(w x), each divided by its cell's weight (>= 1, so the cells add up to at most the
        drawn value, itself at most ``MAX_RATIO``)."""
        if self.layer_energy is not None:
            e, y = self.layer_energy.sample(noise[:, self._noise_dim :], conditions)
            return self.shaped(noise[:, : self._noise_dim], conditions, e, y)
        assert self.energy is not None
        logits = self.logits(torch.cat([noise, conditions], dim=1))
        ratio = self.energy.sample(noise[:, 0], noise[:, 1], conditions)
        return torch.softmax(logits, dim=1) * bounded_ratio(ratio)[:, None] / self.cell_weight

    def suppressed(self, x: torch.Tensor) -> torch.Tensor:
        """The zero suppression of unthresholded cells ``x``: cells at or below
        ``cell_threshold`` zeroed, the survivors rescaled so that each layer keeps its energy
        (``layer_flow``) or the shower its sum(w x)."""
        kept = torch.where(x > self.cell_threshold, x, torch.zeros_like(x))
        if self.layer_energy is not None:
            le = self.layer_energy
            return kept * le.per_cell(
                le.layer_energies(x) / le.layer_energies(kept).clamp_min(1e-12)
            )
        scale = self.calibrated_sum(x) / self.calibrated_sum(kept).clamp_min(1e-12)
        return kept * scale[:, None]

    def transformed(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        return self.suppressed(self.unthresholded(noise, conditions))


class Gan3DDiscriminator(nn.Module):
    """The auxiliary-classifier discriminator on flat standardised cells: ``forward(z)``,
    z (B, n_cells) = :meth:`standardise` (x), -> (B, 2): real/fake logit, regressed encoded
    energy (conditions column 0). Buffers fitted on real data (:meth:`fit`): the feature
    scale and each cell's fraction of empty showers (for the generator's thresholds)."""

    scale: torch.Tensor
    fitted: torch.Tensor
    zero_fraction: torch.Tensor

    def __init__(
        self, geometry: Geometry, channels: tuple[int, ...], hidden: int, log_alpha: float
    ) -> None:
        super().__init__()
        self.log_alpha = float(log_alpha)
        self.volume = VolumeMap(geometry)
        self.net = ConvDiscriminator(self.volume.shape, channels, hidden)
        self.register_buffer("scale", torch.ones(()))
        self.register_buffer("fitted", torch.zeros(()))
        self.register_buffer("zero_fraction", torch.zeros(geometry.n_cells))

    @property
    def is_fitted(self) -> bool:
        return bool(self.fitted > 0)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log1p(x.clamp_min(0) / self.log_alpha)

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        """Scale and empty-cell fractions from real network-space cells ``x`` (B >= 2, n_cells):
        the scale is the r.m.s. of the non-empty features (1 if there are none)."""
        if x.ndim != 2 or x.shape[1] != self.zero_fraction.numel() or len(x) < 2:
            msg = f"Gan3DDiscriminator.fit needs (B >= 2, {self.zero_fraction.numel()}) inputs, got {tuple(x.shape)}"
            raise ValueError(msg)
        self.zero_fraction.copy_((x <= 0).to(self.zero_fraction).mean(dim=0))
        f = self.features(x).double()
        nonzero = f[f > 0]
        rms = float(nonzero.square().mean().sqrt()) if nonzero.numel() else 1.0
        self.scale.fill_(rms)
        self.fitted.fill_(1.0)

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_cells) network-space cells -> the features :meth:`forward` scores."""
        return self.features(x) / self.scale

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(self.volume.to_volume(z))
        return out


class GAN3D(Family[GAN3DConfig]):
    name = "gan3d"
    Config = GAN3DConfig
    # models saved before the calibrated draw drew the cell sum, before the layer flow the
    # E_tot/E_inc likelihood model
    artifact_defaults: ClassVar[dict[str, Any]] = {"calibrated": False, "layer_flow": False}

    generator: Gan3DGenerator

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: GAN3DConfig,
    ) -> None:
        super().__init__(geometry, encoding, preprocessing, hparams)
        self.discriminator = Trained(
            Gan3DDiscriminator(
                geometry,
                hparams.discriminator_channels,
                hparams.discriminator_hidden,
                hparams.log_alpha,
            )
        )

    @classmethod
    def build_generator(
        cls,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: GAN3DConfig,
    ) -> Gan3DGenerator:
        return Gan3DGenerator(
            geometry,
            encoding,
            preprocessing,
            noise_dim=hparams.noise_dim,
            channels=hparams.generator_channels,
            calibrated=hparams.calibrated,
            layer_flow=(hparams.layer_flow_layers, hparams.layer_flow_hidden)
            if hparams.layer_flow
            else None,
        )

    def networks(self) -> dict[str, Trained[Any]]:
        return super().networks() | {"discriminator": self.discriminator}

    def energy_stage(self) -> nn.Module:
        """The generator's likelihood-fitted part: the layer-energy flow or the E_tot/E_inc
        model."""
        gen = self.generator
        stage = gen.layer_energy if gen.layer_energy is not None else gen.energy
        assert stage is not None
        return stage

    def objectives(self) -> dict[str, Objective]:
        energy_model = self.energy_stage()
        own = {id(p) for p in energy_model.parameters()}
        rest = [p for p in self.generator.parameters() if id(p) not in own]
        # with the layer flow the generator's loss calls the network directly (teacher
        # forcing), not through its DDP-wrapped forward: gradients averaged by hand (sync)
        teacher_forced = self.generator.layer_energy is not None
        return {
            "generator": Objective(self.generator_loss, rest, sync=teacher_forced),
            "discriminator": Objective(self.discriminator_loss, self.discriminator.parameters()),
            # maximum likelihood on the real E_tot/E_inc only, with Adam's usual betas (the
            # game's (0.5, 0.9) left the fitted widths 5-7% narrow at the ends of the energy
            # range); outside the generator's DDP-wrapped forward, hence sync
            "energy": Objective(
                self.energy_loss,
                list(energy_model.parameters()),
                lr_factor=self.hparams.energy_lr_factor,
                sync=True,
                betas=ENERGY_BETAS,
            ),
        }

    @property
    def batches_per_step(self) -> int:
        """Batches of the networks' updates; the likelihood model's are extra (it sees
        ``energy_updates`` more batches per step)."""
        return self.hparams.n_critic + 1

    # ---- data-fitted state ------------------------------------------------------------------
    def fit(self, x: torch.Tensor) -> None:
        """On real network-space cells (B, n_cells): the discriminator's scale and empty-cell
        fractions, the likelihood model's standardisation of E_tot/E_inc and, with
        ``mean_shower``, the generator's logit offset (the mean shower)."""
        gen = self.generator
        self.discriminator.module.fit(x)
        if gen.layer_energy is not None:
            gen.layer_energy.fit(gen.layer_energy.layer_energies(x))
        else:
            assert gen.energy is not None
            gen.energy.set_reference(gen.calibrated_sum(x))
        if self.hparams.mean_shower:
            gen.fit_mean_shower(x * gen.cell_weight)

    @torch.no_grad()
    def refresh(self, x: torch.Tensor, conditions: torch.Tensor) -> None:
        """The empty-cell fractions from the whole training set ``x`` (network space) and the
        zero-suppression thresholds at them, exactly, from ``threshold_showers`` showers
        generated (fixed-seed noise, so a saved model does not depend on the global random
        state) at the first training conditions."""
        n = min(len(x), self.hparams.threshold_showers)
        if n < 2:
            return
        empty = (x <= 0).to(torch.float32).mean(dim=0)
        self.discriminator.module.zero_fraction.copy_(empty)
        gen = self.generator
        noise = gen.make_noise(n, torch.Generator().manual_seed(THRESHOLD_SEED)).to(x.device)
        chunk = 256
        raw = torch.cat(
            [
                gen.unthresholded(noise[a : a + chunk], conditions[a : a + chunk])
                for a in range(0, n, chunk)
            ]
        )
        gen.cell_threshold.copy_(quantile_thresholds(raw, empty))

    @torch.no_grad()
    def calibrate_threshold(self, batch: Batch, rng: torch.Generator) -> None:
        """Move each cell's zero-suppression threshold towards the quantile of this batch's
        generated values at the data's empty-cell fraction."""
        w = self.hparams.threshold_momentum
        if w <= 0:
            return
        gen = self.generator
        noise = self.noise_like(len(batch.x), rng, batch.x.device)
        raw = gen.unthresholded(noise, batch.conditions)
        target = quantile_thresholds(raw, self.discriminator.module.zero_fraction)
        gen.cell_threshold.mul_(1 - w).add_(w * target)

    # ---- losses ----------------------------------------------------------------------------
    def fake(self, batch: Batch, rng: torch.Generator) -> torch.Tensor:
        """Generated showers at ``batch``'s conditions; with ``layer_flow`` at its real
        showers' layer energies too (teacher forcing: the flow is fitted apart, by likelihood,
        and the game is about the shapes given the layer energies)."""
        noise = self.noise_like(len(batch.x), rng, batch.x.device)
        gen = self.generator
        if gen.layer_energy is None:
            return self.trained_generator(noise, batch.conditions)
        le = gen.layer_energy
        e = le.layer_energies(batch.x)
        x = gen.shaped(noise[:, : gen.network_noise_dim], batch.conditions, e, le.variables(e))
        return gen.suppressed(x)

    def energy_error(self, out: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """Mean |ln E_regressed - ln E| of the discriminator outputs (B, 2)."""
        return (out[:, 1] - conditions[:, 0]).abs().mean() * self.encoding.half_width

    def discriminator_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Cross-entropy of real (label 1) and generated (label 0) showers plus
        ``energy_weight`` x the energy regression error on the real ones."""
        with torch.no_grad():
            fake = self.fake(batch, rng)
        d = self.discriminator
        real_out = d(d.module.standardise(batch.x))
        fake_out = d(d.module.standardise(fake))
        bce = nn.functional.binary_cross_entropy_with_logits
        adv = bce(real_out[:, 0], torch.ones_like(real_out[:, 0])) + bce(
            fake_out[:, 0], torch.zeros_like(fake_out[:, 0])
        )
        reg = self.energy_error(real_out, batch.conditions)
        return {
            "discriminator": adv + self.hparams.energy_weight * reg,
            "d_adversarial": adv,
            "d_energy_error": reg,
        }

    def layer_mmd(self, fake: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Conditional MMD between E_tot/E_inc and the layer energies E_layer/E_inc of
        generated showers ``fake`` (made at ``batch``'s conditions) and of ``batch``'s real
        ones: the joint distribution, so the layer split follows the drawn total as in the
        data."""
        hp = self.hparams
        e = batch.conditions[:, 0]
        return mmd(
            self.energy_features(fake),
            self.energy_features(batch.x),
            hp.layer_mmd_bandwidths,
            e,
            e,
            hp.layer_mmd_energy_bandwidth,
            paired=hp.layer_mmd_paired,
        )

    def generator_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Non-saturating cross-entropy (generated labelled real) plus ``energy_weight`` x the
        error of the discriminator's regressed energy of the generated showers plus
        ``layer_mmd_weight`` x :meth:`layer_mmd`."""
        d = self.discriminator
        fake = self.fake(batch, rng)
        out = d(d.module.standardise(fake))
        adv = nn.functional.binary_cross_entropy_with_logits(out[:, 0], torch.ones_like(out[:, 0]))
        reg = self.energy_error(out, batch.conditions)
        hp = self.hparams
        total = adv + hp.energy_weight * reg
        terms = {"g_energy_error": reg}
        if hp.layer_mmd_weight > 0 and self.generator.layer_energy is None:
            layers = self.layer_mmd(fake, batch)
            total = total + hp.layer_mmd_weight * layers
            terms["g_layer_mmd"] = layers
        return {"generator": total, **terms}

    def energy_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Negative log-likelihood of the batch's real layer energies (``layer_flow``, nats per
        layer) or sum(w x) (E_tot/E_inc with unit weights). Draws nothing from ``rng``."""
        gen = self.generator
        c = batch.conditions
        if gen.layer_energy is not None:
            le = gen.layer_energy
            return {"energy": le.nll(le.layer_energies(batch.x), c)}
        assert gen.energy is not None
        return {"energy": gen.energy.nll(gen.calibrated_sum(batch.x), c)}

    def train_step(
        self,
        next_batch: Callable[[], Batch],
        optimisers: dict[str, torch.optim.Optimizer],
        rng: torch.Generator,
    ) -> dict[str, float]:
        if not self.discriminator.module.is_fitted:
            self.fit(torch.cat([next_batch().x for _ in range(self.hparams.fit_batches)]))
        d: dict[str, torch.Tensor] = {}
        e: dict[str, torch.Tensor] = {}
        for _ in range(self.hparams.n_critic):
            d = self.minimise("discriminator", next_batch(), rng, optimisers)
        batch = next_batch()
        g = self.minimise("generator", batch, rng, optimisers)
        for _ in range(self.hparams.energy_updates):
            e = self.minimise("energy", next_batch(), rng, optimisers)
        self.calibrate_threshold(batch, rng)
        return {k: float(v.detach()) for k, v in (d | g | e).items()}
