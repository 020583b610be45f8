"""``caloforge train``: thin wrapper around :func:`caloforge.training.train`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from caloforge.cli._common import check_device, print_error, print_json, print_text, user_errors
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
    geometry: Annotated[
        str | None,
        typer.Option(
            "--geometry",
            "-g",
            help="preset or binning .xml for data files that name no geometry (the CaloChallenge's own)",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the summary as JSON on stdout")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="replace the folder --out if it exists")
    ] = False,
) -> None:
    """Train a generative model on a shower file; writes the model folder --out (an existing
    one is refused unless --overwrite or --resume)."""
    from caloforge.io import check_output_path, lock_output, read_showers
    from caloforge.training import TrainingDivergedError, ensemble_spread
    from caloforge.training import train as train_fn

    check_device(device)
    # under torchrun rank 0 refuses an existing folder and holds the lock (torchrun then stops
    # the other ranks); they check only what --out is, as rank 0 may have made it already
    rank0 = int(os.environ.get("RANK", "0")) == 0
    check_output_path(out, overwrite=overwrite or resume or not rank0, kind="folder")
    try:
        with lock_output(out) if rank0 else contextlib.nullcontext():
            results = train_fn(
                data if geometry is None else read_showers(data, geometry),
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
        print_error(exc)
        raise typer.Exit(3) from None
    if not rank0:  # under torchrun only rank 0 reports
        return
    spread = ensemble_spread(out) if seeds > 1 else None
    if as_json:
        summary = [
            {"out_dir": str(r.out_dir), "seed": r.seed, "steps": r.steps, "wall_s": r.wall_seconds}
            | {"best_step": r.best_step, "best_score": r.metrics["best"].get("score")}
            | {"final_score": r.metrics["final"].get("score")}
            for r in results
        ]
        print_json(summary if spread is None else {"runs": summary, "spread": spread})
    else:
        for line in summary_lines(results, spread):
            print_text(line)


SCORE_MEANING = (
    "validation score = separation power of E_tot/E_inc + mean separation power of the layer "
    "energy fractions, on held-out showers (0: identical to the data; lower is better)"
)


def summary_lines(results: Sequence[Any], spread: dict[str, Any] | None) -> list[str]:
    """The end-of-training summary: per run its folder, steps, time, the best and the final
    validation score, and where the best model is; the score's meaning; the seeds' spread."""
    lines = []
    for r in results:
        best, final = r.metrics.get("best", {}), r.metrics.get("final", {})
        use = Path(r.out_dir) / "best" if (Path(r.out_dir) / "best").is_dir() else r.out_dir
        text = f"trained {r.out_dir} (seed {r.seed}): {r.steps} steps in {r.wall_seconds:.0f} s"
        if best.get("score") is not None:
            text += f"; best validation score {best['score']:.3f} at step {best['step']}"
        if final.get("score") is not None:
            text += f", final {final['score']:.3f}"
        lines += [text, f"  use the model in {use}"]
    lines.append(SCORE_MEANING)
    if spread is not None:
        lines.append(
            f"final score over {len(results)} seeds: {spread['mean']:.3f} ± {spread['std']:.3f} "
            f"(min {spread['min']:.3f}, max {spread['max']:.3f})"
        )
    return lines


def register(app: typer.Typer) -> None:
    app.command("train")(train)
