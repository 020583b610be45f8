"""FLOPs per shower of a generator, counted by PyTorch's own FLOP counter."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["flops_per_sample"]


def flops_per_sample(module: torch.nn.Module, *inputs: torch.Tensor) -> float:
    """FLOPs of one forward pass divided by the batch size (dim 0 of the first input).

    Counts matrix multiplications and convolutions (2 per multiply-add), which dominate dense
    and convolutional generators; element-wise activations are not counted.
    """
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*inputs)
    return counter.get_total_flops() / inputs[0].shape[0]
