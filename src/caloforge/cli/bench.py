"""``caloforge bench``."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from caloforge.cli._common import console, print_text, user_errors


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        msg = f"{what}: expected comma-separated integers, got {text!r}"
        raise ValueError(msg) from None
    if not values or min(values) < 1:
        msg = f"{what}: values must be >= 1, got {text!r}"
        raise ValueError(msg)
    return values


@user_errors
def bench(
    model: Annotated[
        list[Path] | None, typer.Option("--model", "-m", help="model folder(s) to time")
    ] = None,
    geometry: Annotated[str, typer.Option(help="geometry of the reference engines")] = (
        "atlas-em-barrel"
    ),
    particle: Annotated[str, typer.Option(help="photon, electron or positron")] = "photon",
    energy: Annotated[str, typer.Option(help="incident energy with unit, e.g. 50GeV")] = "50GeV",
    batch_sizes: Annotated[str, typer.Option(help="comma-separated batch sizes")] = "1,100,10000",
    threads: Annotated[
        str | None, typer.Option(help="comma-separated CPU thread counts (default: 1,all)")
    ] = None,
    engines: Annotated[str, typer.Option(help="reference engines to time")] = "cascade,gflash",
    n_mc: Annotated[int, typer.Option(help="showers per reference-engine timing")] = 20,
    budget: Annotated[float, typer.Option(help="seconds of repetitions per figure")] = 2.0,
    out_dir: Annotated[Path, typer.Option(help="results folder")] = Path("benchmarks/results"),
    name: Annotated[str, typer.Option(help="results file stem")] = "bench",
) -> None:
    """Time per shower vs batch size: reference MC, GFlash and each model (PyTorch, ONNX
    Runtime; 1 and all threads; GPU if present), with speed-ups and hardware-limit fractions."""
    from caloforge.bench.harness import BenchConfig, run_bench, write_results
    from caloforge.units import parse_energy

    kwargs: dict[str, Any] = {}
    if threads is not None:
        kwargs["threads"] = _ints(threads, "--threads")
    cfg = BenchConfig(
        geometry=geometry,
        particle=particle,
        energy_mev=parse_energy(energy),
        batch_sizes=_ints(batch_sizes, "--batch-sizes"),
        engines=tuple(e for e in engines.split(",") if e),
        n_mc=n_mc,
        budget_s=budget,
        **kwargs,
    )
    with console.status("benchmarking (reference engines, models, hardware limits)..."):
        result = run_bench(cfg, model or [])
    command = "caloforge " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "caloforge bench"
    md = write_results(result, out_dir, name, command)
    typer.echo(md.read_text())
    print_text(f"results: {md} and {md.with_suffix('.json')}")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
