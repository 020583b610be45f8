"""``flow-matching``: two-stage conditional flow matching (the CaloDREAM recipe on CPU sizes).

Stage (a), the **energy model**, learns the layer energies given the conditions (ln E_inc and,
for ``atlas-em-barrel``, the alignment configuration one-hot) through the u variables of
:class:`~caloforge.models.shower_transform.ShowerTransform` (E_tot/E_inc and each layer's share
of the energy still to come). Stage (b), the **shape model**, learns every layer's cells divided
by the layer's sum given the conditions, the u's and the log layer energies. Both are trained
with the data's true energies; sampling feeds the shape model the energy model's output.

Training (conditional flow matching, Lipman et al. 2023, with the straight path of rectified
flow): for data ``x1`` in the standardised logit space, ``x0 ~ N(0, 1)`` and ``t ~ U(0, 1)``,
``x_t = (1 - t) x0 + t x1`` and the velocity network regresses ``x1 - x0`` (mean squared error).
Each stage has its own optimiser (AdamW, ``weight_decay`` per stage) and takes one step on every
batch. The preprocessing statistics are fitted on the first ``fit_batches`` batches.

Sampling (:class:`FlowMatchingGenerator`): the noise is the concatenated initial state of both
stages, ``(N, n_layers + n_cells)``; ``forward`` integrates the energy ODE, then the shape ODE,
each with ``solver_steps`` fixed steps of ``solver`` (unrolled: the generator exports to ONNX),
and maps back with the cut and per-layer renormalisation (each layer sums exactly to its sampled
energy). :meth:`FlowMatchingGenerator.sample_adaptive` solves the same ODEs with an adaptive
torchdiffeq solver, for a teacher's offline samples.

CPU-sized defaults: energy network 3 blocks of width 128 (0.11M parameters), shape network 3
blocks of width 256 (0.57M, for 266 cells); the published CaloDREAM networks are 8 x 256 and 2 x 2000 (3.4M),
trained 3000 / 25 000 epochs with batches of 1000 / 4000 and sampled with 100 midpoint steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from caloforge.geometry import Geometry
from caloforge.models.base import Batch, Family, Generator, Objective
from caloforge.models.conditions import ConditionEncoding
from caloforge.models.hparams import check_counts
from caloforge.models.preprocessing import Preprocessing
from caloforge.models.reflow import Teacher
from caloforge.models.shower_transform import DEFAULT_CUT_MEV, DEFAULT_NOISE_MEV, ShowerTransform
from caloforge.models.velocity import SOLVER_EVALUATIONS, Field, Solver, VelocityField, integrate

__all__ = ["REFLOW_STUDENT", "FlowMatching", "FlowMatchingConfig", "FlowMatchingGenerator"]


@dataclass(frozen=True)
class FlowMatchingConfig:
    """Hyper-parameters of ``flow-matching`` (network sizes, solver, preprocessing, optimiser)."""

    energy_hidden: int = 128
    energy_blocks: int = 3
    shape_hidden: int = 256
    shape_blocks: int = 3
    #: Gaussian Fourier time features: number of frequencies and the standard deviation of
    #: the frequencies. CaloDREAM uses 30 with 100 midpoint steps; with 30, t-features
    #: oscillate faster than one of our 16 solver steps, so the default is 4 (periods of
    #: ~0.25 in t)
    time_frequencies: int = 8
    time_scale: float = 4.0
    #: the last layer of every residual block and the output layer start at this multiple of
    #: their default initialisation (near-identity blocks, near-zero initial velocity); exactly 0
    #: would leave the layers before them without a gradient on the first step
    init_scale: float = 1e-3
    #: fixed-step solver of ``forward`` (what sampling and the ONNX export use)
    solver: Solver = "midpoint"
    solver_steps: int = 16
    #: logit regulariser: logit(u (1 - 2 alpha) + alpha)
    logit_alpha: float = 1e-6
    #: dequantisation width, MeV per cell: the empty cells become U(0, noise_mev); generated
    #: cells at or below ``cut_mev`` (>= noise_mev) are cut. Defaults: the evaluation's hit
    #: threshold and a third of it (see ``shower_transform.DEFAULT_CUT_MEV``). The model cannot
    #: put empty cells exactly at zero; what it puts between the dequantised empty cells and the
    #: smallest hits is cut. With uniform noise the empty cells crowd the top of their range (in
    #: logit space), so a cut at the noise width leaks: with 0.5 / 0.5 MeV a 2000-step model had
    #: 54 hit strip cells per shower instead of 20
    noise_mev: float = DEFAULT_NOISE_MEV
    cut_mev: float = DEFAULT_CUT_MEV
    #: u0 = E_tot/E_inc / (u0_headroom x the largest E_tot/E_inc of the fitting batches)
    u0_headroom: float = 1.5
    fit_batches: int = 8
    #: AdamW weight decay of the energy and the shape network (CaloDREAM: 0.01 / 0.005)
    energy_weight_decay: float = 0.01
    shape_weight_decay: float = 0.005
    #: AdamW betas (the trainer's betas are set for GANs)
    betas: tuple[float, ...] = (0.9, 0.999)
    #: reflow distillation (:mod:`caloforge.models.reflow`): the folder of a trained
    #: ``flow-matching`` model with this architecture; the model starts from its tensors and
    #: learns from its (noise, output) pairs instead of the data. Empty: learn from the data
    teacher: str = ""

    def __post_init__(self) -> None:
        check_counts(
            energy_hidden=self.energy_hidden,
            energy_blocks=self.energy_blocks,
            shape_hidden=self.shape_hidden,
            shape_blocks=self.shape_blocks,
            time_frequencies=self.time_frequencies,
            solver_steps=self.solver_steps,
            fit_batches=self.fit_batches,
        )
        if self.solver not in SOLVER_EVALUATIONS:
            msg = f"flow-matching: solver must be one of {', '.join(SOLVER_EVALUATIONS)}, got {self.solver!r}"
            raise ValueError(msg)
        if not (len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas)):
            msg = f"flow-matching: betas must be two numbers in [0, 1), got {self.betas}"
            raise ValueError(msg)
        if self.energy_weight_decay < 0 or self.shape_weight_decay < 0:
            msg = "flow-matching: weight decays must be >= 0"
            raise ValueError(msg)


#: the reflow student's preset (``teacher`` still to set): the default architecture (the
#: student starts from a default teacher's tensors) sampled with two Euler steps, two
#: evaluations of each network per shower instead of the teacher's 32 (midpoint, 16 steps)
REFLOW_STUDENT = FlowMatchingConfig(solver="euler", solver_steps=2)


class FlowMatchingGenerator(Generator):
    """Energy ODE, then shape ODE, then the inverse preprocessing; see the module docstring.

    ``noise`` (N, n_layers + n_cells): columns ``[:n_layers]`` start the energy ODE, the rest
    the shape ODE. ``conditions`` (N, encoding.dim)."""

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: FlowMatchingConfig,
    ) -> None:
        super().__init__(geometry, encoding, preprocessing)
        hp = hparams
        self.steps, self.solver = hp.solver_steps, hp.solver
        self.transform = ShowerTransform(
            geometry,
            alpha=hp.logit_alpha,
            noise_mev=hp.noise_mev,
            cut_mev=hp.cut_mev,
            u0_headroom=hp.u0_headroom,
        )
        n_layers = geometry.n_layers

        def field(dim: int, cond_dim: int, hidden: int, blocks: int) -> VelocityField:
            return VelocityField(
                dim,
                cond_dim,
                hidden=hidden,
                blocks=blocks,
                time_frequencies=hp.time_frequencies,
                time_scale=hp.time_scale,
                init_scale=hp.init_scale,
            )

        self.energy_field = field(n_layers, encoding.dim, hp.energy_hidden, hp.energy_blocks)
        self.shape_field = field(
            geometry.n_cells, encoding.dim + 2 * n_layers, hp.shape_hidden, hp.shape_blocks
        )

    @property
    def noise_dim(self) -> int:
        return self.geometry.n_layers + self.geometry.n_cells

    @property
    def n_energy(self) -> int:
        return self.geometry.n_layers

    def shape_conditions(self, conditions: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """(N, cond_dim), (N, n_layers) layer energies -> the shape network's conditions."""
        return torch.cat([conditions, self.transform.shape_condition(e)], dim=1)

    def fractions(
        self,
        noise: torch.Tensor,
        conditions: torch.Tensor,
        solve: Callable[[Field, torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """(N, n_cells) cells as fractions of E_inc, both ODEs solved by ``solve(field, x0, c)``."""
        k = self.n_energy
        e = self.transform.energy_inverse(solve(self.energy_field, noise[:, :k], conditions))
        y = solve(self.shape_field, noise[:, k:], self.shape_conditions(conditions, e))
        return self.transform.shape_inverse(y, e, self.encoding.decode_energy(conditions))

    def transformed(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        def fixed(field: Field, x0: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            return integrate(field, x0, c, self.steps, self.solver)

        return self.preprocessing.from_fraction(self.fractions(noise, conditions, fixed))

    @torch.no_grad()
    def sample_adaptive(
        self,
        energy_mev: np.ndarray | torch.Tensor,
        config: np.ndarray | int | None = None,
        *,
        noise: torch.Tensor,
        method: str = "dopri5",
        rtol: float = 1e-5,
        atol: float = 1e-5,
    ) -> torch.Tensor:
        """Like :meth:`sample` (cells in MeV), with both ODEs solved by torchdiffeq's adaptive
        ``method`` to tolerances ``rtol``/``atol`` (offline teacher samples; not exportable)."""
        # imported here: only the offline teacher path needs it
        from torchdiffeq import odeint  # type: ignore[import-untyped]

        noise, cond = self.sampling_inputs(energy_mev, config, noise)

        def adaptive(field: Field, x0: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            def rhs(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
                return field(x, t.expand(len(x), 1), c)

            times = torch.tensor([0.0, 1.0], device=x0.device)
            out: torch.Tensor = odeint(rhs, x0, times, rtol=rtol, atol=atol, method=method)[-1]
            return out

        f = self.run_eval(lambda z, c: self.fractions(z, c, adaptive), noise, cond)
        return f * self.encoding.decode_energy(cond)


def flow_matching_loss(
    field: Field, x1: torch.Tensor, c: torch.Tensor, x0: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """Mean squared error of ``field`` against the straight-path velocity ``x1 - x0`` at
    ``x_t = (1 - t) x0 + t x1``; ``t`` (N, 1)."""
    xt = (1 - t) * x0 + t * x1
    return ((field(xt, t, c) - (x1 - x0)) ** 2).mean()


class FlowMatching(Family[FlowMatchingConfig]):
    name = "flow-matching"
    Config = FlowMatchingConfig
    generator: FlowMatchingGenerator

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: FlowMatchingConfig,
    ) -> None:
        super().__init__(geometry, encoding, preprocessing, hparams)
        #: the reflow teacher (not trained, not checkpointed: reloaded from its folder)
        self.teacher: Teacher | None = None
        if hparams.teacher:
            self.teacher = Teacher.load(hparams.teacher, geometry, encoding, hparams)
            self.generator.load_state_dict(self.teacher.generator.state_dict())

    def to(self, device: torch.device | str) -> FlowMatching:
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
        hparams: FlowMatchingConfig,
    ) -> FlowMatchingGenerator:
        return FlowMatchingGenerator(geometry, encoding, preprocessing, hparams)

    def objectives(self) -> dict[str, Objective]:
        # the losses call the velocity networks directly, not the generator's forward (the
        # ODE solve): under torchrun their gradients are averaged by hand (sync)
        gen = self.generator
        return {
            "energy": Objective(self.energy_loss, list(gen.energy_field.parameters()), sync=True),
            "shape": Objective(self.shape_loss, list(gen.shape_field.parameters()), sync=True),
        }

    def make_optimisers(
        self, lr: float, betas: tuple[float, float]
    ) -> dict[str, torch.optim.Optimizer]:
        """AdamW per stage with the configuration's betas and weight decays (``betas``, the
        trainer's GAN setting, is not used)."""
        hp, objectives = self.hparams, self.objectives()
        decay = {"energy": hp.energy_weight_decay, "shape": hp.shape_weight_decay}
        return {
            name: torch.optim.AdamW(
                obj.parameters,
                lr=lr * obj.lr_factor,
                betas=(hp.betas[0], hp.betas[1]),
                weight_decay=decay[name],
            )
            for name, obj in objectives.items()
        }

    # ---- data in the two stages' spaces ----------------------------------------------------
    def _rows(self, n: int, dim: int, rng: torch.Generator, draw: str) -> torch.Tensor:
        """(n, dim) standard-normal or uniform draws for this process's rows of the global batch
        (every rank draws the whole batch, so the rng stays in step; see ``noise_like``)."""
        rank, world = self.shard
        sampler = torch.randn if draw == "normal" else torch.rand
        out = sampler(n * world, dim, generator=rng)
        return out if world == 1 else out[rank * n : (rank + 1) * n]

    def _energy_mev(self, batch: Batch) -> torch.Tensor:
        return self.encoding.decode_energy(batch.conditions)

    def fit_preprocessing(self, next_batch: Callable[[], Batch], rng: torch.Generator) -> None:
        """Fit the preprocessing statistics on ``fit_batches`` batches (one dequantisation draw
        from ``rng``)."""
        batches = [next_batch() for _ in range(self.hparams.fit_batches)]
        x = torch.cat([b.x for b in batches])
        energy = torch.cat([self._energy_mev(b) for b in batches])
        noise_u = self._rows(len(x), x.shape[1], rng, "uniform").to(x.device)
        self.generator.transform.fit(self.preprocessing.to_fraction(x), energy, noise_u)

    def energy_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Flow-matching loss of the energy network: on the batch's true layer energies, or on
        the teacher's output for the same noise (reflow)."""
        gen, n, dev, c = self.generator, len(batch.x), batch.x.device, batch.conditions
        if self.teacher is None:
            e = gen.transform.layer_energies(self.preprocessing.to_fraction(batch.x))
            x1 = gen.transform.energy_forward(e)
            x0 = self._rows(n, x1.shape[1], rng, "normal").to(dev)
        else:
            x0 = self._rows(n, gen.n_energy, rng, "normal").to(dev)
            x1 = self.teacher.energy_pairs(x0, c)
        t = self._rows(n, 1, rng, "uniform").to(dev)
        return {"energy": flow_matching_loss(gen.energy_field, x1, c, x0, t)}

    def shape_loss(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Flow-matching loss of the shape network: on freshly dequantised shapes given the
        batch's true layer energies, or on the teacher's shapes for the same noise given the
        teacher's layer energies (reflow)."""
        gen, n, dev = self.generator, len(batch.x), batch.x.device
        if self.teacher is None:
            f = self.preprocessing.to_fraction(batch.x)
            e = gen.transform.layer_energies(f)
            noise_u = self._rows(n, f.shape[1], rng, "uniform").to(dev)
            x1 = gen.transform.shape_forward(f, self._energy_mev(batch), noise_u)
            x0 = self._rows(n, x1.shape[1], rng, "normal").to(dev)
        else:
            z_e = self._rows(n, gen.n_energy, rng, "normal").to(dev)
            x0 = self._rows(n, self.geometry.n_cells, rng, "normal").to(dev)
            e, x1 = self.teacher.shape_pairs(z_e, x0, batch.conditions)
        t = self._rows(n, 1, rng, "uniform").to(dev)
        c = gen.shape_conditions(batch.conditions, e)
        return {"shape": flow_matching_loss(gen.shape_field, x1, c, x0, t)}

    def train_step(
        self,
        next_batch: Callable[[], Batch],
        optimisers: dict[str, torch.optim.Optimizer],
        rng: torch.Generator,
    ) -> dict[str, float]:
        # first step: fit the preprocessing statistics on real data (kept in checkpoints; a
        # reflow student has its teacher's)
        if not self.generator.transform.is_fitted:
            self.fit_preprocessing(next_batch, rng)
        batch = next_batch()
        out = self.minimise("energy", batch, rng, optimisers)
        out |= self.minimise("shape", batch, rng, optimisers)
        return {k: float(v.detach()) for k, v in out.items()}
