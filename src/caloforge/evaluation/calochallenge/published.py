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

__all__ = [
    "GEANT4_WARNING",
    "LEADERBOARD_COLUMNS",
    "leaderboard_rows",
    "leaderboard_table",
    "published_results",
    "published_source",
]

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


#: the columns of the leaderboard: key, heading
LEADERBOARD_COLUMNS = (
    ("model", "model"),
    ("auc_low", "AUC low"),
    ("auc_high", "AUC high"),
    ("fpd", "FPD x1e3"),
    ("kpd", "KPD x1e3"),
    ("time_cpu", "CPU time/shower (batch 1/100/10000)"),
    ("time_gpu", "GPU time/shower (batch 1/100/10000)"),
)
_BATCHES = ("1", "100", "10000")


def _times(times: dict[str, Any] | None) -> str:
    if not times:
        return ""
    return " / ".join(_fmt(times.get(b, [None])[0], None, 1) or "-" for b in _BATCHES)


def leaderboard_rows(dataset: str, candidates: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The leaderboard as rows of formatted text (keys of :data:`LEADERBOARD_COLUMNS` and
    ``ours``: True for this evaluation's candidates, which come first, then the published rows,
    GEANT4 first). ``candidates`` maps a label to ``{"auc_low", "auc_low_err", "auc_high",
    "auc_high_err", "fpd_x1e3", "fpd_x1e3_err", "kpd_x1e3", "kpd_x1e3_err"}`` and optionally
    ``"time_cpu"`` / ``"time_gpu"`` (batch size -> [time, error]); missing keys print empty."""

    def row(name: str, r: dict[str, Any], ours: bool) -> dict[str, Any]:
        return {
            "model": name,
            "ours": ours,
            "auc_low": _fmt(r.get("auc_low"), r.get("auc_low_err"), 4),
            "auc_high": _fmt(r.get("auc_high"), r.get("auc_high_err"), 4),
            "fpd": _fmt(r.get("fpd_x1e3"), r.get("fpd_x1e3_err"), 3),
            "kpd": _fmt(r.get("kpd_x1e3"), r.get("kpd_x1e3_err"), 4),
            "time_cpu": _times(r.get("time_cpu")),
            "time_gpu": _times(r.get("time_gpu")),
        }

    rows = [row(name, r, True) for name, r in candidates.items()]
    return rows + [row(r["model"], r, False) for r in published_results(dataset)]


def leaderboard_table(dataset: str, candidates: dict[str, dict[str, Any]]) -> str:
    """Markdown table of :func:`leaderboard_rows`: the candidates' AUC low/high, FPD, KPD (x1e3)
    beside the published rows (candidates in bold, marked "this evaluation")."""
    lines = [
        "| " + " | ".join(h for _, h in LEADERBOARD_COLUMNS) + " |",
        "|" + "---|" * len(LEADERBOARD_COLUMNS),
    ]
    for r in leaderboard_rows(dataset, candidates):
        name = f"**{r['model']}** (this evaluation)" if r["ours"] else r["model"]
        cells = [name, *(r[k] for k, _ in LEADERBOARD_COLUMNS[1:])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
