"""``caloforge evaluate --reference REF.h5 --candidate A.h5 [...] --out DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from caloforge.cli._common import console, user_errors


@user_errors
def evaluate(
    reference: Annotated[
        Path, typer.Option("--reference", "-r", help="reference shower file (HDF5)")
    ],
    candidate: Annotated[
        list[Path], typer.Option("--candidate", "-c", help="candidate shower file; repeatable")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder for report and metrics")],
    label: Annotated[
        list[str] | None,
        typer.Option("--label", "-l", help="name of each candidate, in order; repeatable"),
    ] = None,
    per_config: Annotated[
        bool, typer.Option("--per-config", help="also compare per alignment configuration")
    ] = False,
    seed: Annotated[int, typer.Option(min=0, help="seed of every sampled quantity")] = 0,
    bins: Annotated[int, typer.Option(help="histogram bins per observable")] = 40,
    no_classifier: Annotated[
        bool, typer.Option("--no-classifier", help="skip the classifier AUCs")
    ] = False,
    lowlevel_rows: Annotated[
        int | None,
        typer.Option(
            help="showers per sample kept for the low-level classifier "
            "(default: 20000, fewer for fine geometries: 256 MiB per sample)"
        ),
    ] = None,
    max_histograms: Annotated[
        int, typer.Option(help="observables drawn as histograms in the report")
    ] = 60,
    model: Annotated[
        Path | None,
        typer.Option(
            help="the candidate's model folder: its training curve (log.csv) in the report"
        ),
    ] = None,
    fail_on_flag: Annotated[
        bool, typer.Option("--fail-on-flag", help="exit with status 1 if any observable is flagged")
    ] = False,
    max_auc: Annotated[
        float | None,
        typer.Option(help="exit with status 1 if any classifier AUC is above this bound"),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="replace the folder --out if it exists")
    ] = False,
) -> None:
    """Compare candidates with a reference: metrics.json and a self-contained report.html.

    For CI: --fail-on-flag and/or --max-auc make the exit status 1 when the check fails."""
    from caloforge.evaluation.comparison import evaluate as run_evaluation
    from caloforge.evaluation.gate import check_max_auc, gate_failures
    from caloforge.io import check_output_path, lock_output

    check_max_auc(max_auc)
    check_output_path(out, overwrite=overwrite, kind="folder")
    with lock_output(out):
        metrics = run_evaluation(
            reference,
            candidate,
            labels=label or None,
            per_config=per_config,
            out_dir=out,
            seed=seed,
            n_bins=bins,
            classifier=not no_classifier,
            lowlevel_rows=lowlevel_rows,
            max_histograms=max_histograms,
            progress=True,
            model_dir=model,
        )
    for name, c in metrics["candidates"].items():
        cls = c.get("classifier")
        auc = (
            f"AUC low {cls['low_level']['auc']:.3f} high {cls['high_level']['auc']:.3f}, "
            if cls
            else ""
        )
        console.print(
            f"{name}: {auc}FPD {c['fpd']['value']:.4f} (floor {c['fpd']['floor']:.4f}), KPD {c['kpd']['value']:.5f}, "
            f"flagged: {', '.join(c['flagged']) or 'none'}",
            highlight=False,
            markup=False,
        )
    console.print(f"report: {out / 'report.html'}", highlight=False, markup=False, soft_wrap=True)
    failures = gate_failures(metrics, fail_on_flag=fail_on_flag, max_auc=max_auc)
    for line in failures:
        console.print(f"FAIL {line}", highlight=False, markup=False, soft_wrap=True)
    if failures:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
