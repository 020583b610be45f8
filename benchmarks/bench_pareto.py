"""Benchmark: fidelity against generation speed for every registered family (the Pareto view).

Every family in the registry (or ``--families``) is trained ``--seeds`` times on the same
training file, generates the reference's conditions (``--like``), and is compared with the
independent reference exactly as ``bench_models.py alignment`` does (its data preparation and
metrics are reused: ``evaluate`` with the low- and high-level classifier AUCs and their errors,
FPD / KPD, separation powers; the training data itself against the reference is the *floor*).
Per family it records, as mean and standard deviation over the seeds:

- AUC low / high level (each with the classifier's own error), FPD, KPD, the three worst
  separation powers (of every observable) and the largest;
- the response: mean E_tot / E_inc and sigma / E (r.m.s.), against the reference's;
- CPU training time (process CPU seconds of ``train``, one torch thread unless told) and wall
  time;

and, for the first seed's model, the generation time in microseconds per shower for the torch
and ONNX Runtime back-ends at each ``--batches`` size and ``--gen-threads`` count, with the
cascade MC timed in the same run (:func:`caloforge.bench.harness.run_bench`, ``--mc`` showers;
``--mc 0``: the models only, through ``caloforge.bench.timing.time_call``).

Distilled students (``--distil flow flow-matching``): for every seed, a student is distilled
from that seed's trained teacher and scored like a family (trained ``--student-steps`` steps,
its preset changed with ``--model '{"<student>": {...}}'``): ``flow-student``
(:data:`caloforge.models.flow.STUDENT`, probability-density distillation) and
``flow-matching-reflow`` (:data:`caloforge.models.flow_matching.REFLOW_STUDENT`, reflow, two
Euler steps). With ``--ml-student`` the same architecture is also trained on the data alone (no
teacher; the flow by maximum likelihood, the flow-matching preset by flow matching and sampled
with the same two Euler steps), scored as ``<student>-ml``.

Resumable: every model trains with checkpoints (``--checkpoint-every``); a run that is stopped
and started again with ``--resume`` continues each unfinished model from its last checkpoint
and reuses every finished seed's result. The CPU time of a model is summed over its processes
(recorded at every checkpoint). ``--artifacts DIR`` copies the first seed's model of every family
(weights + ``model.json``, with the command and seed in ``run.json``) to ``DIR/<label>/``.

Everything is configurable down to a smoke scale; a run's label is printed on every table, and a
``--smoke`` run is headed as such (it proves the script, its numbers are not results):

    python benchmarks/bench_pareto.py --train T.h5 --reference R.h5 --steps 3000 --seeds 3 \\
        --label 50GeV-10k
    python benchmarks/bench_pareto.py --train T.h5 --reference R.h5 --n-train 1000 \\
        --n-reference 500 --steps 20 --seeds 3 --batches 1 1000 --smoke --label smoke

The headline setting (atlas-em-barrel photons at 50 GeV, all eight configurations):

    python benchmarks/bench_pareto.py --train T.h5 --reference R.h5 \
        --families flow wgan-gp gan-ecritic vae flow-matching --distil flow --ml-student \
        --seeds 3 --steps 2000 --student-steps 6000 \
        --train-overrides "$(cat benchmarks/configs/pareto_flow_overrides.json)" \
        --mc 10 --resume --artifacts benchmarks/artifacts --label headline15keV-50GeV

(the flow models' ``[train]`` keys from ``benchmarks/configs/pareto_flow_overrides.json``; the
GANs and the VAE keep the command line's ``--lr 5e-4 --batch-size 128``).

Writes ``benchmarks/results/pareto_<label>.json``, ``.md`` and (matplotlib) ``.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_models import headline, load_many, response

from caloforge.bench.timing import time_call
from caloforge.evaluation import evaluate
from caloforge.export import export_onnx
from caloforge.generation import generate
from caloforge.generation.backend import Backend
from caloforge.generation.onnxruntime import OnnxBackend
from caloforge.generation.torch_backend import TorchBackend
from caloforge.io import read_showers, write_showers
from caloforge.models import load_model
from caloforge.models.hparams import from_mapping, to_mapping
from caloforge.models.registry import family_names, get_family
from caloforge.provenance import machine_description
from caloforge.showerset import ShowerSet
from caloforge.training import RunConfig, TrainConfig, train

RESULTS = Path(__file__).parent / "results"
WORK = Path(__file__).parent / "data" / "runs"


#: the distilled student of each family that has one: its name in the tables and its preset
#: (the ``--ml-student`` of a family, ``<student>-ml``, is the preset trained on the data)
STUDENTS = {"flow": "flow-student", "flow-matching": "flow-matching-reflow"}


def student_preset(family: str) -> Any:
    """The model configuration of ``family``'s student (``teacher`` left to set)."""
    if family == "flow":
        from caloforge.models.flow import STUDENT

        return STUDENT
    from caloforge.models.flow_matching import REFLOW_STUDENT

    return REFLOW_STUDENT


def run_config(
    family: str,
    args: argparse.Namespace,
    seed: int,
    teacher: Path | None = None,
    ml_student: bool = False,
) -> RunConfig:
    """The run of ``family`` (with ``teacher``: its distilled student; with ``ml_student``: the
    student's architecture trained by maximum likelihood on the data) for ``seed``: the
    family's defaults (a student: its preset) with ``--model`` and ``--train-overrides``."""
    student = teacher is not None or ml_student
    key = family if not student else STUDENTS[family] + ("-ml" if ml_student else "")
    model: Any = student_preset(family) if student else get_family(family).Config()
    over = json.loads(args.model).get(key, {}) if args.model else {}
    if teacher is not None:
        over = {**over, "teacher": str(teacher)}
    if over:
        model = from_mapping(type(model), {**to_mapping(model), **over}, f"--model[{key}]")
    train_over = json.loads(args.train_overrides).get(key, {}) if args.train_overrides else {}
    steps = args.student_steps if student else args.steps
    fields: dict[str, Any] = {
        "steps": steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "lr_schedule": args.lr_schedule,
        "ema_decay": args.ema_decay,
    } | train_over
    steps = fields["steps"]
    train_cfg = TrainConfig(
        **fields,
        threads=args.threads,
        seed=seed,
        progress=False,
        validate_every=min(args.checkpoint_every, steps),
        checkpoint_every=min(args.checkpoint_every, steps),
        log_every=50,
    )
    return RunConfig(family=family, train=train_cfg, model=model)


def write_unless_same(path: Path, showers: ShowerSet) -> None:
    """Write ``showers`` to ``path`` unless it holds them already: seed lanes run in parallel
    share the label's reference file, and a second writer would find it locked."""
    if path.exists():
        old = read_showers(path)
        if (
            old.particle == showers.particle
            and np.array_equal(old.incident_energy, showers.incident_energy)
            and np.array_equal(old.cells, showers.cells)
            and old.conditions.keys() == showers.conditions.keys()
            and all(np.array_equal(old.conditions[k], v) for k, v in showers.conditions.items())
        ):
            return
    write_showers(path, showers, overwrite=True)


def fidelity(ref: ShowerSet, cand: ShowerSet, label: str, seed: int) -> dict[str, Any]:
    """bench_models' headline metrics plus the three worst separation powers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate(ref, [cand], labels=[label], per_config=False, seed=seed)
    out = headline(result, label)
    observables = result["candidates"][label]["observables"]
    worst = sorted(observables.items(), key=lambda kv: -kv[1]["separation"])[:3]
    out["worst_separation"] = [[k, v["separation"]] for k, v in worst]
    out.pop("flagged", None)
    return out


def export_for_timing(model_dir: Path, onnx_path: Path) -> str | None:
    """Export ``model_dir``; a failed parity check is recorded (the message) and the model is
    exported unchecked, so that its speed is still measured."""
    try:
        export_onnx(model_dir, onnx_path, overwrite=True)
        return None
    except ValueError as exc:
        export_onnx(model_dir, onnx_path, overwrite=True, check=False)
        return str(exc).split(": ", 1)[-1]


def generation_times(model_dir: Path, args: argparse.Namespace, work: Path) -> list[dict]:
    """Median microseconds per shower, torch and ONNX Runtime, per batch and thread count."""
    art = load_model(model_dir)
    gen = art.generator.eval()
    onnx_path = work / f"{model_dir.name}.onnx"
    parity_failure = export_for_timing(model_dir, onnx_path)
    config = 0 if art.encoding.uses_config else None
    rows = []
    before = torch.get_num_threads()
    try:
        for threads in args.gen_threads:
            torch.set_num_threads(threads)
            backends: list[Backend] = [
                TorchBackend(gen, "cpu"),
                OnnxBackend(onnx_path, threads=threads),
            ]
            for batch in args.batches:
                for backend in backends:
                    noise = np.random.default_rng(0).standard_normal(
                        (batch, backend.noise_dim), np.float32
                    )
                    c = None if config is None else np.full(batch, config, dtype=np.int64)
                    cond = backend.encode_conditions(np.full(batch, args.energy_mev), c)
                    t = time_call(backend.timer(noise, cond), batch, budget_s=args.time_budget)
                    rows.append(
                        {
                            "backend": backend.name,
                            "threads": threads,
                            "batch": batch,
                            "us_per_shower": 1e6 * t.per_shower_s,
                            "repeats": t.repeats,
                            "onnx_parity_failure": parity_failure,
                        }
                    )
    finally:
        torch.set_num_threads(before)
    return rows


def train_resumably(
    run: RunConfig, train_set: ShowerSet, out: Path, resume: bool
) -> tuple[Any, float, float]:
    """Train ``run`` into ``out`` (continuing from its last checkpoint with ``resume``); returns
    the result and the CPU and wall seconds summed over every process that trained it (kept in
    ``out/../<name>.time.json``, updated at every validation)."""
    clock = out.parent / f"{out.name}.time.json"
    start = (out / "checkpoints" / "last.safetensors").is_file() and resume
    if not start:
        shutil.rmtree(out, ignore_errors=True)
        clock.unlink(missing_ok=True)
    before = json.loads(clock.read_text()) if clock.is_file() else {"cpu": 0.0, "wall": 0.0}
    cpu0, wall0 = time.process_time(), time.perf_counter()

    def spent() -> dict[str, float]:
        return {
            "cpu": before["cpu"] + time.process_time() - cpu0,
            "wall": before["wall"] + time.perf_counter() - wall0,
        }

    def on_validation(step: int, metrics: dict[str, float]) -> None:
        clock.write_text(json.dumps(spent() | {"step": step}) + "\n")

    (result,) = train(train_set, config=run, out_dir=out, resume=start, on_validation=on_validation)
    total = spent()
    clock.write_text(json.dumps(total | {"step": result.steps}) + "\n")
    return result, total["cpu"], total["wall"]


def _teacher_state(run: RunConfig) -> str | None:
    """A student's teacher as ``folder@modification time`` of its weights (None: no teacher)."""
    teacher = getattr(run.model, "teacher", "")
    if not teacher:
        return None
    weights = Path(teacher) / "weights.safetensors"
    return f"{teacher}@{weights.stat().st_mtime_ns}"


def one_seed(
    name: str,
    run: RunConfig,
    seed: int,
    train_set: ShowerSet,
    ref: ShowerSet,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Train (or resume, or reuse) model ``name`` for ``seed`` and score it."""
    work = WORK / f"pareto_{args.label}"
    out = work / f"{name}_seed{seed}"
    cached = work / f"{name}_seed{seed}.json"
    if (args.reuse or args.resume) and cached.is_file():
        done: dict[str, Any] = json.loads(cached.read_text())
        if done["steps"] == run.train.steps and done.get("teacher") == _teacher_state(run):
            return done
        # asked for more (or fewer) steps, or its teacher has changed: train on from the
        # checkpoint (a student whose teacher changed starts again)
        if done.get("teacher") != _teacher_state(run):
            shutil.rmtree(out, ignore_errors=True)
    result, cpu, wall = train_resumably(run, train_set, out, args.resume)
    gen_path = generate(
        out,
        work / f"gen_{name}_seed{seed}.h5",
        like=args.ref_path,
        seed=seed + 1000,
        overwrite=True,
    )
    cand = read_showers(gen_path)
    info: dict[str, Any] = {
        "family": name,
        "seed": seed,
        "model_dir": str(out),
        "steps": result.steps,
        "train_cpu_seconds": cpu,
        "train_wall_seconds": wall,
        "generator_parameters": sum(p.numel() for p in load_model(out).generator.parameters()),
        "teacher": _teacher_state(run),
        "metrics": fidelity(ref, cand, name, seed=0),
        "response": response(cand),
    }
    print(json.dumps({k: info[k] for k in ("family", "seed", "train_cpu_seconds")}), flush=True)
    cached.write_text(json.dumps(info, indent=1) + "\n")
    return info


def timings(models: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    """µs per shower of every model (torch and ONNX Runtime, each batch and thread count), in
    one run with the cascade MC (``--mc`` showers) through the bench harness; a model whose
    export misses the parity check is timed unchecked by :func:`generation_times`."""
    from caloforge.bench.harness import BenchConfig, run_bench

    work = WORK / f"pareto_{args.label}"
    checked, rows = {}, {}
    for name, model_dir in models.items():
        if export_for_timing(model_dir, work / f"{model_dir.name}.onnx") is None:
            checked[name] = model_dir
        else:
            rows[name] = generation_times(model_dir, args, work)
    cfg = BenchConfig(
        energy_mev=args.energy_mev,
        batch_sizes=tuple(args.batches),
        threads=tuple(args.gen_threads),
        engines=("cascade",) if args.mc > 0 else (),
        n_mc=max(args.mc, 1),
        budget_s=args.time_budget,
        gpu=False,
    )
    bench = run_bench(cfg, list(checked.values())) if checked or args.mc > 0 else {"rows": []}
    for name, model_dir in checked.items():
        label = f"{load_model(model_dir).family} ({model_dir.name})"
        rows[name] = [
            {
                "backend": "torch" if r["backend"] == "torch-eager" else r["backend"],
                "threads": r["threads"],
                "batch": r["batch"],
                "us_per_shower": 1e6 * r["per_shower_s"],
                "onnx_parity_failure": None,
            }
            for r in bench["rows"]
            if r["what"] == label
        ]
    cascade = [
        {"threads": r["threads"], "us_per_shower": 1e6 * r["per_shower_s"]}
        for r in bench["rows"]
        if r["what"] == "cascade" and r["batch"] == max(args.batches)
    ]
    return {"models": rows, "cascade": cascade, "limits": bench.get("limits", {})}


def copy_artifact(name: str, run_info: dict[str, Any], doc: dict[str, Any], dest: Path) -> Path:
    """The model folder of ``run_info`` (weights + model.json) to ``dest/<name>_seed<k>/``, with
    ``run.json``: the command, seed, steps, CPU time and the scores of this benchmark."""
    src = Path(run_info["model_dir"])
    out = dest / f"{name}_seed{run_info['seed']}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for f in ("model.json", "weights.safetensors"):
        shutil.copy2(src / f, out / f)
    if (src / "train_config.toml").is_file():
        shutil.copy2(src / "train_config.toml", out / "train_config.toml")
    meta = {
        "benchmark": f"bench_pareto {doc['label']}",
        "command": doc["command"],
        "seed": run_info["seed"],
        "steps": run_info["steps"],
        "train_cpu_seconds": run_info["train_cpu_seconds"],
        "train_file": doc["train_files"],
        "auc_low_level": run_info["metrics"]["auc_low_level"],
        "auc_high_level": run_info["metrics"]["auc_high_level"],
    }
    (out / "run.json").write_text(json.dumps(meta, indent=1) + "\n")
    return out


def _scalars(run: dict[str, Any]) -> dict[str, float]:
    m = run["metrics"]
    return {
        "auc_low": m["auc_low_level"]["auc"],
        "auc_low_err": m["auc_low_level"]["error"],
        "auc_high": m["auc_high_level"]["auc"],
        "auc_high_err": m["auc_high_level"]["error"],
        "fpd": m["fpd"]["value"],
        "kpd": m["kpd"]["value"],
        "sep_max": m["separation_max_all_observables"],
        "mean_response": run["response"]["mean_ratio"][0],
        "sigma_over_e": run["response"]["resolution"][0],
        "train_cpu_seconds": run["train_cpu_seconds"],
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation (ddof 1; 0 for one seed) of every scalar over the seeds."""
    table = [_scalars(r) for r in runs]
    return {key: _spread(np.array([t[key] for t in table])) for key in table[0]}


def _spread(v: np.ndarray) -> dict[str, float]:
    """Mean and standard deviation (ddof 1; 0 for one value)."""
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Families not dominated in (time, AUC low), both lower is better."""
    front = []
    for name, (t, a) in points.items():
        dominated = any(
            (t2 <= t and a2 <= a) and (t2 < t or a2 < a)
            for other, (t2, a2) in points.items()
            if other != name
        )
        if not dominated:
            front.append(name)
    return front


def markdown(doc: dict[str, Any]) -> str:
    smoke = doc["smoke"]
    lines = [f"# Pareto benchmark `{doc['label']}`", ""]
    if smoke:
        lines += [
            "**SMOKE RUN at a tiny scale: it proves that the script runs end to end. These "
            "numbers are not results** (tiny training, tiny samples, a loaded machine).",
            "",
        ]
    lines += [
        f"`{doc['command']}`",
        "",
        f"Machine: {doc['machine']}; torch {doc['torch']}, training on {doc['torch_threads']} "
        f"thread(s); load average at end {', '.join(f'{x:.1f}' for x in doc['load_average_1_5_15min_at_end'])}; "
        f"{doc['finished']}.",
        "",
        f"Data: training {doc['n_train']} showers ({doc['train_files']}), independent reference "
        f"{doc['n_reference']} ({doc['reference_file']}); {doc['seeds']} seed(s) per family, "
        f"{doc['steps']} steps each (students: {doc.get('student_steps')}). Mean ± standard deviation over the seeds; AUC errors are "
        "the classifier's own (mean over seeds).",
        "",
        "| family | params | AUC low | AUC high | FPD | KPD | max S | worst S (seed 0) | "
        "mean E/E_inc | σ/E | train CPU [s] |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def pm(s: dict[str, float], nd: int = 3) -> str:
        return f"{s['mean']:.{nd}f} ± {s['std']:.{nd}f}"

    for fam, body in doc["families"].items():
        s = body["summary"]
        first = body["runs"][0]
        worst = ", ".join(f"{k} {v:.2f}" for k, v in first["metrics"]["worst_separation"])
        lines.append(
            f"| {fam} | {first['generator_parameters']:,} | {pm(s['auc_low'])} "
            f"(±{s['auc_low_err']['mean']:.3f}) | {pm(s['auc_high'])} (±{s['auc_high_err']['mean']:.3f}) | "
            f"{pm(s['fpd'], 4)} | {pm(s['kpd'], 5)} | {pm(s['sep_max'])} | {worst} | "
            f"{pm(s['mean_response'], 4)} | {pm(s['sigma_over_e'], 4)} | {pm(s['train_cpu_seconds'], 0)} |"
        )
    fl = doc["floor"]
    rr = doc["response_reference"]
    lines.append(
        f"| training data (floor) | - | {fl['auc_low_level']['auc']:.3f} (±{fl['auc_low_level']['error']:.3f}) | "
        f"{fl['auc_high_level']['auc']:.3f} (±{fl['auc_high_level']['error']:.3f}) | "
        f"{fl['fpd']['value']:.4f} | {fl['kpd']['value']:.5f} | {fl['separation_max_all_observables']:.3f} | - | "
        f"{rr['mean_ratio'][0]:.4f} (reference) | {rr['resolution'][0]:.4f} (reference) | - |"
    )
    lines += response_table(doc)
    lines += [
        "",
        "Generation time, µs per shower (median; first seed's model; the cascade MC's time "
        "per shower is the same at every batch size):",
        "",
    ]
    keys = sorted(
        {
            (g["backend"], g["batch"], g["threads"])
            for b in doc["families"].values()
            for g in b["generation"]
        }
    )
    lines.append("| family | " + " | ".join(f"{b} n={n} t={t}" for b, n, t in keys) + " |")
    lines.append("|---|" + "---|" * len(keys))
    for fam, body in doc["families"].items():
        by = {
            (g["backend"], g["batch"], g["threads"]): g["us_per_shower"] for g in body["generation"]
        }
        lines.append(f"| {fam} | " + " | ".join(f"{by[k]:.1f}" for k in keys) + " |")
    mc = {row["threads"]: row["us_per_shower"] for row in doc.get("cascade_timing", [])}
    if mc:
        cells = [f"{mc[t]:.1f}" if t in mc else "-" for _, _, t in keys]
        lines.append("| cascade MC (same run) | " + " | ".join(cells) + " |")
    failures = {
        fam: next(
            (g["onnx_parity_failure"] for g in body["generation"] if g["onnx_parity_failure"]), None
        )
        for fam, body in doc["families"].items()
    }
    for fam, msg in failures.items():
        if msg:
            lines += [
                "",
                f"**{fam}: the ONNX export failed its parity check** ({msg}); timed unchecked.",
            ]
    lines += [
        "",
        f"Pareto front in (µs per shower with {doc['pareto_axis']}, mean AUC low): "
        f"{', '.join(doc['pareto_front'])}.",
        "",
    ]
    if doc.get("artifacts"):
        lines += ["Artifacts (first seed, with `run.json`: command, seed, steps, CPU time):", ""]
        lines += [f"- {fam}: `{path}`" for fam, path in doc["artifacts"].items()]
        lines.append("")
    return "\n".join(lines)


def response_table(doc: dict[str, Any]) -> list[str]:
    """Mean response and σ/E per incident-energy point or log bin (the main table shows the
    first one only), each family's mean ± std over the seeds beside the reference's; no lines
    for a single energy."""
    rr = doc["response_reference"]
    if len(rr["e_inc_gev"]) < 2:
        return []
    fams = list(doc["families"])
    lines = [
        "",
        "Response per incident-energy bin (E_tot/E_inc per shower; mean and σ/E; families: mean "
        "± std over the seeds; the main table's columns are the first bin):",
        "",
        "| E_inc [GeV] | n ref | reference | " + " | ".join(fams) + " |",
        "|---|---|---|" + "---|" * len(fams),
    ]
    for k, e in enumerate(rr["e_inc_gev"]):
        cells = []
        for fam in fams:
            runs = [r["response"] for r in doc["families"][fam]["runs"]]
            mean = _spread(np.array([r["mean_ratio"][k] for r in runs]))
            res = _spread(np.array([r["resolution"][k] for r in runs]))
            cells.append(
                f"{mean['mean']:.4f} ± {mean['std']:.4f}, {res['mean']:.4f} ± {res['std']:.4f}"
            )
        lines.append(
            f"| {e:.2f} | {rr['n'][k]} | {rr['mean_ratio'][k]:.4f}, {rr['resolution'][k]:.4f} | "
            + " | ".join(cells)
            + " |"
        )
    return lines


def figure(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for fam, body in doc["families"].items():
        s = body["summary"]
        t = body["pareto_time_us"]
        ax.errorbar(t, s["auc_low"]["mean"], yerr=s["auc_low"]["std"], fmt="o", label=fam)
    ax.axhline(doc["floor"]["auc_low_level"]["auc"], color="grey", ls="--", label="floor")
    ax.set_xscale("log")
    ax.set_xlabel(f"µs per shower ({doc['pareto_axis']})")
    ax.set_ylabel("AUC low level (mean ± std over seeds)")
    title = doc["label"] + (" (SMOKE RUN, not a result)" if doc["smoke"] else "")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=Path, nargs="+", required=True)
    p.add_argument(
        "--reference", type=Path, nargs="+", required=True, help="one file, or its parts in order"
    )
    p.add_argument("--families", nargs="+", default=None, help="default: every registered one")
    p.add_argument(
        "--distil", nargs="*", default=[], choices=sorted(STUDENTS), help="families to distil"
    )
    p.add_argument(
        "--ml-student",
        action="store_true",
        help="also train each --distil student's architecture by maximum likelihood (no "
        "teacher), scored as '<student>-ml'",
    )
    p.add_argument("--n-train", type=int, default=None, help="first N training showers")
    p.add_argument("--n-reference", type=int, default=None, help="first N reference showers")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--student-steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--lr-schedule", default="constant")
    p.add_argument("--ema-decay", type=float, default=0.0)
    p.add_argument("--model", default="", help='JSON {"family": {hyper-parameter: value}}')
    p.add_argument(
        "--train-overrides", default="", help='JSON {"family": {[train] key: value}}, per family'
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads while training")
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 10000])
    p.add_argument("--gen-threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--time-budget", type=float, default=2.0, help="seconds per timing")
    p.add_argument("--mc", type=int, default=10, help="cascade MC showers timed (0: none)")
    p.add_argument("--energy-mev", type=float, default=5e4, help="energy of the timed showers")
    p.add_argument("--artifacts", type=Path, default=None, help="copy first-seed models here")
    p.add_argument("--smoke", action="store_true", help="label the run a smoke test")
    p.add_argument(
        "--reuse", action="store_true", help="reuse the per-seed results of an earlier run"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue unfinished models from their checkpoints, reuse finished ones",
    )
    p.add_argument("--label", required=True)
    args = p.parse_args()

    train_set = load_many(args.train)
    if args.n_train:
        train_set = train_set[np.arange(min(args.n_train, len(train_set)))]
    ref = load_many(args.reference)
    work = WORK / f"pareto_{args.label}"
    work.mkdir(parents=True, exist_ok=True)
    if args.n_reference:
        ref = ref[np.arange(min(args.n_reference, len(ref)))]
    args.ref_path = work / "reference.h5"
    write_unless_same(args.ref_path, ref)
    families = args.families or family_names()
    missing = [f for f in args.distil if f not in families]
    if missing:
        p.error(f"--distil {' '.join(missing)}: train the teacher family too (--families)")
    doc: dict[str, Any] = {
        "benchmark": "bench_pareto",
        "label": args.label,
        "smoke": args.smoke,
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_description(),
        "torch": torch.__version__,
        "torch_threads": args.threads,
        "n_train": len(train_set),
        "n_reference": len(ref),
        "train_files": ", ".join(str(t) for t in args.train),
        "reference_file": ", ".join(str(r) for r in args.reference),
        "seeds": args.seeds,
        "steps": args.steps,
        "student_steps": args.student_steps if args.distil else None,
        "families": {},
    }
    for fam in families:
        runs = []
        for seed in range(args.seed, args.seed + args.seeds):
            runs.append(one_seed(fam, run_config(fam, args, seed), seed, train_set, ref, args))
        doc["families"][fam] = {"runs": runs, "summary": summarise(runs)}
        if fam in args.distil:
            name = STUDENTS[fam]
            students = [
                one_seed(
                    name,
                    run_config(fam, args, r["seed"], teacher=Path(r["model_dir"])),
                    r["seed"],
                    train_set,
                    ref,
                    args,
                )
                for r in runs
            ]
            doc["families"][name] = {"runs": students, "summary": summarise(students)}
            if args.ml_student:
                ml = [
                    one_seed(
                        name + "-ml",
                        run_config(fam, args, r["seed"], ml_student=True),
                        r["seed"],
                        train_set,
                        ref,
                        args,
                    )
                    for r in runs
                ]
                doc["families"][name + "-ml"] = {"runs": ml, "summary": summarise(ml)}
    timed = timings({k: Path(v["runs"][0]["model_dir"]) for k, v in doc["families"].items()}, args)
    for fam, body in doc["families"].items():
        body["generation"] = timed["models"][fam]
    doc["cascade_timing"] = timed["cascade"]
    doc["machine_limits"] = timed["limits"]
    floor_set = train_set[np.arange(min(len(train_set), len(ref)))]
    doc["floor"] = fidelity(ref, floor_set, "training_data", seed=0)
    doc["response_reference"] = response(ref)
    # the Pareto axis: ONNX Runtime at the largest batch and the most threads
    axis = ("onnxruntime", max(args.batches), max(args.gen_threads))
    doc["pareto_axis"] = f"ONNX Runtime, batch {axis[1]}, {axis[2]} thread(s)"
    points = {}
    for fam, body in doc["families"].items():
        t = next(
            g["us_per_shower"]
            for g in body["generation"]
            if (g["backend"], g["batch"], g["threads"]) == axis
        )
        body["pareto_time_us"] = t
        points[fam] = (t, body["summary"]["auc_low"]["mean"])
    doc["pareto_front"] = pareto_front(points)
    doc["load_average_1_5_15min_at_end"] = list(os.getloadavg())
    doc["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if args.artifacts is not None:
        dest = args.artifacts / args.label
        doc["artifacts"] = {
            fam: str(copy_artifact(fam, body["runs"][0], doc, dest))
            for fam, body in doc["families"].items()
        }
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"pareto_{args.label}"
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    stem.with_suffix(".md").write_text(markdown(doc))
    figure(doc, stem.with_suffix(".png"))
    print(stem.with_suffix(".md"))


if __name__ == "__main__":
    main()
