"""FLOP counting, timing and the hardware-limit probes of the benchmark harness."""

from __future__ import annotations

import time

import pytest
import torch

from caloforge.bench import copy_bandwidth, flops_per_sample, matmul_flops, time_call


def test_flops_of_a_dense_network_are_exact() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(10, 100), torch.nn.ReLU(), torch.nn.Linear(100, 266))
    # 2 FLOPs per multiply-add: 2 * (10*100 + 100*266) per sample, whatever the batch
    assert flops_per_sample(net, torch.randn(7, 10)) == 2 * (10 * 100 + 100 * 266)
    assert flops_per_sample(net, torch.randn(1, 10)) == 2 * (10 * 100 + 100 * 266)


def test_time_call_reports_per_shower_time() -> None:
    calls = []

    def work() -> None:
        calls.append(1)
        time.sleep(0.01)

    t = time_call(work, batch=4, min_repeats=3, max_repeats=3, warmup=1)
    assert len(calls) == 4  # warm-up + 3 repeats
    assert t.repeats == 3
    assert t.per_shower_s == pytest.approx(t.seconds_median / 4)
    assert 0.0025 <= t.per_shower_s < 0.05
    assert t.showers_per_s == pytest.approx(4 / t.seconds_median)


def test_hardware_probes_give_plausible_rates() -> None:
    flops = matmul_flops(sizes=(256,), repeats=2, budget_s=0.0)
    bandwidth = copy_bandwidth(n_bytes=1 << 22, repeats=2)
    assert 1e8 < flops < 1e15  # between 0.1 GFLOP/s and 1 PFLOP/s
    assert 1e8 < bandwidth < 1e13


def test_flop_limit_bounds_a_generator_sized_product() -> None:
    """The limit is the machine's peak: a generator-shaped product (a batch of 1024 through a
    160 -> 266 layer, the dense generators' output layer) cannot beat it. A limit taken from a
    single out-of-cache size-2048 product fell to a third of the in-cache rate on a loaded
    machine, and bench.md printed "% FLOP limit" values of 198.6 and 112.0 (this product: 77 GFLOP/s against
    such a limit of 21 GFLOP/s, on a loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x, w = torch.randn(1024, 160), torch.randn(160, 266)
        torch.mm(x, w)
        best = float("inf")
        for _ in range(50):
            t0 = time.perf_counter()
            torch.mm(x, w)
            best = min(best, time.perf_counter() - t0)
        achieved = 2.0 * 1024 * 160 * 266 / best
        limit = matmul_flops()
    finally:
        torch.set_num_threads(threads)
    assert achieved <= 1.1 * limit, (achieved / 1e9, limit / 1e9)


def test_flop_limit_is_the_best_size() -> None:
    small = matmul_flops(sizes=(64,), repeats=3, budget_s=0.0)
    both = matmul_flops(sizes=(64, 256), repeats=3, budget_s=0.0)
    # 64 x 64 products are dominated by call overhead: adding a larger size raises the rate
    assert both > small
    with pytest.raises(ValueError, match="at least one matrix size"):
        matmul_flops(sizes=())
