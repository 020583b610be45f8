"""``tune``: hyper-parameter search with Optuna; the objective is the trainer's validation score.

Each trial samples the search space, trains ``seeds`` models (seeds ``train.seed + i``) with
:func:`caloforge.training.train` and returns the mean of their final validation ``score``
(:func:`caloforge.training.validation_metrics`: separation powers of E_tot/E_inc and the layer
fractions; lower is better). Intermediate validation scores are reported to the trial (seed
``i``'s step ``s`` as Optuna step ``i * train.steps + s``) and a median pruner stops trials
that fall behind the others at the same step. A diverged training fails its trial and the
study goes on.

Storage: SQLite in ``out_dir/study.db`` by default; any SQLAlchemy database URL
(``postgresql://...``, ``mysql://...``, ``sqlite:////shared/study.db``) lets many workers on many
machines share one study (each runs ``caloforge tune`` with the same ``--storage`` and
``--study-name``). A study is created once and added to by every later call (resume). Trials
of a worker that died are marked failed after a missed heartbeat and retried once.

The search space is a TOML file mapping dotted configuration keys to distributions::

    "train.lr" = {low = 1e-5, high = 1e-3, log = true}
    "train.batch_size" = {choices = [64, 128, 256]}
    "model.n_critic" = {low = 1, high = 8}              # integers: both bounds integers
    "model.generator_hidden" = {choices = [[64, 64], [128, 128, 128]]}

(``[train]`` tables with ``lr = {...}`` mean the same). Keys are ``train.<TrainConfig field>``,
``model.<the family's hyper-parameter>`` or ``preprocessing.<field>``; an unknown key is an error
naming the file and the key.

Outputs in ``out_dir``: ``trial_<n>/seed_<s>/`` (the trained models), ``summary.json`` (the best
trials, their parameters and per-seed scores, trial counts, parameter importances) and
``importance.png`` (Optuna's importance evaluator; left out, with the reason in the summary,
when it cannot be computed, e.g. with fewer than two finished trials).
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caloforge._optional import require
from caloforge.io import atomic_path, atomic_write_text
from caloforge.models.preprocessing import Preprocessing
from caloforge.models.registry import get_family
from caloforge.training import RunConfig, TrainConfig, TrainingDivergedError, load_run_config, train
from caloforge.training.config import read_toml, run_config_from_dict

if TYPE_CHECKING:
    import optuna

__all__ = ["Param", "TuneResult", "load_space", "tune"]


def _optuna() -> Any:
    """The optuna module, or :class:`~caloforge._optional.MissingExtraError` naming the extra."""
    return require("optuna", "scale", "caloforge tune")


_SPEC_KEYS = {"low", "high", "log", "step", "choices"}
_TABLES = ("train", "model", "preprocessing")


@dataclass(frozen=True)
class Param:
    """One searched key: a range (``low``..``high``, ``log``, ``step``) or ``choices``."""

    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None

    @property
    def integer(self) -> bool:
        return all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high))

    def suggest(self, trial: optuna.Trial) -> Any:
        """The trial's value for this key (choices that are lists travel as JSON text)."""
        if self.choices is not None:
            if all(c is None or isinstance(c, bool | int | float | str) for c in self.choices):
                return trial.suggest_categorical(self.key, list(self.choices))
            text = trial.suggest_categorical(self.key, [json.dumps(c) for c in self.choices])
            return json.loads(str(text))
        assert self.low is not None
        assert self.high is not None
        if self.integer:
            step = 1 if self.step is None else int(self.step)
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), step=step, log=self.log
            )
        return trial.suggest_float(
            self.key, float(self.low), float(self.high), step=self.step, log=self.log
        )


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and not set(value) & _SPEC_KEYS:
            out |= _flatten(value, f"{name}.")
        else:
            out[name] = value
    return out


def _param(where: str, key: str, spec: Any) -> Param:
    if not isinstance(spec, dict):
        msg = f"{where}: key {key!r} must be a table {{low, high[, log, step]}} or {{choices = [...]}}, got {spec!r}"
        raise ValueError(msg)
    unknown = sorted(set(spec) - _SPEC_KEYS)
    if unknown:
        msg = f"{where}: key {key!r} has unknown field(s) {', '.join(map(repr, unknown))}; expected low, high, log, step or choices"
        raise ValueError(msg)
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) != {"choices"} or not isinstance(choices, list) or not choices:
            msg = f"{where}: key {key!r}: 'choices' must be a non-empty list, alone in its table"
            raise ValueError(msg)
        return Param(key, choices=tuple(choices))
    low, high = spec.get("low"), spec.get("high")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
    if not numbers or not low < high:  # type: ignore[operator]
        msg = f"{where}: key {key!r} needs numbers low < high, got low={low!r}, high={high!r}"
        raise ValueError(msg)
    log = spec.get("log", False)
    if not isinstance(log, bool) or (log and low <= 0):  # type: ignore[operator]
        msg = f"{where}: key {key!r}: log must be true or false, and a log range needs low > 0"
        raise ValueError(msg)
    step = spec.get("step")
    if step is not None and (
        isinstance(step, bool) or not isinstance(step, int | float) or step <= 0 or log
    ):
        msg = f"{where}: key {key!r}: step must be a positive number, and not combined with log"
        raise ValueError(msg)
    return Param(key, low=low, high=high, log=log, step=step)


def load_space(path: str | Path, family: str) -> list[Param]:
    """Read a search-space TOML file (see the module docstring) for ``family``."""
    doc = read_toml(path, "search-space file")
    known = {
        "train": _fields(TrainConfig),
        "model": _fields(get_family(family).Config),
        "preprocessing": _fields(Preprocessing),
    }
    params = []
    for key, spec in _flatten(doc).items():
        table, _, name = key.partition(".")
        if table not in known or name not in known[table]:
            hint = (
                f"[{table}] has: {', '.join(sorted(known[table]))}"
                if table in known
                else "keys start with train., model. or preprocessing."
            )
            msg = f"{path}: unknown key {key!r} for family {family!r}; {hint}"
            raise ValueError(msg)
        params.append(_param(str(path), key, spec))
    if not params:
        msg = f"{path}: the search space is empty"
        raise ValueError(msg)
    return params


def apply_params(run: RunConfig, values: dict[str, Any], where: str) -> RunConfig:
    """``run`` with the dotted keys of ``values`` replaced, validated like a run file."""
    doc = run.to_dict()
    for key, value in values.items():
        table, _, name = key.partition(".")
        doc[table][name] = value
    return run_config_from_dict(doc, where, run.family)


@dataclass
class TuneResult:
    """The study after this call: its name and storage, the best trials (``summary["best"]``),
    trial counts by state, and the files written."""

    study_name: str
    storage: str
    summary: dict[str, Any]
    summary_path: Path
    importance_path: Path | None = None
    best: list[dict[str, Any]] = field(default_factory=list)


def _storage(url: str) -> Any:
    optuna = _optuna()

    if not url.startswith(("sqlite:", "postgresql", "mysql", "oracle", "mssql")):
        return url
    with warnings.catch_warnings():
        # the heartbeat (fail and retry trials of dead workers) is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=60,
            grace_period=180,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=1
            ),
        )


def _redacted(url: str) -> str:
    """The storage URL without its password (it is written to the summary)."""
    require("sqlalchemy", "scale", "caloforge tune --storage")
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return str(make_url(url).render_as_string(hide_password=True))
    except ArgumentError:
        return url


def _importance(study: optuna.Study, out: Path) -> tuple[dict[str, float] | None, str | None]:
    """Parameter importances and ``out`` (a bar chart), or None and why they are missing."""
    optuna = _optuna()

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(done) < 2:
        return None, f"{len(done)} finished trial(s); importances need at least 2"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            imp = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError, ZeroDivisionError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if caught:  # e.g. too few trials: optuna then returns equal, meaningless importances
        return None, "; ".join(str(w.message) for w in caught)
    if not imp:
        return None, "no finished trials with parameters"
    from matplotlib.figure import Figure  # no pyplot: no global backend state (Agg canvas)

    names = list(imp)[::-1]
    fig = Figure(figsize=(6, 0.45 * len(names) + 1.2))
    ax = fig.add_subplot()
    ax.barh(names, [imp[k] for k in names], color="tab:blue")
    ax.set_xlabel("importance (fraction of the objective's variance)")
    ax.set_title(f"{study.study_name}: parameter importance")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return {k: float(v) for k, v in imp.items()}, None


def _decoded(param: Param, value: Any) -> Any:
    """A trial's stored value as the configuration sees it (list choices are JSON text)."""
    if param.choices is not None and isinstance(value, str) and value not in param.choices:
        return json.loads(value)
    return value


def _summary(study: optuna.Study, n_best: int, params: list[Param]) -> dict[str, Any]:
    optuna = _optuna()

    trials = study.get_trials(deepcopy=False)
    done = [
        t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None
    ]
    done.sort(key=lambda t: t.value)  # type: ignore[arg-type, return-value]
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    best = [
        {
            "trial": t.number,
            "value": t.value,
            "params": {p.key: _decoded(p, t.params[p.key]) for p in params if p.key in t.params},
            "seed_scores": t.user_attrs.get("seed_scores"),
            "out_dir": t.user_attrs.get("out_dir"),
        }
        for t in done[:n_best]
    ]
    return {"study": study.study_name, "direction": "minimize", "trials": counts, "best": best}


def tune(
    data: str | Path,
    family: str,
    space: str | Path,
    trials: int,
    out_dir: str | Path,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    seeds: int = 1,
    steps: int | None = None,
    config: str | Path | RunConfig | None = None,
    threads: int | None = None,
    device: str | None = None,
    sampler_seed: int | None = None,
    n_best: int = 5,
    prune_after: int = 5,
) -> TuneResult:
    """Run ``trials`` more trials of the study (created if new) and write its summary.

    ``config``: the base run (a :class:`RunConfig` or TOML file; the family's defaults if
    None) on which each trial's sampled values are set; ``steps`` overrides its
    ``train.steps``. ``sampler_seed`` makes the TPE sampler reproducible (leave it None when
    several workers share a study, or they propose the same first trials). ``prune_after``:
    finished trials needed before the median pruner stops any.
    """
    optuna = _optuna()

    if trials < 1 or seeds < 1:
        msg = f"trials and seeds must be >= 1, got trials={trials}, seeds={seeds}"
        raise ValueError(msg)
    name = get_family(family).name
    if isinstance(config, RunConfig):
        base = config
    elif config is not None:
        base = load_run_config(config, name)
    else:
        base = RunConfig(family=name)
    if base.family != name:
        msg = f"family {family!r} differs from the config's family {base.family!r}"
        raise ValueError(msg)
    base = base.with_train(steps=steps, threads=threads, device=device, progress=False)
    params = load_space(space, name)
    where = str(space)
    apply_params(base, {p.key: p.low if p.choices is None else p.choices[0] for p in params}, where)
    data = Path(data)
    if not data.is_file():
        msg = f"{data}: no such shower file"
        raise ValueError(msg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{out.resolve() / 'study.db'}"
    study_name = study_name or f"caloforge-{name}"
    study = optuna.create_study(
        study_name=study_name,
        storage=_storage(url),
        direction="minimize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=sampler_seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=prune_after),
    )
    per_seed = base.train.steps if base.train.epochs is None else 10**9

    def objective(trial: Any) -> float:  # an optuna.Trial
        values = {p.key: p.suggest(trial) for p in params}
        run = apply_params(base, values, f"{where} (trial {trial.number})")
        trial_dir = out / f"trial_{trial.number:04d}"
        trial.set_user_attr("out_dir", str(trial_dir))
        scores = []
        for i in range(seeds):
            seed = run.train.seed + i

            def report(step: int, metrics: dict[str, float], i: int = i) -> None:
                trial.report(metrics["score"], i * per_seed + step)
                if trial.should_prune():
                    raise optuna.TrialPruned

            result = train(
                data,
                config=run.with_train(seed=seed),
                out_dir=trial_dir / f"seed_{seed}",
                on_validation=report,
            )[0]
            scores.append(float(result.metrics["final"]["score"]))
        trial.set_user_attr("seed_scores", scores)
        return math.fsum(scores) / len(scores)

    study.optimize(objective, n_trials=trials, catch=(TrainingDivergedError,))
    summary = _summary(study, n_best, params)
    importance, why = _importance(study, out / "importance.png")
    summary |= {"importance": importance, "storage": _redacted(url)}
    if why is not None:
        summary["importance_missing"] = why
    summary_path = out / "summary.json"
    atomic_write_text(summary_path, json.dumps(summary, indent=2, sort_keys=True, default=str))
    return TuneResult(
        study_name,
        url,
        summary,
        summary_path,
        None if importance is None else out / "importance.png",
        summary["best"],
    )
