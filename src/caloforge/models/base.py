"""The generator interface every family implements, and the typed family (training) interface.

Two objects per family (network and training process are separate, as in nanoGPT):

- :class:`Generator` -- the ``nn.Module`` that is saved, loaded, sampled and exported. Noise is an
  input, never drawn inside: ``forward(noise, conditions) -> cells`` is a pure function with no RNG
  and no data-dependent Python control flow, so it traces to ONNX with the noise as a graph input.
- :class:`Family` -- the training process, generic in its configuration dataclass: the generator
  plus training-only networks (critics, an encoder) as typed :class:`Trained` fields, one
  :class:`Objective` (loss function + parameters) per optimiser, and ``train_step``, which
  updates through :meth:`Family.minimise` -- the same loss functions the contract tests check.
  One trainer drives every family through it.

Every network is called in training through exactly one ``forward`` (:class:`Trained`), so under
``torchrun`` each is wrapped in DistributedDataParallel as it is (:meth:`Family.parallelise`).

Shapes: ``noise`` (N, noise_dim); ``conditions`` (N, encoding.dim) from :meth:`encode_conditions`;
``cells`` (N, geometry.n_cells) in MeV, in the geometry's flattening order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from caloforge.geometry import Geometry
from caloforge.models.conditions import ConditionEncoding
from caloforge.models.hparams import from_mapping
from caloforge.models.preprocessing import Preprocessing

__all__ = [
    "Batch",
    "Family",
    "Generator",
    "LossFn",
    "NetworkSpace",
    "Objective",
    "Trained",
    "layer_matrix",
    "optimise",
]


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
        return self.run_eval(self, *self.sampling_inputs(energy_mev, config, noise))

    def sampling_inputs(
        self,
        energy_mev: np.ndarray | torch.Tensor,
        config: np.ndarray | int | None,
        noise: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(noise, conditions) on the generator's device, the noise's shape checked against the
        (N, noise_dim) that the energies ask for."""
        cond = self.encode_conditions(energy_mev, config)
        if noise.shape != (cond.shape[0], self.noise_dim):
            msg = f"noise has shape {tuple(noise.shape)}; expected ({cond.shape[0]}, {self.noise_dim})"
            raise ValueError(msg)
        device = next(self.parameters()).device
        return noise.to(device), cond.to(device)

    def run_eval(
        self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *inputs: torch.Tensor
    ) -> torch.Tensor:
        """``fn(*inputs)`` with the generator in eval mode, its training mode restored after."""
        was_training = self.training
        self.eval()
        try:
            return fn(*inputs)
        finally:
            self.train(was_training)


class NetworkSpace(nn.Module):
    """The generator as training sees it: ``forward(noise, conditions)`` is the generator's
    :meth:`Generator.transformed` (network-space cells). Not saved: it shares the generator's
    parameters and buffers, and the artifact stores the generator itself."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        return self.generator.transformed(noise, conditions)


M = TypeVar("M", bound=nn.Module)


class Trained(Generic[M]):
    """A network trained by a family.

    ``module`` (typed) is what checkpoints save and what the family reads and fits (buffers,
    helper methods); ``trainable`` is the ``nn.Module`` whose ``forward`` is the network's one
    training entry point (``module`` itself, or :class:`NetworkSpace` for the generator);
    calling the handle runs that forward through ``call`` -- ``trainable`` itself, or its
    DistributedDataParallel wrapper under ``torchrun`` (set by :meth:`Family.parallelise`).
    """

    def __init__(self, module: M, trainable: nn.Module | None = None) -> None:
        self.module = module
        self.trainable = module if trainable is None else trainable
        self.call: Callable[..., torch.Tensor] = self.trainable

    def __call__(self, *args: torch.Tensor) -> torch.Tensor:
        return self.call(*args)

    def parameters(self) -> list[nn.Parameter]:
        return list(self.module.parameters())


@dataclass
class Batch:
    """A training batch in network space: ``x`` (B, n_cells) and ``conditions`` (B, cond_dim)."""

    x: torch.Tensor
    conditions: torch.Tensor


#: ``loss(batch, rng) -> {term name: scalar tensor}``; the term named like the objective is the
#: one its optimiser minimises, the others are logged
LossFn = Callable[[Batch, torch.Generator], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Objective:
    """One optimiser's job: minimise, over ``parameters``, the term of ``loss`` named like the
    objective's key in :meth:`Family.objectives` (which is also the optimiser's name).

    ``lr_factor`` scales the trainer's learning rate for this optimiser; ``betas``, where given,
    replace the trainer's Adam betas for it (a maximum-likelihood fit beside an adversarial game
    wants Adam's usual (0.9, 0.999), not the game's); ``sync``: the loss reaches ``parameters``
    outside the networks' DDP-wrapped forwards, so under ``torchrun`` the gradients are
    averaged by hand (:func:`optimise`)."""

    loss: LossFn
    parameters: list[nn.Parameter]
    lr_factor: float = 1.0
    sync: bool = False
    betas: tuple[float, float] | None = None


def layer_matrix(geometry: Geometry) -> torch.Tensor:
    """(n_cells, n_layers) 0/1 matrix: ``cells @ M`` gives the energy per layer."""
    m = torch.zeros(geometry.n_cells, geometry.n_layers)
    m[torch.arange(geometry.n_cells), torch.as_tensor(geometry.cell_layer)] = 1.0
    return m


C = TypeVar("C")


class Family(ABC, Generic[C]):
    """A model family's training process around its :class:`Generator`, generic in its
    configuration dataclass ``C``.

    A subclass sets ``name`` (its registry key, :mod:`caloforge.models.registry`) and ``Config``
    (the frozen dataclass ``C`` whose field defaults are the only defaults), implements
    :meth:`build_generator`, builds its training-only networks as :class:`Trained` fields in
    ``__init__`` (after ``super().__init__``) and lists them in :meth:`networks`, and implements
    :meth:`objectives` and :meth:`train_step` (which updates through :meth:`minimise`).
    """

    name: ClassVar[str]
    Config: ClassVar[type[Any]]
    #: hyper-parameters added after models were first saved, with the value that reproduces
    #: what those models did: an artifact whose ``model.json`` lacks the key loads with it
    #: (:func:`caloforge.models.artifact.load_model`), not with the new default
    artifact_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: C,
    ) -> None:
        if not isinstance(hparams, self.Config):
            msg = f"{self.name}: hyper-parameters must be a {self.Config.__name__}, got {type(hparams).__name__}"
            raise TypeError(msg)
        self.geometry, self.encoding, self.preprocessing = geometry, encoding, preprocessing
        self.hparams: C = hparams
        self.generator = self.build_generator(geometry, encoding, preprocessing, hparams)
        self.trained_generator = Trained(self.generator, NetworkSpace(self.generator))
        self._layers = layer_matrix(geometry)
        #: (rank, world size): this process's share of the noise drawn for a global batch
        self.shard: tuple[int, int] = (0, 1)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        config = cls.__dict__.get("Config")
        params = getattr(config, "__dataclass_params__", None)
        if config is not None and not (params is not None and params.frozen):
            msg = f"{cls.__name__}.Config must be a frozen dataclass"
            raise TypeError(msg)

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def config_from_mapping(cls, mapping: Mapping[str, Any], where: str) -> C:
        """The typed configuration from a mapping (TOML table, model.json): unknown keys and
        wrong types are ValueErrors naming ``where`` and the key."""
        config: C = from_mapping(cls.Config, mapping, where)
        return config

    @classmethod
    @abstractmethod
    def build_generator(
        cls,
        geometry: Geometry,
        encoding: ConditionEncoding,
        preprocessing: Preprocessing,
        hparams: C,
    ) -> Generator:
        """The sampling network alone (what the artifact stores)."""

    def networks(self) -> dict[str, Trained[Any]]:
        """Every trained network by name (checkpoint prefix), the generator first."""
        return {"generator": self.trained_generator}

    @abstractmethod
    def objectives(self) -> dict[str, Objective]:
        """One :class:`Objective` per optimiser, by optimiser name."""

    @property
    def batches_per_step(self) -> int:
        """Batches one :meth:`train_step` consumes (critic iterations + 1 for GANs)."""
        return 1

    # ---- training --------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        """The networks' modules by name (what checkpoints save)."""
        return {name: net.module for name, net in self.networks().items()}

    def to(self, device: torch.device | str) -> Family[C]:
        for module in self.modules().values():
            module.to(device)
        self._layers = self._layers.to(device)
        return self

    def parallelise(
        self, wrap: Callable[[nn.Module], nn.Module], rank: int, world_size: int
    ) -> list[nn.Module]:
        """Run every network's forward through ``wrap(trainable)`` (DDP) and draw noise for the
        global batch (:meth:`noise_like`); returns the wrappers. :meth:`serial` undoes it."""
        wrapped = []
        for net in self.networks().values():
            module = wrap(net.trainable)
            net.call = module
            wrapped.append(module)
        self.shard = (rank, world_size)
        return wrapped

    def serial(self) -> None:
        """Back to single-process training: networks called directly, noise for this batch."""
        for net in self.networks().values():
            net.call = net.trainable
        self.shard = (0, 1)

    def make_optimisers(
        self, lr: float, betas: tuple[float, float]
    ) -> dict[str, torch.optim.Optimizer]:
        """One Adam per objective, learning rate ``lr`` x the objective's ``lr_factor``, with
        ``betas`` unless the objective sets its own."""
        return {
            name: torch.optim.Adam(obj.parameters, lr=lr * obj.lr_factor, betas=obj.betas or betas)
            for name, obj in self.objectives().items()
        }

    def minimise(
        self,
        name: str,
        batch: Batch,
        rng: torch.Generator,
        optimisers: dict[str, torch.optim.Optimizer],
    ) -> dict[str, torch.Tensor]:
        """One update of optimiser ``name`` on its objective's loss for ``batch``; returns every
        term of that loss."""
        objective = self.objectives()[name]
        terms = objective.loss(batch, rng)
        optimise(optimisers[name], terms[name], sync=objective.sync)
        return terms

    def energy_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_cells) network space -> (B, 1 + n_layers): E_tot/E_inc, E_layer/E_inc."""
        layers = self.preprocessing.to_fraction(x) @ self._layers
        return torch.cat([layers.sum(dim=1, keepdim=True), layers], dim=1)

    def noise_like(self, n: int, rng: torch.Generator, device: torch.device) -> torch.Tensor:
        """(n, noise_dim) latent noise on ``device``. Under ``torchrun`` the noise of the whole
        global batch is drawn and this rank keeps its rows, so every rank's ``rng`` stays in the
        same state and the latent noise is what one process would draw."""
        rank, world = self.shard
        noise = self.generator.make_noise(n * world, rng).to(device)
        return noise if world == 1 else noise[rank * n : (rank + 1) * n]

    def refresh(self, x: torch.Tensor, conditions: torch.Tensor) -> None:
        """Bring state of the generator that is derived from data up to date with the trained
        networks, given the training set in network space (the trainer calls it before each
        validation after step 0, so before every saved model). Default: nothing to do."""
        del x, conditions

    @abstractmethod
    def train_step(
        self,
        next_batch: Callable[[], Batch],
        optimisers: dict[str, torch.optim.Optimizer],
        rng: torch.Generator,
    ) -> dict[str, float]:
        """One generator update (with its critic updates) through :meth:`minimise`; returns
        scalar losses by name."""


def optimise(optimiser: torch.optim.Optimizer, loss: torch.Tensor, *, sync: bool = False) -> None:
    """zero_grad, backward, step. ``sync``: average the gradients over the processes of a
    ``torchrun`` run first -- for parameters trained on a loss that bypasses the networks'
    DDP-wrapped forwards (DDP averages only gradients of its own forward passes)."""
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
