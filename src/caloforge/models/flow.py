"""``flow``: two-stage conditional normalising flow (the CaloFlow / CaloINN recipe on CPU sizes).

The same two stages and the same preprocessing as ``flow-matching``
(:class:`~caloforge.models.shower_transform.ShowerTransform`): the **energy flow** models the
layer energies given the conditions (ln E_inc and, for ``atlas-em-barrel``, the alignment
configuration one-hot) through the standardised logit u variables; the **shape flow** models
every layer's dequantised, normalised cell pattern (standardised logit) given the conditions,
the u's and the log layer energies, each cell standardised again per alignment configuration
(``shape_scaling="cell"``, :class:`~caloforge.models.shower_transform.GroupScaling`). Both are
stacks of rational-quadratic spline couplings (:mod:`caloforge.models.spline`; affine with
``energy_coupling`` / ``shape_coupling = "affine"``) over a standard-normal base; with
``cell_bins`` the shape flow ends in a per-cell spline whose knots are a table per configuration
(:mod:`caloforge.models.cell_spline`: the cells' two modes at element-wise cost, for a student).

Training: maximum likelihood -- each flow minimises its negative log-likelihood per dimension
(nats) on the data (the shape flow given the data's true layer energies), each with its own
Adam optimiser; the preprocessing statistics are fitted on the first ``fit_batches`` batches.
With ``teacher`` set, the model is instead a **student** distilled from a trained ``flow``
(:mod:`caloforge.models.flow_student`).

Sampling (:class:`FlowGenerator`): the noise is the concatenated base sample of both flows,
``(N, n_layers + n_cells)`` standard normal; ``forward`` runs the energy flow's inverse, then
the shape flow's inverse given the sampled energies -- one pass through each coupling, no
sequential loop -- and maps back with the cut and per-layer renormalisation of the shared
transform. It traces to ONNX (the spline's bin search is a comparison and a sum).

CPU-sized defaults: energy flow 6 couplings of 2 x 64 (48k parameters), shape flow 6 couplings
of 2 x 128 on 266 cells (2.58M, almost all in the output layers: 133 x 23 spline parameters per
coupling). CaloFlow's flows are MAFs (masked autoregressive) with rational-quadratic splines.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from caloforge.geometry import Geometry
from caloforge.models.base import Batch, Family, Generator, Objective
from caloforge.models.cell_spline import CellSplineFlow
from caloforge.models.conditions import ConditionEncoding
from caloforge.models.flow_student import FlowTeacher, distillation_loss
from caloforge.models.hparams import check_counts
from caloforge.models.preprocessing import Preprocessing
from caloforge.models.shower_transform import (
    DEFAULT_CUT_MEV,
    DEFAULT_NOISE_MEV,
    LOG_ENERGY_FLOOR,
    GroupScaling,
    ShowerTransform,
)
from caloforge.models.spline import TRANSFORMS, CouplingFlow

__all__ = ["SHAPE_SCALINGS", "STUDENT", "Flow", "FlowConfig", "FlowGenerator"]

SHAPE_SCALINGS = ("global", "cell")


@dataclass(frozen=True)
class FlowConfig:
    """Hyper-parameters of ``flow`` (flow sizes, spline, preprocessing, optimiser, teacher)."""

    energy_layers: int = 6
    energy_hidden: int = 64
    shape_layers: int = 6
    shape_hidden: int = 128
    #: hidden layers of every coupling's MLP
    depth: int = 2
    #: spline bins and the half-width of the spline interval (identity outside), in the
    #: standardised logit space (the dequantised empty cells lie around -3 to -4 there)
    bins: int = 8
    bound: float = 8.0
    #: each flow's coupling transform: ``"spline"`` (rational-quadratic) or ``"affine"``
    #: (RealNVP: two parameters per dimension, several times cheaper to sample at large
    #: batches -- a fast student's choice)
    energy_coupling: str = "spline"
    shape_coupling: str = "spline"
    #: a per-cell rational-quadratic spline at the data end of the shape flow, its knots a
    #: table per alignment configuration (and energy node) rather than a network output
    #: (:class:`~caloforge.models.cell_spline.CellSpline`: multi-modal cells at the cost of a
    #: few element-wise operations, for a fast student): its bins (0: none) and the half-width
    #: of its interval in the shape flow's space (identity outside)
    cell_bins: int = 0
    cell_bound: float = 6.0
    #: the cell spline's data side shifted per row by a learned multiple (per configuration and
    #: cell) of the cell's standardised log layer energy, initialised so that a faint cell's
    #: *absolute* energy (the GFlash spot energy, the dequantisation noise, the cut) sits at
    #: the same spline position whatever its layer's energy (the shape variables are fractions
    #: of the layer energy)
    cell_shift: bool = False
    #: the shape flow's space: ``"global"`` (the shared transform's one mean and width over
    #: all hit cells) or ``"cell"`` (then each cell standardised per alignment configuration,
    #: :class:`~caloforge.models.shower_transform.GroupScaling`)
    shape_scaling: str = "cell"
    #: each coupling's last MLP layer starts at this multiple of its default initialisation
    #: (near-identity couplings; exactly 0 would leave the other layers without a gradient)
    init_scale: float = 0.01
    #: the shared preprocessing (see :class:`~caloforge.models.shower_transform.ShowerTransform`
    #: and ``flow-matching``): the cut at the evaluation's hit threshold, the dequantisation
    #: width a third of it (``shower_transform.DEFAULT_CUT_MEV`` says why)
    logit_alpha: float = 1e-6
    noise_mev: float = DEFAULT_NOISE_MEV
    cut_mev: float = DEFAULT_CUT_MEV
    u0_headroom: float = 1.5
    fit_batches: int = 8
    #: Adam betas (the trainer's betas are set for GANs)
    betas: tuple[float, ...] = (0.9, 0.999)
    #: probability-density distillation: the folder of a trained ``flow`` (any sizes, the same
    #: preprocessing settings); the model learns to map noise where the teacher does and data
    #: where the teacher does, instead of the likelihood. Empty: learn from the data
    teacher: str = ""

    def __post_init__(self) -> None:
        check_counts(
            energy_layers=self.energy_layers,
            energy_hidden=self.energy_hidden,
            shape_layers=self.shape_layers,
            shape_hidden=self.shape_hidden,
            depth=self.depth,
            fit_batches=self.fit_batches,
        )
        if self.bins < 2 or not self.bound > 0:
            msg = f"flow: bins must be >= 2 and bound > 0, got {self.bins}, {self.bound}"
            raise ValueError(msg)
        if self.cell_bins == 1 or self.cell_bins < 0 or not self.cell_bound > 0:
            msg = f"flow: cell_bins must be 0 (none) or >= 2 and cell_bound > 0, got {self.cell_bins}, {self.cell_bound}"
            raise ValueError(msg)
        if self.shape_scaling not in SHAPE_SCALINGS:
            msg = f"flow: shape_scaling must be one of {', '.join(SHAPE_SCALINGS)}, got {self.shape_scaling!r}"
            raise ValueError(msg)
        for key in ("energy_coupling", "shape_coupling"):
            if getattr(self, key) not in TRANSFORMS:
                msg = f"flow: {key} must be one of {', '.join(TRANSFORMS)}, got {getattr(self, key)!r}"
                raise ValueError(msg)
        if not (len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas)):
            msg = f"flow: betas must be two numbers in [0, 1), got {self.betas}"
            raise ValueError(msg)


#: the fast student (distil with ``dataclasses.replace(STUDENT, teacher=path)``, or train it by
#: maximum likelihood with ``teacher`` left empty): the default (the teacher's) spline energy
#: flow (6 x 64; the energy stage is 4-6 dimensions, so its spline costs 1.2-1.45x a student's
#: time, measured) and an affine 6 x 64 shape flow with a 64-bin per-cell spline with the layer-energy shift at
#: its data end, on the teacher's preprocessing (see docs/train.md for its measured time and
#: fidelity). An affine 4 x 32 energy flow made sigma/E 8-21% too wide on the 50 GeV cascade
#: headline; the spline energy flow, same data, 1000 steps, maximum likelihood: +0.2%
#: (affine +7.7%, reference 0.01356 on 1250 showers)
STUDENT = FlowConfig(
    shape_layers=6,
    shape_hidden=64,
    shape_coupling="affine",
    cell_bins=64,
    cell_shift=True,
)


class FlowGenerator(Generator):
    """Energy flow, then shape flow (both inverted), then the inverse preprocessing.

    ``noise`` (N, n_layers + n_cells): columns ``[:n_layers]`` are the energy flow's base
    sample, the rest the shape flow's. ``conditions`` (N, encoding.dim)."""

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: FlowConfig,
    ) -> None:
        super().__init__(geometry, encoding, preprocessing)
        hp = hparams
        self.transform = ShowerTransform(
            geometry,
            alpha=hp.logit_alpha,
            noise_mev=hp.noise_mev,
            cut_mev=hp.cut_mev,
            u0_headroom=hp.u0_headroom,
        )
        n_layers = geometry.n_layers
        #: per-cell, per-configuration standardisation of the shapes (``shape_scaling="cell"``)
        self.cell_scaling = (
            GroupScaling(encoding.n_configs if encoding.uses_config else 1, geometry.n_cells)
            if hp.shape_scaling == "cell"
            else None
        )

        def flow(
            dim: int, cond_dim: int, layers: int, hidden: int, seed: int, transform: str
        ) -> CouplingFlow:
            return CouplingFlow(
                dim,
                cond_dim,
                layers=layers,
                hidden=hidden,
                depth=hp.depth,
                bins=hp.bins,
                bound=hp.bound,
                seed=seed,
                init_scale=hp.init_scale,
                transform=transform,
            )

        self.energy_flow = flow(
            n_layers, encoding.dim, hp.energy_layers, hp.energy_hidden, 0, hp.energy_coupling
        )
        self.shape_flow: CouplingFlow
        if hp.cell_bins:
            self.shape_flow = CellSplineFlow(
                geometry.n_cells,
                encoding.dim + 2 * n_layers,
                n_groups=encoding.n_configs if encoding.uses_config else 1,
                energy_nodes=2 if encoding.energy_min_mev < encoding.energy_max_mev else 1,
                cell_bins=hp.cell_bins,
                cell_bound=hp.cell_bound,
                layers=hp.shape_layers,
                hidden=hp.shape_hidden,
                depth=hp.depth,
                bins=hp.bins,
                bound=hp.bound,
                seed=1000,
                init_scale=hp.init_scale,
                transform=hp.shape_coupling,
                covariates=self.transform.layers.T if hp.cell_shift else None,
                covariate_start=encoding.dim + n_layers,  # the log layer energies
            )
        else:
            self.shape_flow = flow(
                geometry.n_cells,
                encoding.dim + 2 * n_layers,
                hp.shape_layers,
                hp.shape_hidden,
                1000,
                hp.shape_coupling,
            )

    @property
    def noise_dim(self) -> int:
        return self.geometry.n_layers + self.geometry.n_cells

    @property
    def n_energy(self) -> int:
        return self.geometry.n_layers

    def groups(self, conditions: torch.Tensor) -> torch.Tensor:
        """(N, cond_dim) -> (N, n_groups): the configuration one-hot (ones without configs)."""
        if self.encoding.uses_config:
            return conditions[:, 1:]
        return torch.ones_like(conditions[:, :1])

    def to_flow_space(self, x_s: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """The transform's standardised shapes -> the shape flow's space (per-cell scaling)."""
        if self.cell_scaling is None:
            return x_s
        return self.cell_scaling(x_s, self.groups(conditions))

    def from_flow_space(self, y: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        if self.cell_scaling is None:
            return y
        return self.cell_scaling.inverse(y, self.groups(conditions))

    def shape_conditions(self, conditions: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """(N, cond_dim), (N, n_layers) layer energies -> the shape flow's conditions."""
        return torch.cat([conditions, self.transform.shape_condition(e)], dim=1)

    def sampled_shape_conditions(
        self, conditions: torch.Tensor, y_e: torch.Tensor, e: torch.Tensor
    ) -> torch.Tensor:
        """The shape flow's conditions for a sample of the energy flow ``y_e`` (N, n_layers)
        and its layer energies ``e``: :meth:`shape_conditions` with the u-part taken from
        ``y_e`` itself (clipped where ``energy_inverse`` clips) instead of re-deriving it from
        ``e``. The same values, but the round trip through the logit is ill-conditioned in
        float32 where a u is close to 1 (an error of 1e-2 in the conditions, and exports that
        disagree with PyTorch beyond the parity tolerance)."""
        t = self.transform
        edge = math.log1p(-t.alpha) - math.log(t.alpha)  # |logit| at u = 0 and u = 1
        y = (y_e * t.energy_std + t.energy_mean).clamp(-edge, edge)
        u_part = (y - t.energy_mean) / t.energy_std
        log_e = (torch.log(e + LOG_ENERGY_FLOOR) - t.log_energy_mean) / t.log_energy_std
        return torch.cat([conditions, u_part, log_e], dim=1)

    def fractions(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """(N, n_cells) cells as fractions of E_inc for the base sample ``noise``."""
        k = self.n_energy
        y_e = self.energy_flow.inverse(noise[:, :k], conditions)
        e = self.transform.energy_inverse(y_e)
        c_s = self.sampled_shape_conditions(conditions, y_e, e)
        y = self.from_flow_space(self.shape_flow.inverse(noise[:, k:], c_s), conditions)
        return self.transform.shape_inverse(y, e, self.encoding.decode_energy(conditions))

    def transformed(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        return self.preprocessing.from_fraction(self.fractions(noise, conditions))


def draw_rows(
    shard: tuple[int, int], n: int, dim: int, rng: torch.Generator, law: str
) -> torch.Tensor:
    """(n, dim) standard-normal (``law="normal"``) or uniform draws: this process's rows of the
    global batch (every rank draws the whole batch, so the rng stays in step under ``torchrun``)."""
    rank, world = shard
    sampler = torch.randn if law == "normal" else torch.rand
    out = sampler(n * world, dim, generator=rng)
    return out if world == 1 else out[rank * n : (rank + 1) * n]


class Flow(Family[FlowConfig]):
    name = "flow"
    Config = FlowConfig
    generator: FlowGenerator

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: FlowConfig,
    ) -> None:
        super().__init__(geometry, encoding, preprocessing, hparams)
        #: the distillation teacher (not trained, not checkpointed: reloaded from its folder)
        self.teacher: FlowTeacher | None = None
        if hparams.teacher:
            self.teacher = FlowTeacher.load(hparams.teacher, geometry, encoding, hparams)
            gen, teach = self.generator, self.teacher.generator
            gen.transform.load_state_dict(teach.transform.state_dict())
            if gen.cell_scaling is not None and teach.cell_scaling is not None:
                gen.cell_scaling.load_state_dict(teach.cell_scaling.state_dict())

    def to(self, device: torch.device | str) -> Flow:
        super().to(device)
        if self.teacher is not None:
            self.teacher.to(device)
        return self

    @classmethod
    def build_generator(
        cls,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: FlowConfig,
    ) -> FlowGenerator:
        return FlowGenerator(geometry, encoding, preprocessing, hparams)

    def objectives(self) -> dict[str, Objective]:
        # the losses call the flows directly, not the generator's forward: under torchrun
        # their gradients are averaged by hand (sync)
        gen = self.generator
        return {
            "energy": Objective(self.energy_loss, list(gen.energy_flow.parameters()), sync=True),
            "shape": Objective(self.shape_loss, list(gen.shape_flow.parameters()), sync=True),
        }

    def make_optimisers(
        self, lr: float, betas: tuple[float, float]
    ) -> dict[str, torch.optim.Optimizer]:
        """Adam per flow with the configuration's betas (``betas``, the trainer's GAN setting,
        is not used)."""
        b = (self.hparams.betas[0], self.hparams.betas[1])
        return {
            name: torch.optim.Adam(obj.parameters, lr=lr * obj.lr_factor, betas=b)
            for name, obj in self.objectives().items()
        }

    # ---- data in the two flows' spaces -----------------------------------------------------
    def fit_preprocessing(self, next_batch: Callable[[], Batch], rng: torch.Generator) -> None:
        """Fit the shared transform's statistics on ``fit_batches`` batches (one
        dequantisation draw from ``rng``)."""
        batches = [next_batch() for _ in range(self.hparams.fit_batches)]
        x = torch.cat([b.x for b in batches])
        energy = torch.cat([self.encoding.decode_energy(b.conditions) for b in batches])
        noise_u = draw_rows(self.shard, len(x), x.shape[1], rng, "uniform").to(x.device)
        gen = self.generator
        f = self.preprocessing.to_fraction(x)
        gen.transform.fit(f, energy, noise_u)
        if gen.cell_scaling is not None:
            conditions = torch.cat([b.conditions for b in batches])
            x_s = gen.transform.shape_forward(f, energy, noise_u)
            gen.cell_scaling.fit(x_s, gen.groups(conditions))

    @torch.no_grad()
    def fit_cell_spline(self, next_batch: Callable[[], Batch], rng: torch.Generator) -> None:
        """Initialise the shape flow's cell spline to the per-cell, per-configuration quantile
        map of ``fit_batches`` batches of data in the shape flow's space (one dequantisation
        draw from ``rng``; a student's are the data the teacher learnt, in its space)."""
        flow = self.generator.shape_flow
        assert isinstance(flow, CellSplineFlow)
        pairs = [self.shape_targets(next_batch(), rng) for _ in range(self.hparams.fit_batches)]
        flow.cell.fit(
            torch.cat([x for x, _ in pairs]),
            torch.cat([c for _, c in pairs]),
            self.shift_scale() if self.hparams.cell_shift else None,
        )
        if dist.is_available() and dist.is_initialized():
            for tensor in flow.cell.state_dict().values():
                dist.broadcast(tensor, src=0)

    def shift_scale(self) -> torch.Tensor:
        """(n_groups, n_cells) the cell spline's initial shift scale: a cell whose fraction of
        its layer is small has ``logit ~ ln E_cell - ln E_layer``, so in the shape flow's space
        it moves by ``-sigma_l / (shape_std std[g, cell])`` per unit of the standardised log
        layer energy (``sigma_l`` its width); adding that much back fixes its absolute energy."""
        gen = self.generator
        t = gen.transform
        sigma = t.per_cell(t.log_energy_std[None, :])  # (1, n_cells)
        std = gen.cell_scaling.std if gen.cell_scaling is not None else torch.ones_like(sigma)
        return sigma / (t.shape_std * std)

    def energy_targets(self, batch: Batch) -> torch.Tensor:
        """(B, n_layers) the batch's standardised logit u's (the energy flow's data)."""
        gen = self.generator
        f = self.preprocessing.to_fraction(batch.x)
        return gen.transform.energy_forward(gen.transform.layer_energies(f))

    def shape_targets(
        self, batch: Batch, rng: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's freshly dequantised standardised logit shapes (B, n_cells), one uniform
        draw, and the shape flow's conditions (B, cond_dim + 2 n_layers) from its true layer
        energies."""
        gen = self.generator
        f = self.preprocessing.to_fraction(batch.x)
        noise_u = draw_rows(self.shard, len(f), f.shape[1], rng, "uniform").to(f.device)
        energy = self.encoding.decode_energy(batch.conditions)
        x_s = gen.to_flow_space(gen.transform.shape_forward(f, energy, noise_u), batch.conditions)
        return x_s, gen.shape_conditions(batch.conditions, gen.transform.layer_energies(f))

    def _loss(
        self, stage: str, flow: CouplingFlow, x: torch.Tensor, c: torch.Tensor, rng: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """The stage's loss on data ``x`` given ``c``: the negative log-likelihood per dimension,
        or for a student the distillation terms (latent space at ``x``, data space at a fresh
        base sample)."""
        if self.teacher is None:
            return {stage: -flow.log_prob(x, c).mean() / flow.dim}
        z = draw_rows(self.shard, len(x), flow.dim, rng, "normal").to(x.device)
        teacher_flow = getattr(self.teacher.generator, f"{stage}_flow")
        terms = distillation_loss(flow, teacher_flow, x, z, c)
        return {stage: terms["x"] + terms["z"]} | {
            f"{stage}_distill_{k}": v.detach() for k, v in terms.items()
        }

    def energy_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Negative log-likelihood per dimension of the energy flow on the batch's layer
        energies (or, for a student, its distillation loss)."""
        x = self.energy_targets(batch)
        return self._loss("energy", self.generator.energy_flow, x, batch.conditions, rng)

    def shape_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Negative log-likelihood per dimension of the shape flow on the batch's dequantised
        shapes given its true layer energies (or, for a student, its distillation loss)."""
        x, c = self.shape_targets(batch, rng)
        return self._loss("shape", self.generator.shape_flow, x, c, rng)

    def train_step(
        self,
        next_batch: Callable[[], Batch],
        optimisers: dict[str, torch.optim.Optimizer],
        rng: torch.Generator,
    ) -> dict[str, float]:
        # first step: fit the preprocessing statistics on real data (kept in checkpoints; a
        # student has its teacher's)
        if not self.generator.transform.is_fitted:
            self.fit_preprocessing(next_batch, rng)
        shape_flow = self.generator.shape_flow
        if isinstance(shape_flow, CellSplineFlow) and not shape_flow.cell.is_fitted:
            self.fit_cell_spline(next_batch, rng)
        batch = next_batch()
        out = self.minimise("energy", batch, rng, optimisers)
        out |= self.minimise("shape", batch, rng, optimisers)
        return {k: float(v.detach()) for k, v in out.items()}
