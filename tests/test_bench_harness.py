"""The benchmark harness: every figure present, ratios consistent with the timings."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from caloforge.bench import copy_bandwidth, harness, matmul_flops
from caloforge.bench.harness import BenchConfig, run_bench, write_results


@pytest.mark.slow  # times the cascade MC
def test_harness_rows_and_ratios(
    wgan_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the machine probes at their default sizes (matmuls up to 1024^2, 256 MB copies) take seconds;
    # test_bench_tools checks them, here they only have to feed the ratios
    monkeypatch.setattr(
        harness,
        "matmul_flops",
        functools.partial(matmul_flops, sizes=(128, 256), repeats=2, budget_s=0.02),
    )
    small_copy = functools.partial(copy_bandwidth, n_bytes=1 << 22, repeats=2)
    monkeypatch.setattr(harness, "copy_bandwidth", small_copy)
    cfg = BenchConfig(
        energy_mev=2000.0,
        batch_sizes=(1, 50),
        threads=(1,),
        engines=("cascade", "gflash"),
        n_mc=3,
        budget_s=0.05,
        gpu=False,
    )
    result = run_bench(cfg, [wgan_model])
    rows = result["rows"]
    kinds = {(r["what"].split(" ")[0], r["backend"], r["batch"]) for r in rows}
    assert kinds == {
        ("cascade", "numba", 1),
        ("cascade", "numba", 50),
        ("gflash", "numba", 1),
        ("gflash", "numba", 50),
        ("wgan-gp", "torch-eager", 1),
        ("wgan-gp", "torch-eager", 50),
        ("wgan-gp", "onnxruntime", 1),
        ("wgan-gp", "onnxruntime", 50),
    }
    cascade = next(r for r in rows if r["what"] == "cascade" and r["batch"] == 1)
    assert cascade["speedup_vs_cascade"] == pytest.approx(1.0)
    limit = result["limits"]["1"]["matmul_flops"]
    for r in rows:
        assert r["per_shower_s"] > 0
        assert r["showers_per_s"] == pytest.approx(1 / r["per_shower_s"])
        assert r["speedup_vs_cascade"] == pytest.approx(cascade["per_shower_s"] / r["per_shower_s"])
        if r["backend"] != "numba":
            # FLOPs of the dense generator, counted by torch: ~2 x parameters of its Linear layers
            assert r["flops_per_shower"] > 1e5
            assert r["fraction_of_flop_limit"] == pytest.approx(
                r["flops_per_shower"] * r["showers_per_s"] / limit
            )
    # the evaluation's fidelity-against-speed section finds this model's rows in the result
    from caloforge.evaluation.speed import check_bench, speed_summary

    check_bench(result, "run_bench")
    timed = speed_summary(result, {"gan": (str(wgan_model), "wgan-gp")})["candidates"]["gan"]
    assert len(timed["rows"]) == 4
    assert timed["fastest"]["us_per_shower"] == pytest.approx(
        1e6 * min(r["per_shower_s"] for r in rows if r["what"].startswith("wgan-gp"))
    )
    md = write_results(result, tmp_path, "b", "pytest")
    assert "| cascade | numba | cpu | 1 | 1 |" in md.read_text()
    assert json.loads(md.with_suffix(".json").read_text())["command"] == "pytest"
