"""The machine's own limits, measured in the same run as the figures they bound.

- ``matmul_flops``: float32 matrix-multiply rate of ``torch.mm`` (FLOP/s) on the given device
  and thread count, the best of several repetitions — the compute roofline a dense generator can
  reach.
- ``copy_bandwidth``: memory copy bandwidth (bytes read + written per second) of a large
  ``Tensor.copy_`` — the bandwidth roofline for writing showers out.
"""

from __future__ import annotations

import time

import torch

__all__ = ["copy_bandwidth", "matmul_flops"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_flops(*, n: int = 2048, repeats: int = 5, device: str | torch.device = "cpu") -> float:
    """Best-of-``repeats`` float32 FLOP/s of an (n x n) @ (n x n) product (2 n^3 FLOPs)."""
    dev = torch.device(device)
    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)
    torch.mm(a, b)  # warm-up
    _sync(dev)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        _sync(dev)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def copy_bandwidth(
    *, n_bytes: int = 1 << 28, repeats: int = 5, device: str | torch.device = "cpu"
) -> float:
    """Best-of-``repeats`` bytes/s of copying ``n_bytes`` (counts the read and the write)."""
    dev = torch.device(device)
    src = torch.ones(n_bytes // 4, device=dev)
    dst = torch.empty_like(src)
    dst.copy_(src)
    _sync(dev)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        dst.copy_(src)
        _sync(dev)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * src.numel() * 4 / best
