"""``caloforge train``: thin wrapper around :func:`caloforge.training.train`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from caloforge.cli._common import console, print_json, user_errors
from caloforge.models.registry import family_help, family_names

if TYPE_CHECKING:
    FamilyName = str
else:  # the registered names as choices (the registry imports no family, hence no torch)
    FamilyName = Literal[tuple(family_names())]


@user_errors
def train(
    data: Annotated[Path, typer.Option("--data", help="training shower file (HDF5)")],
    family: Annotated[FamilyName, typer.Option("--family", help=f"model family: {family_help()}")],
    out: Annotated[Path, typer.Option("--out", help="model folder to write")],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML run file with tables train, model and preprocessing"),
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", help="generator steps (overrides the config)")
    ] = None,
    seeds: Annotated[
        int, typer.Option("--seeds", help="train K models (seed, seed+1, ...) into seed_<s>/")
    ] = 1,
    resume: Annotated[
        bool, typer.Option("--resume", help="continue from the checkpoints in --out")
    ] = False,
    device: Annotated[str | None, typer.Option("--device", help="cpu or cuda")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="CPU threads for torch")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Train a generative model on a shower file; writes the model folder --out."""
    from caloforge.training import TrainingDivergedError, ensemble_spread
    from caloforge.training import train as train_fn

    try:
        results = train_fn(
            data,
            family,
            config,
            out,
            seeds=seeds,
            resume=resume,
            steps=steps,
            device=device,
            threads=threads,
            progress=progress,
        )
    except TrainingDivergedError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(3) from None
    summary = [
        {"out_dir": str(r.out_dir), "seed": r.seed, "steps": r.steps, "wall_s": r.wall_seconds}
        | {"best_step": r.best_step, "final_score": r.metrics["final"].get("score")}
        for r in results
    ]
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 reports
        print_json(summary if seeds == 1 else {"runs": summary, "spread": ensemble_spread(out)})


def register(app: typer.Typer) -> None:
    app.command("train")(train)
