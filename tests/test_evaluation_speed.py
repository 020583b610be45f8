"""Fidelity against speed in the evaluation: matching candidates to a bench result's timings,
the speed-ups over the cascade of the same run, the report's section, and bad bench files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.evaluation.report import _speed_section
from caloforge.evaluation.speed import candidate_model, read_bench, speed_summary
from synthetic import atlas_showers

runner = CliRunner()


def _row(
    what: str, backend: str, threads: int | None, batch: int, us: float, device: str = "cpu"
) -> dict:
    return {
        "what": what,
        "backend": backend,
        "device": device,
        "threads": threads,
        "batch": batch,
        "per_shower_s": us * 1e-6,
    }


def _bench(tmp_path: Path) -> dict[str, Any]:
    return {
        "models": [str(tmp_path / "runs" / "flow_seed0"), str(tmp_path / "runs" / "gan")],
        "rows": [
            _row("cascade", "numba", 1, 1, 400_000.0),
            _row("cascade", "numba", 2, 1, 250_000.0),
            _row("flow (flow_seed0)", "onnxruntime", 1, 10_000, 40.0),
            _row("flow (flow_seed0)", "onnxruntime", 2, 10_000, 25.0),
            _row("flow (flow_seed0)", "torch-eager", 2, 10_000, 50.0),
            _row("flow (flow_seed0)", "torch-eager", None, 10_000, 2.0, device="H100"),
            _row("wgan-gp (gan)", "onnxruntime", 2, 10_000, 5.0),
        ],
    }


def test_candidates_are_matched_to_their_models_timings(tmp_path: Path) -> None:
    bench = _bench(tmp_path)
    # the same folder written another way resolves to the timed one
    other_spelling = str(tmp_path / "runs" / "x" / ".." / "flow_seed0")
    out = speed_summary(
        bench,
        {
            "flow": (other_spelling, "flow"),
            "untimed": (str(tmp_path / "elsewhere"), "vae"),
            "no model": None,
        },
    )
    assert out["cascade_us"] == pytest.approx({"1": 400_000.0, "2": 250_000.0})
    assert list(out["candidates"]) == ["flow"]
    flow = out["candidates"]["flow"]
    assert len(flow["rows"]) == 4
    # the fastest CPU row (the GPU row is faster but not CPU), and its speed-up at 2 threads
    assert flow["fastest"]["backend"] == "onnxruntime"
    assert flow["fastest"]["us_per_shower"] == pytest.approx(25.0)
    assert flow["fastest"]["speedup_vs_cascade"] == pytest.approx(10_000.0)
    one_thread = next(r for r in flow["rows"] if r["threads"] == 1)
    assert one_thread["speedup_vs_cascade"] == pytest.approx(10_000.0)
    gpu = next(r for r in flow["rows"] if r["device"] == "H100")
    assert gpu["speedup_vs_cascade"] is None


def test_candidate_model_comes_from_the_generated_files_attributes() -> None:
    assert candidate_model({"model": "/m/flow_seed0", "family": "flow"}) == (
        "/m/flow_seed0",
        "flow",
    )
    assert candidate_model({"engine": "cascade"}) is None


def test_the_report_section_escapes_and_shows_the_times(tmp_path: Path) -> None:
    speed = speed_summary(
        _bench(tmp_path), {"<i>flow</i>": (str(tmp_path / "runs" / "flow_seed0"), "flow")}
    )
    metrics = {
        "speed": speed,
        "candidates": {
            "<i>flow</i>": {
                "classifier": {
                    "low_level": {"auc": 0.62, "error": 0.01},
                    "high_level": {"auc": 0.64, "error": 0.01},
                }
            }
        },
    }
    page = _speed_section(metrics)
    assert "<h2>Fidelity against speed</h2>" in page
    assert "<i>flow" not in page
    assert "&lt;i&gt;flow&lt;/i&gt;" in page
    assert "25.00" in page
    assert "10,000" in page
    assert 'alt="fidelity against speed"' in page
    assert _speed_section({"candidates": {}}) == ""
    # what a bench file says about back-ends and threads is escaped too
    speed["candidates"]["<i>flow</i>"]["fastest"]["backend"] = "<script>"
    speed["cascade_us"] = {"<b>2</b>": 1.0}
    page = _speed_section(metrics)
    assert "<script>" not in page
    assert "<b>2" not in page


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a readable caloforge bench result"),
        (json.dumps({"rows": []}), "key 'models' must be"),
        (json.dumps({"models": [], "rows": []}), "key 'rows' must be a non-empty list"),
        (json.dumps({"models": [], "rows": [{"what": "x"}]}), r"rows\[0\] lacks backend"),
        (
            json.dumps({"models": [], "rows": [_row("x", "onnxruntime", 1, 1, 0.0)]}),
            r"rows\[0\]\.per_shower_s must be seconds per shower > 0",
        ),
    ],
)
def test_bad_bench_files_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bench.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        read_bench(path)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_cli_refuses_a_bad_bench_before_evaluating(tmp_path: Path) -> None:
    from caloforge.io import write_showers

    ref, cand = tmp_path / "ref.h5", tmp_path / "cand.h5"
    write_showers(ref, atlas_showers(20, 1))
    write_showers(cand, atlas_showers(20, 2))
    bad = tmp_path / "bench.json"
    bad.write_text(json.dumps({"models": []}))
    result = runner.invoke(
        app,
        [
            "evaluate",
            "-r",
            str(ref),
            "-c",
            str(cand),
            "-o",
            str(tmp_path / "r"),
            "--speed",
            str(bad),
        ],
    )
    assert result.exit_code == 2
    assert "key 'rows' must be a non-empty list" in " ".join(result.output.split())
    assert not (tmp_path / "r").exists()


@pytest.mark.filterwarnings("ignore::caloforge.evaluation.metrics.SmallSampleWarning")
@pytest.mark.slow  # > 10 s on 2 cores (a whole evaluate run)
def test_evaluate_puts_the_timings_beside_the_aucs(tmp_path: Path) -> None:
    from caloforge.evaluation import evaluate

    cand = atlas_showers(300, 32)
    cand.attrs.update(model=str(tmp_path / "runs" / "flow_seed0"), family="flow")
    metrics = evaluate(
        atlas_showers(300, 31),
        [cand],
        labels=["flow"],
        out_dir=tmp_path / "report",
        classifier=False,
        max_histograms=1,
        n_bootstrap=2,
        speed=_bench(tmp_path),
    )
    assert metrics["speed"]["candidates"]["flow"]["fastest"]["us_per_shower"] == pytest.approx(25.0)
    page = (tmp_path / "report" / "report.html").read_text()
    assert "Fidelity against speed" in page
    saved = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert saved["speed"]["cascade_us"]["2"] == pytest.approx(250_000.0)
