"""``caloforge train`` ends with a readable summary (``--json`` for the machine-readable one)."""

from __future__ import annotations

from pathlib import Path

from caloforge.cli.train import SCORE_MEANING, summary_lines
from caloforge.training.trainer import TrainResult


def _run(out: Path, seed: int, best: float, final: float) -> TrainResult:
    (out / "best").mkdir(parents=True)
    metrics = {"best": {"step": 400, "score": best}, "final": {"step": 600, "score": final}}
    return TrainResult(out, seed, 600, 61.7, 400, metrics)


def test_summary_names_the_model_and_explains_the_score(tmp_path: Path) -> None:
    lines = summary_lines([_run(tmp_path / "m", 0, 0.1234, 0.698)], None)
    assert lines == [
        f"trained {tmp_path / 'm'} (seed 0): 600 steps in 62 s; best validation score 0.123 "
        "at step 400, final 0.698",
        f"  use the model in {tmp_path / 'm' / 'best'}",
        SCORE_MEANING,
    ]
    assert "lower is better" in SCORE_MEANING


def test_summary_of_an_ensemble_gives_the_spread(tmp_path: Path) -> None:
    runs = [_run(tmp_path / f"seed_{s}", s, 0.1, 0.2 + s / 10) for s in (0, 1)]
    spread = {"mean": 0.25, "std": 0.0707, "min": 0.2, "max": 0.3}
    lines = summary_lines(runs, spread)
    assert lines[-1] == "final score over 2 seeds: 0.250 ± 0.071 (min 0.200, max 0.300)"
    assert sum(line.startswith("trained ") for line in lines) == 2
