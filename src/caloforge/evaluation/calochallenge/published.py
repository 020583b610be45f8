"""The CaloChallenge 2022 final results (arXiv:2410.21611) as package data.

``published_results.json`` beside this module holds, per dataset and submission, the AUCs of the
low- and high-level classifiers, FPD and KPD (times 1e3), the generation time per shower on CPU
and GPU by batch size, and the number of parameters, each with its error where published, taken
from the challenge's own results files; its ``source`` entry says where every column comes from.
Missing numbers are ``None``. The ``GEANT4`` row compares Geant4 with Geant4: the floor.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from caloforge.evaluation.calochallenge.datasets import get_dataset

__all__ = ["GEANT4_WARNING", "leaderboard_table", "published_results", "published_source"]

#: shown whenever the reference of an evaluation is not the challenge's Geant4 sample
GEANT4_WARNING = (
    "the reference is not the CaloChallenge's Geant4 sample (it is our own Monte Carlo): the "
    "published numbers compare models with Geant4 and are not comparable with these"
)


@cache
def _load() -> dict[str, Any]:
    text = (
        files("caloforge.evaluation.calochallenge").joinpath("published_results.json").read_text()
    )
    data: dict[str, Any] = json.loads(text)
    return data


def published_source() -> dict[str, Any]:
    """Where the published numbers come from (paper, file, column meanings)."""
    return dict(_load()["source"])


def published_results(dataset: str) -> list[dict[str, Any]]:
    """Rows (one per submission, GEANT4 first) for a dataset key or preset name."""
    return [dict(r) for r in _load()["datasets"][get_dataset(dataset).key]]


def _fmt(value: float | None, error: float | None, digits: int) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}f}" if error is None else f"{value:.{digits}f} ± {error:.{digits}f}"


def leaderboard_table(dataset: str, candidates: dict[str, dict[str, Any]]) -> str:
    """Markdown table: the candidates' AUC low/high, FPD, KPD (x1e3) beside the published rows.

    ``candidates`` maps a label to ``{"auc_low", "auc_low_err", "auc_high", "auc_high_err",
    "fpd_x1e3", "fpd_x1e3_err", "kpd_x1e3", "kpd_x1e3_err"}`` (missing keys print empty)."""
    head = (
        "| model | AUC low | AUC high | FPD x1e3 | KPD x1e3 | CPU time/shower (batch 1/100/10000) |"
    )
    lines = [head, "|" + "---|" * 6]

    def row(name: str, r: dict[str, Any], times: str) -> str:
        return (
            f"| {name} | {_fmt(r.get('auc_low'), r.get('auc_low_err'), 4)} "
            f"| {_fmt(r.get('auc_high'), r.get('auc_high_err'), 4)} "
            f"| {_fmt(r.get('fpd_x1e3'), r.get('fpd_x1e3_err'), 3)} "
            f"| {_fmt(r.get('kpd_x1e3'), r.get('kpd_x1e3_err'), 4)} | {times} |"
        )

    for name, r in candidates.items():
        lines.append(row(f"**{name}** (this evaluation)", r, ""))
    for r in published_results(dataset):
        cpu = r.get("time_cpu", {})
        times = " / ".join(
            _fmt(cpu.get(b, [None])[0], None, 1) or "-" for b in ("1", "100", "10000")
        )
        lines.append(row(r["model"], r, times))
    return "\n".join(lines)
