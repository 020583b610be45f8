"""The Pareto benchmark's bookkeeping: run configurations (teacher, distilled and
likelihood students), the front, the per-seed spread and the per-energy response table."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_pareto

from caloforge.models.flow import STUDENT, FlowConfig
from caloforge.models.flow_matching import FlowMatchingConfig


def _args(**over: object) -> argparse.Namespace:
    base = {
        "model": "",
        "train_overrides": "",
        "steps": 2000,
        "student_steps": 700,
        "batch_size": 128,
        "lr": 5e-4,
        "lr_schedule": "constant",
        "ema_decay": 0.0,
        "threads": 1,
        "checkpoint_every": 250,
    }
    return argparse.Namespace(**(base | over))


def test_run_configs_of_the_teacher_and_both_students(tmp_path: Path) -> None:
    over = {"flow-student-ml": {"lr": 2e-3}, "flow": {"batch_size": 256}}
    model = {"flow-student-ml": {"cell_bins": 16}}
    args = _args(train_overrides=json.dumps(over), model=json.dumps(model))
    teacher = bench_pareto.run_config("flow", args, seed=3)
    assert isinstance(teacher.model, FlowConfig)
    assert teacher.model == FlowConfig()
    assert (teacher.train.steps, teacher.train.batch_size, teacher.train.seed) == (2000, 256, 3)
    distilled = bench_pareto.run_config("flow", args, seed=3, teacher=tmp_path / "t")
    assert distilled.model.teacher == str(tmp_path / "t")  # type: ignore[union-attr]
    assert distilled.model.energy_coupling == STUDENT.energy_coupling  # type: ignore[union-attr]
    assert distilled.model.cell_bins == STUDENT.cell_bins  # type: ignore[union-attr]
    assert (distilled.train.steps, distilled.train.lr) == (700, 5e-4)
    ml = bench_pareto.run_config("flow", args, seed=3, ml_student=True)
    assert ml.model.teacher == ""  # type: ignore[union-attr]
    assert ml.model.cell_bins == 16  # type: ignore[union-attr]
    assert (ml.train.steps, ml.train.lr, ml.train.batch_size) == (700, 2e-3, 128)


def test_the_reflow_student_of_flow_matching(tmp_path: Path) -> None:
    """flow-matching's student is its own architecture sampled with two Euler steps, reflowed
    from the teacher; its likelihood-free twin trains on the data with the same sampler."""
    args = _args(model=json.dumps({"flow-matching-reflow": {"solver_steps": 1}}))
    teacher = bench_pareto.run_config("flow-matching", args, seed=0)
    assert teacher.model == FlowMatchingConfig()
    assert (teacher.model.solver, teacher.model.solver_steps) == ("midpoint", 16)
    reflow = bench_pareto.run_config("flow-matching", args, seed=0, teacher=tmp_path / "t")
    assert isinstance(reflow.model, FlowMatchingConfig)
    assert (reflow.model.solver, reflow.model.solver_steps) == ("euler", 1)
    assert reflow.model.teacher == str(tmp_path / "t")
    assert reflow.train.steps == 700
    ml = bench_pareto.run_config("flow-matching", args, seed=0, ml_student=True)
    assert isinstance(ml.model, FlowMatchingConfig)
    assert (ml.model.solver, ml.model.solver_steps, ml.model.teacher) == ("euler", 2, "")


def test_pareto_front_keeps_the_undominated() -> None:
    points = {"a": (1.0, 0.9), "b": (10.0, 0.6), "c": (5.0, 0.95), "d": (10.0, 0.7)}
    assert bench_pareto.pareto_front(points) == ["a", "b"]


def test_spread_and_response_table() -> None:
    assert bench_pareto._spread(np.array([1.0, 3.0])) == {
        "mean": 2.0,
        "std": pytest.approx(2**0.5),
    }
    ref = {
        "e_inc_gev": [2.0, 20.0],
        "n": [10, 12],
        "mean_ratio": [0.9, 0.95],
        "resolution": [0.1, 0.03],
    }
    runs = [
        {"response": {"mean_ratio": [0.8, 0.9], "resolution": [0.2, 0.02]}},
        {"response": {"mean_ratio": [1.0, 1.0], "resolution": [0.4, 0.04]}},
    ]
    doc = {"response_reference": ref, "families": {"flow": {"runs": runs}}}
    lines = bench_pareto.response_table(doc)
    assert lines[-2] == "| 2.00 | 10 | 0.9000, 0.1000 | 0.9000 ± 0.1414, 0.3000 ± 0.1414 |"
    assert lines[-1] == "| 20.00 | 12 | 0.9500, 0.0300 | 0.9500 ± 0.0707, 0.0300 ± 0.0141 |"
    single = {k: v[:1] for k, v in ref.items()}
    assert bench_pareto.response_table({**doc, "response_reference": single}) == []


def test_headline_observables_follow_the_geometry_layers() -> None:
    import bench_models

    obs = {"e_ratio": 0, "frac.layer0": 0, "hits.layer0": 0, "frac.layer12": 0, "sparsity": 0}
    assert bench_models.headline_observables(obs) == ["e_ratio", "frac.layer0", "frac.layer12"]
    atlas = {k: 0 for k in ("e_ratio", *bench_models.HEADLINE_OBSERVABLES[1:], "hits_total")}
    assert sorted(bench_models.headline_observables(atlas)) == sorted(
        bench_models.HEADLINE_OBSERVABLES
    )


def test_the_shared_reference_is_written_once(tmp_path: Path) -> None:
    """Seed lanes in parallel share the label's reference file: a lane finding the same showers
    there leaves it alone (a second writer would find it locked); other showers replace it."""
    from caloforge.io import read_showers
    from synthetic import atlas_showers

    path = tmp_path / "reference.h5"
    first = atlas_showers(20, seed=1)
    bench_pareto.write_unless_same(path, first)
    stamp = path.stat().st_mtime_ns
    bench_pareto.write_unless_same(path, read_showers(path))
    assert path.stat().st_mtime_ns == stamp
    other = atlas_showers(20, seed=2)
    bench_pareto.write_unless_same(path, other)
    assert np.array_equal(read_showers(path).cells, other.cells)
