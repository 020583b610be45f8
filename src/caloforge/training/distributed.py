"""Data-parallel training under ``torchrun``: process group, DDP wrapping, batch sharding.

``caloforge train`` runs unchanged under ``torchrun --nproc_per_node N``: :func:`init_distributed`
reads the ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` variables torchrun sets and joins the
process group (NCCL for CUDA devices, gloo on the CPU). Without them -- or with
``WORLD_SIZE=1`` -- it returns :data:`SINGLE` and the trainer runs the single-process path, bit
for bit as without this module.

With N processes (ranks):

- every rank builds the same networks from the same seed, and
  :class:`~torch.nn.parallel.DistributedDataParallel` broadcasts rank 0's parameters and buffers
  (the critics' fitted input standardisation included) and averages gradients in backward;
- every rank draws the same *global* batch from the same data stream (same seed, same
  permutation) and trains on its own rows ``[r B/N, (r+1) B/N)`` (:class:`ShardedStream`), so
  the global batch is ``train.batch_size`` and the averaged gradient is the full batch's;
- the noise is shared too: the family draws the global batch's latent noise and each rank
  keeps its rows (``Family.noise_like`` after :meth:`~caloforge.models.base.Family.parallelise`),
  so every rank's RNG streams stay in the same state (one state to checkpoint) and latent
  noise is what a single process would draw. Draws a family makes outside that hook (the
  gradient-penalty interpolation weights) are drawn at the local batch size, identical on all
  ranks; for those families N-process training agrees with one process statistically, not
  bit for bit. A VAE (all randomness through the hook) agrees to float rounding.
- losses are averaged over ranks before logging and the divergence check, so every rank
  takes the same decisions; only rank 0 writes checkpoints, logs and artifacts.

Every network a family trains is called through exactly one ``forward`` (its
:class:`~caloforge.models.base.Trained` handle: the critics' ``forward`` scores standardised
features, the generator's training forward is its network-space output), so DDP wraps each as
it is (:func:`wrap_family`). Gradients reach DDP's hooks however the graph was built, so the
gradient penalty's double backward is averaged like every other term. A critic's input
standardisation is fitted by each rank on its own rows on the first step; DDP broadcasts rank
0's with the buffers at the start of each forward, so only the first step's standardisation
differs between ranks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from caloforge.models.base import Batch, Family

__all__ = [
    "SINGLE",
    "DistributedContext",
    "ShardedStream",
    "init_distributed",
    "shutdown_distributed",
    "unwrap_family",
    "wrap_family",
]

#: how long a rank waits for the others in a collective before failing
TIMEOUT = timedelta(minutes=30)


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in the job. ``owns_group``: :func:`init_distributed` created the
    process group (and :func:`shutdown_distributed` destroys it)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints, logs and artifacts."""
        return self.rank == 0

    def device(self, requested: str) -> torch.device:
        """The device of this rank: ``cuda`` becomes ``cuda:<LOCAL_RANK>`` under torchrun."""
        if self.distributed and requested == "cuda":
            return torch.device("cuda", self.local_rank)
        return torch.device(requested)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """The mean over ranks of each value (identity for one process)."""
        if not self.distributed or not values:
            return values
        t = torch.tensor(list(values.values()), dtype=torch.float64)
        if self.backend == "nccl":
            t = t.cuda(self.local_rank)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return dict(zip(values, (t / self.world_size).tolist(), strict=True))

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


SINGLE = DistributedContext()


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        msg = f"environment variable {name}={text!r} is not an integer (set by torchrun)"
        raise ValueError(msg) from None


def init_distributed(device: str) -> DistributedContext:
    """Join the torchrun process group if there is one; :data:`SINGLE` otherwise.

    An already initialised default group (e.g. created by the caller) is used as it is and
    left to the caller to destroy. Backend: NCCL when ``device`` is CUDA, gloo otherwise.
    """
    if dist.is_available() and dist.is_initialized():
        world = dist.get_world_size()
        if world == 1:
            return SINGLE
        rank = dist.get_rank()
        return DistributedContext(
            rank, world, _env_int("LOCAL_RANK", rank), str(dist.get_backend()), owns_group=False
        )
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return SINGLE
    if not dist.is_available():
        msg = f"WORLD_SIZE={world} but this torch ({torch.__version__}) has no torch.distributed"
        raise ValueError(msg)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    cuda = device.startswith("cuda")
    if cuda:
        if not torch.cuda.is_available() or local_rank >= torch.cuda.device_count():
            msg = f"rank {rank}: device {device!r} with LOCAL_RANK={local_rank}, but {torch.cuda.device_count()} CUDA device(s) are visible"
            raise ValueError(msg)
        torch.cuda.set_device(local_rank)
    backend = "nccl" if cuda else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=world, timeout=TIMEOUT)
    return DistributedContext(rank, world, local_rank, backend, owns_group=True)


def shutdown_distributed(ctx: DistributedContext) -> None:
    """Destroy the process group if :func:`init_distributed` made it (no collective: this also
    runs when a rank fails; the trainer already waits for every rank after each model)."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


@dataclass
class ShardedStream:
    """This rank's rows of each global batch drawn from ``stream`` (``B / world_size`` rows)."""

    stream: Callable[[], Batch]
    rank: int
    world_size: int

    def __call__(self) -> Batch:
        batch = self.stream()
        n = len(batch.x)
        if n % self.world_size:
            msg = f"train.batch_size={n} is not divisible by the {self.world_size} processes"
            raise ValueError(msg)
        size = n // self.world_size
        rows = slice(self.rank * size, (self.rank + 1) * size)
        return Batch(batch.x[rows], batch.conditions[rows])


def wrap_family(
    family: Family[Any], ctx: DistributedContext, device: torch.device
) -> list[nn.Module]:
    """Wrap every network of ``family`` in DDP and share the noise (see the module docstring).

    Returns the DDP modules (keep them alive for the run); :func:`unwrap_family` undoes it.
    """
    ids = [device.index] if device.type == "cuda" else None

    def wrap(module: nn.Module) -> nn.Module:
        return DistributedDataParallel(module, device_ids=ids)

    return family.parallelise(wrap, ctx.rank, ctx.world_size)


def unwrap_family(family: Family[Any]) -> None:
    """Call the networks directly again and draw noise for the local batch only."""
    family.serial()
