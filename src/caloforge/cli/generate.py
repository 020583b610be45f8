"""``caloforge generate``: thin wrapper around :func:`caloforge.generation.generate`."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from caloforge.cli._common import check_device, print_warning, user_errors
from caloforge.units import parse_energies, parse_energy


@user_errors
def generate_cmd(
    model: Annotated[Path, typer.Option("--model", help="model folder (from caloforge train)")],
    out: Annotated[Path, typer.Option("--out", help="output shower file (HDF5)")],
    seed: Annotated[int, typer.Option("--seed", min=0, help="seed of the noise (and configs)")],
    n: Annotated[
        int | None, typer.Option("--n", help="showers per energy (with --like: the first N)")
    ] = None,
    energy: Annotated[
        str | None, typer.Option("--energy", help="incident energy with unit, e.g. 50GeV")
    ] = None,
    energies: Annotated[
        str | None, typer.Option("--energies", help="comma-separated, e.g. 16GeV,32GeV")
    ] = None,
    like: Annotated[
        Path | None,
        typer.Option("--like", help="copy energies (and configs) from this reference file"),
    ] = None,
    config: Annotated[
        int | None, typer.Option("--config", help="alignment configuration 0..7 (default: drawn)")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="showers per batch")] = 10_000,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda")] = "cpu",
    backend: Annotated[str, typer.Option("--backend", help="torch or onnxruntime")] = "torch",
    onnx: Annotated[
        Path | None,
        typer.Option(
            "--onnx",
            help="exported model.onnx for --backend onnxruntime "
            "(default: export the model on the fly)",
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="CPU threads (default: all; per task on Dask: 1)"),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="spread the batches over this Dask scheduler's workers"),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option("--cluster", help="spread the batches over a local Dask cluster: local[:N]"),
    ] = None,
    retries: Annotated[int, typer.Option("--retries", help="retries of a failed Dask task")] = 2,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="replace --out if it exists (default: refuse)")
    ] = False,
) -> None:
    """Generate showers from a trained model into --out (streamed, atomic); with --scheduler
    or --cluster, one Dask task per batch, merged at the end (the same file)."""
    from caloforge.generation import generate
    from caloforge.io import check_output_path
    from caloforge.scale.dask import open_executor

    check_output_path(out, overwrite=overwrite)
    if n is not None and n < 1:
        msg = f"--n must be >= 1 (showers per energy), got {n}"
        raise ValueError(msg)
    check_device(device)

    given = [x for x in (energy, energies, like) if x is not None]
    if len(given) != 1:
        msg = "give exactly one of --energy, --energies or --like"
        raise ValueError(msg)
    levels = None
    if energy is not None:
        levels = [parse_energy(energy)]
    elif energies is not None:
        levels = parse_energies(energies)
    if levels is not None and n is None:
        msg = "--n is required with --energy/--energies (showers per energy)"
        raise ValueError(msg)
    with (
        warnings.catch_warnings(record=True) as caught,
        open_executor(scheduler=scheduler, cluster=cluster, retries=retries) as executor,
    ):
        warnings.simplefilter("always")
        path = generate(
            model,
            out,
            n=n,
            energies=levels,
            like=like,
            config=config,
            seed=seed,
            batch_size=batch_size,
            backend=backend,
            onnx_path=onnx,
            device=device,
            threads=threads,
            progress=executor is None,
            executor=executor,
            overwrite=overwrite,
        )
    for w in caught:
        print_warning(w.message)
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_cmd)
