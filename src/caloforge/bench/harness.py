"""The benchmark harness behind ``caloforge bench``.

For one geometry and incident energy it times, per shower:

- the reference engines (cascade MC, GFlash) through :func:`caloforge.simulation.simulate`;
  a Monte Carlo gains nothing from batching, so it is timed on ``n_mc`` showers and that time per
  shower is reported for every batch size;
- each model through the generation back-ends (:mod:`caloforge.generation`): PyTorch (eager,
  ``torch.inference_mode``) and ONNX Runtime, at each batch size, with 1 thread and with all
  threads; PyTorch on a GPU when one is present. Inputs are placed before the clock starts.

In the same run it measures the machine's float32 matrix-multiply rate and copy bandwidth for
each thread count, counts each model's FLOPs per shower, and reports every figure with its
speed-up over the cascade MC (same thread count) and its fraction of the FLOP limit.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from caloforge.bench.flops import flops_per_sample
from caloforge.bench.hardware import copy_bandwidth, matmul_flops
from caloforge.bench.labels import model_label
from caloforge.bench.timing import time_call
from caloforge.io import atomic_write_text
from caloforge.provenance import machine_description, versions

if TYPE_CHECKING:
    from caloforge.generation.backend import Backend

__all__ = ["BenchConfig", "run_bench", "write_results"]


@dataclass(frozen=True)
class BenchConfig:
    geometry: str = "atlas-em-barrel"
    particle: str = "photon"
    energy_mev: float = 50_000.0
    batch_sizes: tuple[int, ...] = (1, 100, 10_000)
    threads: tuple[int, ...] = field(
        default_factory=lambda: tuple(sorted({1, os.cpu_count() or 1}))
    )
    engines: tuple[str, ...] = ("cascade", "gflash")
    n_mc: int = 20
    budget_s: float = 2.0
    gpu: bool = True
    seed: int = 0


def _set_threads(n: int) -> None:
    torch.set_num_threads(n)


def _engine_rows(cfg: BenchConfig, threads: int) -> list[dict[str, Any]]:
    from caloforge.geometry import get_geometry
    from caloforge.simulation import simulate
    from caloforge.simulation.gun import ParticleGun

    geometry = get_geometry(cfg.geometry)
    gun = ParticleGun(particle=cfg.particle, energies_mev=(cfg.energy_mev,))
    rows = []
    for engine in cfg.engines:

        def run(engine: str = engine) -> object:
            return simulate(
                geometry,
                gun,
                cfg.n_mc,
                seed=cfg.seed,
                workers=threads,
                engine=engine,
                progress=False,
            )

        t = time_call(run, cfg.n_mc, min_repeats=1, max_repeats=3, budget_s=cfg.budget_s)
        for batch in cfg.batch_sizes:
            rows.append(
                {
                    "what": engine,
                    "backend": "numba",
                    "device": "cpu",
                    "threads": threads,
                    "batch": batch,
                    "per_shower_s": t.per_shower_s,
                    "measured_on_showers": cfg.n_mc,
                }
            )
    return rows


def _row(
    label: str, backend: Backend, device: str, threads: int | None, batch: int, t: float
) -> dict[str, Any]:
    return {
        "what": label,
        "backend": "torch-eager" if backend.name == "torch" else backend.name,
        "device": device,
        "threads": threads,
        "batch": batch,
        "per_shower_s": t,
    }


def _inputs(
    backend: Backend, energy_mev: float, config: int | None, batch: int
) -> tuple[np.ndarray, np.ndarray]:
    """Noise and conditions of ``batch`` showers at one energy (and configuration)."""
    noise = np.random.default_rng(0).standard_normal((batch, backend.noise_dim), np.float32)
    c = None if config is None else np.full(batch, config, dtype=np.int64)
    return noise, backend.encode_conditions(np.full(batch, energy_mev), c)


def _model_rows(
    cfg: BenchConfig, model_dir: Path, threads: int, flop_limit: float, workdir: Path
) -> list[dict[str, Any]]:
    from caloforge.export.onnx import export_onnx
    from caloforge.generation.onnxruntime import OnnxBackend
    from caloforge.generation.torch_backend import TorchBackend
    from caloforge.models import load_model

    art = load_model(model_dir)
    gen = art.generator.eval()
    config = 0 if art.encoding.uses_config else None
    cond = gen.encode_conditions(np.array([cfg.energy_mev]), config)
    flops = flops_per_sample(gen, gen.make_noise(8), cond.expand(8, -1))
    onnx_path = workdir / f"{model_dir.name}.onnx"
    if not onnx_path.exists():
        export_onnx(model_dir, onnx_path, check=True)
    backends: list[Backend] = [TorchBackend(gen, "cpu"), OnnxBackend(onnx_path, threads=threads)]
    rows = []
    label = model_label(art.family, model_dir)
    for batch in cfg.batch_sizes:
        for backend in backends:
            run = backend.timer(*_inputs(backend, cfg.energy_mev, config, batch))
            t = time_call(run, batch, budget_s=cfg.budget_s)
            rows.append(
                _row(label, backend, "cpu", threads, batch, t.per_shower_s)
                | {"flops_per_shower": flops, "flop_limit": flop_limit}
            )
    return rows


def _gpu_rows(cfg: BenchConfig, model_dirs: Sequence[Path]) -> list[dict[str, Any]]:
    from caloforge.generation.torch_backend import TorchBackend
    from caloforge.models import load_model

    dev = torch.device("cuda")
    limit = matmul_flops(sizes=(4096, 8192), device=dev)
    rows = []
    for model_dir in model_dirs:
        art = load_model(model_dir, device=dev)
        gen = art.generator.eval()
        config = 0 if art.encoding.uses_config else None
        cond = gen.encode_conditions(np.array([cfg.energy_mev]), config)
        flops = flops_per_sample(gen.cpu(), gen.make_noise(8), cond.expand(8, -1))
        backend = TorchBackend(gen, dev)
        for batch in (*cfg.batch_sizes, 100_000):
            run = backend.timer(*_inputs(backend, cfg.energy_mev, config, batch))
            t = time_call(run, batch, budget_s=cfg.budget_s)
            rows.append(
                _row(
                    model_label(art.family, model_dir),
                    backend,
                    torch.cuda.get_device_name(dev),
                    None,
                    batch,
                    t.per_shower_s,
                )
                | {"flops_per_shower": flops, "flop_limit": limit}
            )
    return rows


def run_bench(cfg: BenchConfig, model_dirs: Sequence[Path] = ()) -> dict[str, Any]:
    """All timings of one run, with the machine's limits and the derived ratios."""
    rows: list[dict[str, Any]] = []
    limits: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for threads in cfg.threads:
            _set_threads(threads)
            flop_limit = matmul_flops()
            limits[str(threads)] = {
                "matmul_flops": flop_limit,
                "copy_bytes_per_s": copy_bandwidth(),
            }
            rows += _engine_rows(cfg, threads)
            for model_dir in model_dirs:
                rows += _model_rows(cfg, Path(model_dir), threads, flop_limit, Path(tmp))
        _set_threads(max(cfg.threads))
        if cfg.gpu and torch.cuda.is_available():
            rows += _gpu_rows(cfg, [Path(m) for m in model_dirs])
    reference = {
        r["threads"]: r["per_shower_s"] for r in rows if r["what"] == "cascade" and r["batch"] == 1
    }
    slowest_ref = max(reference.values()) if reference else None
    for r in rows:
        r["showers_per_s"] = 1.0 / r["per_shower_s"]
        ref = reference.get(r["threads"], reference.get(1, slowest_ref))
        r["speedup_vs_cascade"] = ref / r["per_shower_s"] if ref else None
        if "flops_per_shower" in r:
            r["fraction_of_flop_limit"] = (
                r["flops_per_shower"] * r["showers_per_s"] / r["flop_limit"]
            )
    return {
        "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
        "models": [str(m) for m in model_dirs],
        "machine": machine_description() | {"gpu_available": torch.cuda.is_available()},
        "versions": versions("torch", "numba", "onnxruntime", "numpy"),
        "limits": limits,
        "rows": rows,
        "notes": "speed-up = cascade MC time per shower (same thread count, same energy, same "
        "run) / time per shower; fraction_of_flop_limit = FLOPs/shower x showers/s / measured "
        "peak float32 matmul FLOP/s at that thread count (the best over in-cache and larger "
        "square sizes; GPU rows: the GPU's own matmul rate).",
    }


def to_markdown(result: dict[str, Any], command: str) -> str:
    m = result["machine"]
    lines = [
        f"# caloforge bench — {result['config']['geometry']}, "
        f"{result['config']['energy_mev'] / 1000:g} GeV {result['config']['particle']}s",
        "",
        f"Command: `{command}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m.get('memory_gib')} GiB"
        + (f", GPU {m['gpu']}" if m.get("gpu") else "")
        + f"; {m['time_utc']}",
        "",
        "Measured limits: "
        + "; ".join(
            f"{t} thread(s): matmul {v['matmul_flops'] / 1e9:.1f} GFLOP/s, copy "
            f"{v['copy_bytes_per_s'] / 1e9:.1f} GB/s"
            for t, v in result["limits"].items()
        ),
        "",
        "| what | backend | device | threads | batch | µs/shower | showers/s | × cascade | "
        "% FLOP limit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        frac = r.get("fraction_of_flop_limit")
        sp = r.get("speedup_vs_cascade")
        lines.append(
            f"| {r['what']} | {r['backend']} | {r['device']} | {r['threads'] or '-'} | "
            f"{r['batch']} | {r['per_shower_s'] * 1e6:,.2f} | {r['showers_per_s']:,.0f} | "
            f"{'' if sp is None else f'{sp:,.0f}'} | "
            f"{'' if frac is None else f'{100 * frac:.1f}'} |"
        )
    lines += ["", result["notes"], ""]
    return "\n".join(lines)


def write_results(result: dict[str, Any], out_dir: Path, name: str, command: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    result = result | {"command": command}
    atomic_write_text(out_dir / f"{name}.json", json.dumps(result, indent=2, default=str) + "\n")
    atomic_write_text(out_dir / f"{name}.md", to_markdown(result, command))
    return out_dir / f"{name}.md"
