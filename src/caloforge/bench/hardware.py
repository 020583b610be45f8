"""The machine's own limits, measured in the same run as the figures they bound.

- ``matmul_flops``: the peak float32 matrix-multiply rate of ``torch.mm`` (FLOP/s) on the given
  device and thread count — the compute roofline a dense generator can reach. It is the best
  rate over several square sizes and many short repetitions: a generator's layers are small
  products whose operands stay in cache, and on a shared machine only short repetitions find a
  moment when the cores are free. (A single size-2048 product — 48 MiB of operands, well past
  the cache, timed 5 times at ~0.5 s each — measured 22-29 GFLOP/s on a loaded 2-core machine
  where size-256 products ran at 81-87 GFLOP/s, so a 160-wide generator "reached" 198% of it.)
- ``copy_bandwidth``: memory copy bandwidth (bytes read + written per second) of a large
  ``Tensor.copy_`` — the bandwidth roofline for writing showers out.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence

import torch

__all__ = ["DEFAULT_MATMUL_SIZES", "copy_bandwidth", "matmul_flops"]

#: square sizes probed on a CPU: from in-L1/L2 products to ones past most caches
DEFAULT_MATMUL_SIZES = (128, 256, 384, 512, 1024)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best_seconds(
    fn: Callable[[], object], device: torch.device, *, min_repeats: int, budget_s: float
) -> float:
    best = float("inf")
    spent = 0.0
    k = 0
    while k < min_repeats or spent < budget_s:
        t0 = time.perf_counter()
        fn()
        _sync(device)
        dt = time.perf_counter() - t0
        best = min(best, dt)
        spent += dt
        k += 1
    return best


def matmul_flops(
    *,
    sizes: Sequence[int] = DEFAULT_MATMUL_SIZES,
    repeats: int = 5,
    budget_s: float = 0.2,
    device: str | torch.device = "cpu",
) -> float:
    """Peak float32 FLOP/s of ``torch.mm``: for each size n in ``sizes``, the best of at least
    ``repeats`` (n x n) @ (n x n) products (2 n^3 FLOPs each), repeated until ``budget_s``
    seconds are spent on that size; the largest rate over the sizes."""
    if not sizes:
        msg = "matmul_flops needs at least one matrix size"
        raise ValueError(msg)
    dev = torch.device(device)
    rate = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=dev)
        b = torch.randn(n, n, device=dev)
        torch.mm(a, b)  # warm-up
        _sync(dev)
        best = _best_seconds(
            functools.partial(torch.mm, a, b), dev, min_repeats=repeats, budget_s=budget_s
        )
        rate = max(rate, 2.0 * n**3 / best)
    return rate


def copy_bandwidth(
    *, n_bytes: int = 1 << 28, repeats: int = 5, device: str | torch.device = "cpu"
) -> float:
    """Best-of-``repeats`` bytes/s of copying ``n_bytes`` (counts the read and the write)."""
    dev = torch.device(device)
    src = torch.ones(n_bytes // 4, device=dev)
    dst = torch.empty_like(src)
    dst.copy_(src)
    _sync(dev)
    best = _best_seconds(functools.partial(dst.copy_, src), dev, min_repeats=repeats, budget_s=0.0)
    return 2.0 * src.numel() * 4 / best
