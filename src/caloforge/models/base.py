"""The generator interface every family implements, and the training-step interface.

Two objects per family (network and training process are separate, as in nanoGPT):

- :class:`Generator` -- the ``nn.Module`` that is saved, loaded, sampled and exported. Noise is an
  input, never drawn inside: ``forward(noise, conditions) -> cells`` is a pure function with no RNG
  and no data-dependent Python control flow, so it traces to ONNX with the noise as a graph input.
- :class:`Family` -- the training process: the generator plus training-only modules (critics, an
  encoder), their optimisers, and ``train_step``. One trainer drives every family through it.

Shapes: ``noise`` (N, noise_dim); ``conditions`` (N, encoding.dim) from :meth:`encode_conditions`;
``cells`` (N, geometry.n_cells) in MeV, in the geometry's flattening order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from caloforge.geometry import Geometry
from caloforge.models.conditions import ConditionEncoding
from caloforge.models.preprocessing import Preprocessing

__all__ = ["Batch", "Family", "Generator", "layer_matrix", "optimise"]


class Generator(nn.Module, ABC):
    """Conditional shower generator: explicit noise and conditions in, cells in MeV out."""

    #: whether ``forward`` traces to ONNX; a family that cannot sets False and export refuses it
    exportable: ClassVar[bool] = True

    def __init__(
        self, geometry: Geometry, encoding: ConditionEncoding, preprocessing: Preprocessing
    ) -> None:
        super().__init__()
        self.geometry = geometry
        self.encoding = encoding
        self.preprocessing = preprocessing

    @property
    @abstractmethod
    def noise_dim(self) -> int:
        """Width of the noise input (latent dimension)."""

    @abstractmethod
    def transformed(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """(N, noise_dim), (N, cond_dim) -> (N, n_cells) in the preprocessing's network space."""

    def forward(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """(N, noise_dim), (N, cond_dim) -> (N, n_cells) cells in MeV. Pure: no RNG inside."""
        x = self.transformed(noise, conditions)
        return self.preprocessing.inverse(x, self.encoding.decode_energy(conditions))

    def make_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, noise_dim) standard-normal noise on the CPU from ``generator`` (seeded by caller)."""
        return torch.randn(n, self.noise_dim, generator=generator)

    def encode_conditions(
        self, energy_mev: np.ndarray | torch.Tensor, config: np.ndarray | int | None = None
    ) -> torch.Tensor:
        """(N,) MeV and (N,) configs (or one int, or None) -> (N, cond_dim) float32."""
        if isinstance(config, int | np.integer):
            config = np.full(np.shape(energy_mev), int(config), dtype=np.int64)
        return self.encoding.encode(energy_mev, config)

    @torch.no_grad()
    def sample(
        self,
        energy_mev: np.ndarray | torch.Tensor,
        config: np.ndarray | int | None = None,
        *,
        noise: torch.Tensor,
    ) -> torch.Tensor:
        """Cells in MeV, (N, n_cells), for (N,) energies, configs and explicit (N, noise_dim) noise."""
        cond = self.encode_conditions(energy_mev, config)
        if noise.shape != (cond.shape[0], self.noise_dim):
            msg = f"noise has shape {tuple(noise.shape)}; expected ({cond.shape[0]}, {self.noise_dim})"
            raise ValueError(msg)
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            return self(noise.to(device), cond.to(device))
        finally:
            self.train(was_training)


@dataclass
class Batch:
    """A training batch in network space: ``x`` (B, n_cells) and ``conditions`` (B, cond_dim)."""

    x: torch.Tensor
    conditions: torch.Tensor


def layer_matrix(geometry: Geometry) -> torch.Tensor:
    """(n_cells, n_layers) 0/1 matrix: ``cells @ M`` gives the energy per layer."""
    m = torch.zeros(geometry.n_cells, geometry.n_layers)
    m[torch.arange(geometry.n_cells), torch.as_tensor(geometry.cell_layer)] = 1.0
    return m


class Family(ABC):
    """A model family's training process around its :class:`Generator`.

    Subclasses set ``name`` (registry key) and ``Config`` (frozen dataclass of hyper-parameters
    with defaults) and implement :meth:`build_generator`, :meth:`build_aux`, :meth:`losses`
    and :meth:`train_step`.
    """

    name: ClassVar[str]
    Config: ClassVar[type]

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: Any,
    ) -> None:
        self.geometry, self.encoding, self.preprocessing = geometry, encoding, preprocessing
        self.hparams = hparams
        self.generator = self.build_generator(geometry, encoding, preprocessing, hparams)
        self.aux = nn.ModuleDict(self.build_aux())
        self._layers = layer_matrix(geometry)

    # ---- construction --------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def build_generator(
        cls,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: Any,
    ) -> Generator:
        """The sampling network alone (what the artifact stores)."""

    @abstractmethod
    def build_aux(self) -> dict[str, nn.Module]:
        """Training-only modules (critics, encoder), by name."""

    @abstractmethod
    def optimiser_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters per optimiser, by optimiser name."""

    @property
    def batches_per_step(self) -> int:
        """Batches one :meth:`train_step` consumes (critic iterations + 1 for GANs)."""
        return 1

    # ---- training --------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, **dict(self.aux.items())}

    def to(self, device: torch.device | str) -> Family:
        self.generator.to(device)
        self.aux.to(device)
        self._layers = self._layers.to(device)
        return self

    def make_optimisers(
        self, lr: float, betas: tuple[float, float]
    ) -> dict[str, torch.optim.Optimizer]:
        return {
            name: torch.optim.Adam(params, lr=lr, betas=betas)
            for name, params in self.optimiser_groups().items()
        }

    def energy_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_cells) network space -> (B, 1 + n_layers): E_tot/E_inc, E_layer/E_inc."""
        layers = self.preprocessing.to_fraction(x) @ self._layers
        return torch.cat([layers.sum(dim=1, keepdim=True), layers], dim=1)

    def noise_like(self, n: int, rng: torch.Generator, device: torch.device) -> torch.Tensor:
        return self.generator.make_noise(n, rng).to(device)

    @abstractmethod
    def losses(self, batches: list[Batch], rng: torch.Generator) -> dict[str, torch.Tensor]:
        """Every loss term of one step, on ``batches_per_step`` batches (for tests/inspection)."""

    @abstractmethod
    def train_step(
        self,
        next_batch: Callable[[], Batch],
        optimisers: dict[str, torch.optim.Optimizer],
        rng: torch.Generator,
    ) -> dict[str, float]:
        """One generator update (with its critic updates); returns scalar losses by name."""


def optimise(optimiser: torch.optim.Optimizer, loss: torch.Tensor, *, sync: bool = False) -> None:
    """zero_grad, backward, step. ``sync``: average the gradients over the processes of a
    ``torchrun`` run first -- for parameters trained on a loss that bypasses the networks'
    DDP-wrapped entry points (DDP averages only gradients of its own forward passes)."""
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    if sync and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        world = dist.get_world_size()
        for group in optimiser.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
                    p.grad.div_(world)
    optimiser.step()
