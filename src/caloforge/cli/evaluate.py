"""``caloforge evaluate --reference REF.h5 --candidate A.h5 [...] --out DIR [--protocol ...]``."""

from __future__ import annotations

from enum import StrEnum
from math import nan
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from caloforge.cli._common import console, user_errors

if TYPE_CHECKING:
    from caloforge.evaluation.calochallenge.classifier import ChallengeClassifierConfig


class Protocol(StrEnum):
    caloforge = "caloforge"
    calochallenge = "calochallenge"


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False)


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
    geometry: Annotated[
        str | None,
        typer.Option(
            "--geometry",
            "-g",
            help="preset name or binning .xml for files that name no geometry (e.g. the "
            "CaloChallenge's own); every file must match it",
        ),
    ] = None,
    protocol: Annotated[
        Protocol,
        typer.Option(
            help="caloforge: our observables, metrics and report; calochallenge: the "
            "CaloChallenge 2022 evaluation (its features, binnings, classifiers, FPD/KPD) "
            "beside its published results"
        ),
    ] = Protocol.caloforge,
    reference_is_geant4: Annotated[
        bool,
        typer.Option(
            "--reference-is-geant4",
            help="(calochallenge) the reference is the challenge's Geant4 file, so the "
            "published numbers compare",
        ),
    ] = False,
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
            "(default: 20000, fewer for fine geometries: 256 MiB per sample; calochallenge: "
            "2 GiB of float64 per sample)"
        ),
    ] = None,
    max_histograms: Annotated[
        int, typer.Option(help="observables drawn as histograms in the report")
    ] = 60,
    cls_epochs: Annotated[
        int, typer.Option(help="(calochallenge) classifier epochs (the challenge's: 50)")
    ] = 50,
    fpd_kpd: Annotated[
        bool,
        typer.Option(
            help="(calochallenge) FPD and KPD with the challenge's batch sizes (10k-50k; minutes)"
        ),
    ] = True,
    cls_hidden: Annotated[
        int, typer.Option(help="(calochallenge) classifier hidden width (the challenge's: 2048)")
    ] = 2048,
    model: Annotated[
        Path | None,
        typer.Option(
            help="the candidate's model folder: its training curve (log.csv) in the report"
        ),
    ] = None,
    speed: Annotated[
        Path | None,
        typer.Option(
            help="a `caloforge bench` result (.json) that timed the candidates' models: their "
            "generation times beside their AUCs in the report"
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
    """Compare candidates with a reference: metrics.json and a self-contained report.html
    (calochallenge: metrics.json, report.html and calochallenge.md beside the published results).

    For CI: --fail-on-flag and/or --max-auc make the exit status 1 when the check fails."""
    from caloforge.evaluation.gate import check_max_auc, gate_failures
    from caloforge.io import check_output_path, lock_output

    check_max_auc(max_auc)
    check_output_path(out, overwrite=overwrite, kind="folder")
    bench = None
    if speed is not None:
        if protocol is Protocol.calochallenge:
            msg = "--speed: the fidelity-against-speed section is part of --protocol caloforge"
            raise ValueError(msg)
        from caloforge.evaluation.speed import read_bench

        bench = read_bench(speed)
    if protocol is Protocol.calochallenge:
        from caloforge.evaluation.calochallenge.classifier import ChallengeClassifierConfig

        config = ChallengeClassifierConfig(n_epochs=cls_epochs, n_hidden=cls_hidden)
        with lock_output(out):
            _calochallenge(
                reference,
                candidate,
                out,
                label,
                geometry,
                seed,
                config if not no_classifier else None,
                lowlevel_rows,
                reference_is_geant4,
                fpd_kpd,
            )
        return
    from caloforge.evaluation.comparison import evaluate as run_evaluation

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
            geometry=geometry,
            model_dir=model,
            speed=bench,
        )
    for name, c in metrics["candidates"].items():
        cls = c.get("classifier")
        auc = (
            f"AUC low {cls['low_level']['auc']:.3f} high {cls['high_level']['auc']:.3f}, "
            if cls
            else ""
        )
        _say(
            f"{name}: {auc}FPD {c['fpd']['value']:.4f} (floor {c['fpd']['floor']:.4f}), KPD {c['kpd']['value']:.5f}, "
            f"flagged: {', '.join(c['flagged']) or 'none'}"
        )
    _say(f"report: {out / 'report.html'}")
    failures = gate_failures(metrics, fail_on_flag=fail_on_flag, max_auc=max_auc)
    for line in failures:
        _say(f"FAIL {line}")
    if failures:
        raise typer.Exit(1)


def _calochallenge(
    reference: Path,
    candidates: list[Path],
    out: Path,
    labels: list[str] | None,
    geometry: str | None,
    seed: int,
    classifier: ChallengeClassifierConfig | None,
    lowlevel_rows: int | None,
    reference_is_geant4: bool,
    fpd_kpd: bool,
) -> None:
    from caloforge.evaluation.calochallenge.protocol import evaluate_calochallenge

    result: dict[str, Any] = evaluate_calochallenge(
        reference,
        candidates,
        labels or None,
        geometry=geometry,
        out_dir=out,
        seed=seed,
        classifier=classifier is not None,
        classifier_config=classifier,
        lowlevel_rows=lowlevel_rows,
        reference_is_geant4=reference_is_geant4,
        fpd_kpd=fpd_kpd,
    )
    _say(
        f"reference {reference}: energy scale {result['reference']['energy_scale']} "
        f"({result['reference']['energy_scale_found']})"
    )
    for name, c in result["candidates"].items():
        sep = c["separation"]
        auc = (
            f"AUC low {c['auc_low']:.4f} ± {c['auc_low_err']:.4f}, "
            f"high {c['auc_high']:.4f} ± {c['auc_high_err']:.4f}, "
            if "auc_low" in c
            else ""
        )
        fk = (
            f"FPD x1e3 {c['fpd_x1e3']:.3f} ± {c['fpd_x1e3_err']:.3f}, "
            f"KPD x1e3 {c['kpd_x1e3']:.4f} ± {c['kpd_x1e3_err']:.4f}"
            if "fpd_x1e3" in c
            else ""
        )
        _say(
            f"{name}: separation E_tot/E_inc {sep['etot_einc']:.4f}, "
            f"max over histograms {max((v for v in sep.values() if v == v), default=nan):.4f}; "
            f"{auc}{fk}"
        )
    for w in result["warnings"]:
        _say(f"warning: {w}")
    _say(
        f"metrics: {out / 'metrics.json'}; beside the published results: {out / 'report.html'}, "
        f"{out / 'calochallenge.md'}"
    )


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
