"""End to end: an independent sample passes, distorted samples are detected and flagged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from caloforge.evaluation import ClassifierConfig, evaluate
from caloforge.evaluation.flagging import is_flagged
from synthetic import atlas_showers, scaled, strips_shifted

N_SHOWERS = 5000
FAST = ClassifierConfig(max_epochs=20, patience=4)


#: the report, made once per process (it costs a minute): under pytest-xdist a worker may run
#: this module's tests between other modules' tests, and pytest then rebuilds a module fixture
_REPORT: list[tuple[dict[str, Any], Path]] = []


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    if _REPORT:
        return _REPORT[0]
    out = tmp_path_factory.mktemp("report")
    reference = atlas_showers(N_SHOWERS, 1)
    other = atlas_showers(N_SHOWERS, 2)
    metrics = evaluate(
        reference,
        [other, scaled(other, 1.05), strips_shifted(other)],
        labels=["independent", "scaled", "strips"],
        per_config=True,
        out_dir=out,
        seed=0,
        classifier_config=FAST,
        lowlevel_rows=N_SHOWERS,
        fpd_samples=(1000, N_SHOWERS),
        kpd_batch_size=2000,
        n_bootstrap=4,
        max_histograms=4,
    )
    _REPORT.append((metrics, out))
    return metrics, out


@pytest.mark.slow  # the report fixture: 4 x 5000 showers, classifiers
def test_independent_sample_is_indistinguishable(report: tuple[dict[str, Any], Path]) -> None:
    c = report[0]["candidates"]["independent"]
    for kind in ("low_level", "high_level"):
        assert abs(c["classifier"][kind]["auc"] - 0.5) < 0.03, kind
    worst = max(v["separation"] for v in c["observables"].values())
    assert worst < 0.01
    assert c["cell_spectrum"]["separation"] < 0.01
    assert c["flagged"] == []
    # nor in any alignment configuration alone (about 600 showers each)
    assert all(v["flagged"] == [] for v in c["per_config"].values())
    assert abs(c["kpd"]["value"]) < 3 * c["kpd"]["error"] + 1e-3
    assert report[0]["warnings"] == []


@pytest.mark.slow  # the report fixture: 4 x 5000 showers, classifiers
def test_energy_scale_error_is_detected(report: tuple[dict[str, Any], Path]) -> None:
    c = report[0]["candidates"]["scaled"]
    assert c["classifier"]["low_level"]["auc"] > 0.6
    assert c["classifier"]["high_level"]["auc"] > 0.6
    assert {"e_tot", "e_ratio", "e_layer.middle"} <= set(c["flagged"])
    assert not any(name.startswith(("centroid", "width", "dcentroid")) for name in c["flagged"])
    # the scaled sample is the independent one times 1.05
    lin_ref = report[0]["candidates"]["independent"]["response"]["linearity"]
    for ref, cand in zip(lin_ref, c["response"]["linearity"], strict=True):
        assert cand / ref == pytest.approx(1.05, rel=1e-4)


@pytest.mark.slow  # the report fixture: 4 x 5000 showers, classifiers
def test_strip_shift_is_detected(report: tuple[dict[str, Any], Path]) -> None:
    c = report[0]["candidates"]["strips"]
    assert c["classifier"]["low_level"]["auc"] > 0.6
    assert {"centroid_eta.strips", "dcentroid_eta.strips-middle"} <= set(c["flagged"])
    assert not any(name.startswith(("e_", "frac")) for name in c["flagged"])
    # seen in every alignment configuration separately too
    for per_config in c["per_config"].values():
        assert "dcentroid_eta.strips-middle" in per_config["flagged"]


@pytest.mark.slow  # the report fixture: 4 x 5000 showers, classifiers
def test_report_files(report: tuple[dict[str, Any], Path]) -> None:
    metrics, out = report
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["candidates"]["strips"]["flagged"] == metrics["candidates"]["strips"]["flagged"]
    page = (out / "report.html").read_text()
    assert page.index("<h2>Metrics</h2>") < page.index("<h2>Per observable</h2>")
    assert "class='flagged'><td class='name'>dcentroid_eta.strips-middle" in page
    # histograms, average images (all showers, per configuration), response, ...
    assert page.count("data:image/png;base64,") >= 4 + 2 + 2
    assert 'alt="average images per configuration"' in page
    assert 'src="http' not in page
    assert not list(out.glob(".*.tmp"))


def test_flag_rule_accounts_for_floor_and_error() -> None:
    assert is_flagged(0.05, 0.001, 0.004)
    assert not is_flagged(0.05, 0.001, 0.04)  # small samples: within the floor
    assert not is_flagged(0.05, 0.02, 0.0)  # within three standard errors
