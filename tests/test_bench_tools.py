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
    flops = matmul_flops(n=256, repeats=2)
    bandwidth = copy_bandwidth(n_bytes=1 << 22, repeats=2)
    assert 1e8 < flops < 1e15  # between 0.1 GFLOP/s and 1 PFLOP/s
    assert 1e8 < bandwidth < 1e13
