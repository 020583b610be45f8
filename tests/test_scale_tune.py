"""``caloforge tune``: an Optuna study on SQLite that resumes, averages seeds and checks its
search space."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from caloforge.scale.tune import load_space, tune
from synthetic import synthetic_showers

BASE = """
family = "vae"
[train]
steps = 4
batch_size = 16
validate_every = 2
checkpoint_every = 4
threads = 1
[model]
latent_dim = 4
encoder_hidden = [16]
decoder_hidden = [16]
"""
SPACE = """
"train.lr" = {low = 1e-4, high = 1e-2, log = true}
[model]
beta = {low = 1e-4, high = 1e-2, log = true}
decoder_hidden = {choices = [[16], [32, 16]]}
"""


@pytest.fixture(scope="module")
def files(
    tmp_path_factory: pytest.TempPathFactory, shower_file: Callable[..., Path]
) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tune")
    (d / "base.toml").write_text(BASE)
    (d / "space.toml").write_text(SPACE)
    data = shower_file(synthetic_showers, 120, 0)
    return {"data": data, "base": d / "base.toml", "space": d / "space.toml"}


def _study(out: Path) -> optuna.Study:
    return optuna.load_study(study_name="caloforge-vae", storage=f"sqlite:///{out / 'study.db'}")


def test_study_on_sqlite_runs_and_resumes(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "study"
    kw = {"config": files["base"], "sampler_seed": 0}
    first = tune(files["data"], "vae", files["space"], 3, out, **kw)
    assert sum(first.summary["trials"].values()) == 3
    assert (out / "study.db").is_file()
    assert len(_study(out).trials) == 3
    # a second call (the study was stopped after 3 trials) adds to the same study
    second = tune(files["data"], "vae", files["space"], 2, out, **kw)
    trials = _study(out).trials
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert second.summary["trials"] == {"complete": 5}
    best = second.best
    assert [b["value"] for b in best] == sorted(b["value"] for b in best)
    assert best[0]["value"] == min(t.value for t in trials)
    assert best[0]["params"]["model.decoder_hidden"] in ([16], [32, 16])
    # every trial reported its intermediate validation scores (steps 2 and 4)
    assert all(sorted(t.intermediate_values) == [2, 4] for t in trials)
    doc = json.loads((out / "summary.json").read_text())
    assert doc["best"][0]["trial"] == best[0]["trial"]
    if second.importance_path is None:
        assert doc["importance_missing"]
    else:
        assert second.importance_path.read_bytes()[:4] == b"\x89PNG"
        assert set(doc["importance"]) == {"train.lr", "model.beta", "model.decoder_hidden"}
    trial_dir = Path(best[0]["out_dir"])
    assert (trial_dir / "seed_0" / "model.json").is_file()


def test_objective_is_the_mean_over_seeds(files: dict[str, Path], tmp_path: Path) -> None:
    res = tune(files["data"], "vae", files["space"], 1, tmp_path, config=files["base"], seeds=2)
    (row,) = res.best
    assert len(row["seed_scores"]) == 2
    assert row["value"] == pytest.approx(sum(row["seed_scores"]) / 2)
    assert {p.name for p in Path(row["out_dir"]).iterdir()} == {"seed_0", "seed_1"}


def test_space_file_checks(tmp_path: Path) -> None:
    space = tmp_path / "space.toml"
    space.write_text('"model.critic_ratio" = {low = 1, high = 8}\n')
    with pytest.raises(ValueError, match=r"space\.toml: unknown key 'model\.critic_ratio'"):
        load_space(space, "wgan-gp")
    space.write_text('"train.lr" = {low = 1e-3, high = 1e-4}\n')
    with pytest.raises(ValueError, match="needs numbers low < high"):
        load_space(space, "wgan-gp")
    space.write_text('"train.lr" = {low = 0, high = 1, log = true}\n')
    with pytest.raises(ValueError, match="log range needs low > 0"):
        load_space(space, "wgan-gp")
    space.write_text('"train.lr" = {low = 1e-4, high = 1e-3, scale = 2}\n')
    with pytest.raises(ValueError, match="unknown field"):
        load_space(space, "wgan-gp")
    space.write_text('[model]\nn_critic = {low = 1, high = 8}\n"x.y" = {choices = [1]}\n')
    with pytest.raises(ValueError, match=r"unknown key 'model\.x\.y'"):
        load_space(space, "wgan-gp")
    space.write_text("[model]\nn_critic = {low = 1, high = 8}\n[train]\nlr = {choices = [1e-4]}\n")
    params = {p.key: p for p in load_space(space, "wgan-gp")}
    assert params["model.n_critic"].integer
    assert params["train.lr"].choices == (1e-4,)


def test_cli_prints_the_best_trials(files: dict[str, Path], tmp_path: Path, cli: Callable) -> None:
    args = ["tune", "--data", str(files["data"]), "--family", "vae", "--space"]
    args += [str(files["space"]), "--trials", "2", "--out", str(tmp_path / "t"), "--steps", "2"]
    args += ["--config", str(files["base"]), "--threads", "1"]
    result = cli(args)
    assert result.exit_code == 0, result.output
    assert "best trials" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text('"train.nope" = {low = 1, high = 2}\n')
    args[args.index(str(files["space"]))] = str(bad)
    result = cli(args)
    assert result.exit_code == 2
    assert "unknown key 'train.nope'" in result.output
