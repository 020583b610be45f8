"""``caloforge evaluate`` on small files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from caloforge.io import write_showers
from synthetic import atlas_showers, scaled


@pytest.mark.slow  # a full report of 3 x 400 showers, per configuration
@pytest.mark.filterwarnings("ignore::caloforge.evaluation.metrics.SmallSampleWarning")
def test_cli_writes_report_and_metrics(tmp_path: Path, cli: Callable) -> None:
    ref = write_showers(tmp_path / "ref.h5", atlas_showers(400, 21))
    a = write_showers(tmp_path / "a.h5", atlas_showers(400, 22))
    b = write_showers(tmp_path / "b.h5", scaled(atlas_showers(400, 22), 1.2))
    out = tmp_path / "report"
    result = cli(
        ["evaluate", "--reference", str(ref), "--candidate", str(a), "--candidate", str(b),
         "--label", "same", "--label", "hot", "--per-config", "--no-classifier",
         "--max-histograms", "2", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["candidates"]) == {"same", "hot"}
    assert "e_ratio" in metrics["candidates"]["hot"]["flagged"]
    assert set(metrics["candidates"]["hot"]["per_config"]) == {str(c) for c in range(8)}
    assert any("SmallSampleWarning" in w for w in metrics["warnings"])
    page = (out / "report.html").read_text()
    assert len(page) > 10_000
    assert 'alt="average images per configuration"' in page
    assert "flagged: " in result.output


def test_cli_bad_input_is_a_clean_error(tmp_path: Path, cli: Callable) -> None:
    ref = write_showers(tmp_path / "ref.h5", atlas_showers(20, 21))
    result = cli(
        ["evaluate", "-r", str(ref), "-c", str(tmp_path / "missing.h5"), "-o", str(tmp_path / "r")],
    )
    assert result.exit_code == 2
    assert "missing.h5: no such file" in " ".join(result.output.split())
