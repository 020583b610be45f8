"""The CaloChallenge protocol's report.html: the published table of the dataset beside the
candidates' own numbers, the Geant4 warning, escaping."""

from __future__ import annotations

import html
from typing import Any

from caloforge.evaluation.calochallenge.published import GEANT4_WARNING, published_results
from caloforge.evaluation.calochallenge.report import challenge_report_html

LABEL = "<b>gan & co</b>"


def _result(is_geant4: bool) -> dict[str, Any]:
    return {
        "dataset": "2",
        "settings": {"threshold_mev": 0.5e-3 / 0.033, "seed": 0, "classifier": {"n_hidden": 8}},
        "reference": {
            "source": "ref<1>.h5",
            "n_showers": 10,
            "energy_scale": "calibrated (visible x 30.303)",
            "energy_scale_found": "attribute 'energy_scale'",
            "is_geant4": is_geant4,
        },
        "candidates": {
            LABEL: {
                "source": "c.h5",
                "n_showers": 10,
                "energy_scale": "visible deposit (x1)",
                "energy_scale_found": "attribute 'energy_scale'",
                "separation": {"etot_einc": 0.125, "cells": 0.5},
                "separation_floor": {"etot_einc": 0.01, "cells": 0.02},
                "auc_low": 0.61234,
                "auc_low_err": 0.0123,
                "auc_high": 0.55,
                "auc_high_err": 0.01,
                "fpd_x1e3": 12.3456,
                "fpd_x1e3_err": 0.5,
                "kpd_x1e3": 0.0421,
                "kpd_x1e3_err": 0.001,
            }
        },
        "published": {"source": {"paper": "arXiv:2410.21611", "file": "results.hdf"}},
        "warnings": [] if is_geant4 else [GEANT4_WARNING],
    }


def _row(page: str, name: str) -> str:
    start = page.index(f"<td class='name'>{name}")
    return page[start : page.index("</tr>", start)]


def test_published_rows_beside_the_candidate_with_the_warning() -> None:
    page = challenge_report_html(_result(is_geant4=False))
    assert LABEL not in page  # escaped everywhere
    ours = _row(page, html.escape(LABEL) + " (this evaluation)")
    for text in ("0.6123 ± 0.0123", "0.5500 ± 0.0100", "12.346 ± 0.500", "0.0421 ± 0.0010"):
        assert f"<td>{text}</td>" in ours
    rows = published_results("2")
    assert page.count("<tr") == 1 + 1 + len(rows) + 2 + 1  # leaderboard, separation table
    inn = next(r for r in rows if r["model"] == "CaloINN")
    calo_inn = _row(page, "CaloINN")
    cpu = " / ".join(f"{inn['time_cpu'][b][0]:.1f}" for b in ("1", "100", "10000"))
    assert f"<td>{inn['auc_low']:.4f} ± {inn['auc_low_err']:.4f}</td>" in calo_inn
    assert f"<td>{cpu}</td>" in calo_inn
    warning = page.index("Not comparable")
    assert html.escape(GEANT4_WARNING) in page[warning : page.index("<table", warning)]
    # worst histogram first
    assert page.index("'name'>cells") < page.index("'name'>etot_einc")


def test_no_warning_when_the_reference_is_geant4() -> None:
    page = challenge_report_html(_result(is_geant4=True))
    assert "Not comparable" not in page
    assert html.escape(GEANT4_WARNING) not in page
    assert "the published numbers compare" in page
