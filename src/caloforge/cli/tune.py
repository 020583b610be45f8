"""``caloforge tune``: thin wrapper around :func:`caloforge.scale.tune`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from caloforge.cli._common import check_device, console, print_text, user_errors
from caloforge.models.registry import family_help, family_names

if TYPE_CHECKING:
    FamilyName = str
else:  # the registered names as choices (the registry imports no family, hence no torch)
    FamilyName = Literal[tuple(family_names())]


@user_errors
def tune(
    data: Annotated[Path, typer.Option("--data", help="training shower file (HDF5)")],
    family: Annotated[FamilyName, typer.Option("--family", help=f"model family: {family_help()}")],
    space: Annotated[
        Path, typer.Option("--space", help="search space TOML: dotted key = {low, high, log}")
    ],
    trials: Annotated[int, typer.Option("--trials", help="trials to add to the study")],
    out: Annotated[Path, typer.Option("--out", help="folder for trials, summary and plots")],
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="study database URL shared by workers (default: sqlite:///OUT/study.db)",
        ),
    ] = None,
    seeds: Annotated[
        int, typer.Option("--seeds", help="training seeds per trial (objective: their mean)")
    ] = 1,
    study_name: Annotated[
        str | None,
        typer.Option("--study-name", help="study to create or add to (default caloforge-FAMILY)"),
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", help="generator steps per training (overrides)")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="base TOML run file the trials modify")
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="CPU threads for torch")] = None,
    device: Annotated[str | None, typer.Option("--device", help="cpu or cuda")] = None,
    sampler_seed: Annotated[
        int | None,
        typer.Option("--sampler-seed", help="seed of the TPE sampler (one worker only)"),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="write into an existing --out folder that holds no study (one that does is "
            "added to)",
        ),
    ] = False,
) -> None:
    """Search hyper-parameters with Optuna; objective: the validation score over --seeds."""
    from rich.table import Table
    from rich.text import Text

    from caloforge.io import check_output_path
    from caloforge.scale.tune import tune as tune_fn

    check_device(device)
    # a folder holding a study is added to (several workers may share it: no lock); any other
    # existing --out is refused unless --overwrite
    has_study = (out / "study.db").is_file() or (out / "summary.json").is_file()
    check_output_path(out, overwrite=overwrite or has_study, kind="folder")
    result = tune_fn(
        data,
        family,
        space,
        trials,
        out,
        storage=storage,
        study_name=study_name,
        seeds=seeds,
        steps=steps,
        config=config,
        threads=threads,
        device=device,
        sampler_seed=sampler_seed,
    )
    counts = ", ".join(f"{v} {k}" for k, v in sorted(result.summary["trials"].items()))
    table = Table(title=Text(f"study {result.study_name}: best trials ({counts})"))
    table.add_column("trial", justify="right")
    table.add_column("score (mean)", justify="right")
    table.add_column("per seed")
    table.add_column("parameters")
    for row in result.best:
        per_seed = ", ".join(f"{s:.4g}" for s in row["seed_scores"] or [])
        params = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["params"].items()
        )
        cells = (str(row["trial"]), f"{row['value']:.4g}", per_seed, params)
        table.add_row(*(Text(c) for c in cells))  # study names and values are not markup
    console.print(table)
    if result.importance_path is None:
        print_text(f"no importance plot: {result.summary.get('importance_missing')}")
    print_text(f"summary: {result.summary_path}")


def register(app: typer.Typer) -> None:
    app.command("tune")(tune)
