"""Benchmark: ``gan3d`` on a granular Si-W ECAL against independent cascade references.

Issue 20. Train ``gan3d`` with several seeds on cascade showers (``train``, one seed per
process, so that seeds may run side by side; resumable), then (``evaluate``) generate with the
reference's incident energies, and compare each model -- and the floor, a cascade sample
independent of the reference (the training data itself when it has the reference's energies)
-- with the reference through ``caloforge.evaluation``:
linearity and resolution (sigma/E) of the cell sum and of the MIP-weighted energy per energy
point, classifier AUCs on low-level (cells) and high-level observables, and the grid
observables (hit spectrum in MIP units and its MIP peak, hits above 0.5 MIP, centres of
gravity, profiles). Every number in the output is measured here.

    python benchmarks/bench_granular.py train --train T.h5 --work W --seed 0 --steps 300
    python benchmarks/bench_granular.py generate --reference R.h5 --work W --seed 0  # optional
    python benchmarks/bench_granular.py evaluate --reference R.h5 --floor F.h5 --work W \\
        --seeds 0 1 --label clic-ecal-electrons

Writes ``benchmarks/results/granular_<label>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from caloforge.evaluation import evaluate
from caloforge.evaluation.classifier import ClassifierConfig
from caloforge.evaluation.grid import compare_grid, compute_grid_observables
from caloforge.generation import generate
from caloforge.io import count_showers, read_showers
from caloforge.models import load_model
from caloforge.models.gan3d import GAN3DConfig
from caloforge.models.hparams import from_mapping, to_mapping
from caloforge.provenance import machine_description
from caloforge.training import RunConfig, TrainConfig, train

RESULTS = Path(__file__).parent / "results"
#: the acceptance bands of issue 20: |linearity ratio - 1|, |sigma/E ratio - 1|
LINEARITY_BAND, RESOLUTION_BAND = 0.02, 0.10


def cmd_train(args: argparse.Namespace) -> None:
    out = Path(args.work) / f"seed_{args.seed}"
    changes = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    run = RunConfig(
        family="gan3d",
        model=from_mapping(GAN3DConfig, changes, "--set"),
        train=TrainConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            threads=1,
            validate_every=args.validate_every or max(args.steps // 4, 1),
            checkpoint_every=max(args.steps // 10, 1),
            progress=False,
            lr_schedule=args.lr_schedule,
            ema_decay=args.ema_decay,
        ),
    )
    start, cpu0 = time.perf_counter(), time.process_time()
    (result,) = train(args.train, config=run, out_dir=out, resume=(out / "checkpoints").exists())
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    gen = load_model(out).generator
    info = {
        "seed": args.seed,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "lr_schedule": args.lr_schedule,
        "ema_decay": args.ema_decay,
        "model_changes": changes,
        "train_file": str(args.train),
        "train_sample": sample_info(args.train),
        "train_wall_seconds_this_process": wall,
        "train_cpu_seconds_this_process": cpu,
        "generator_parameters": sum(p.numel() for p in gen.parameters()),
        "final_validation": result.metrics.get("final", {}),
        "machine": machine_description(),
        "loaded": True,
    }
    (out / "bench_train.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: info[k] for k in ("seed", "train_wall_seconds_this_process")}))


def sample_info(path: str | Path) -> dict[str, Any]:
    """Showers in a file and the cascade transport version that made them (None: not the
    cascade MC, or a file from before versions were recorded)."""
    head = read_showers(path, stop=0)
    return {
        "file": str(path),
        "n_showers": count_showers(path),
        "engine": head.attrs.get("engine"),
        "transport_version": head.attrs.get("transport_version"),
    }


def _ratios(cand: dict[str, list[float]], ref: dict[str, list[float]]) -> dict[str, Any]:
    e = [x for x in cand["e_inc_mev"] if x in ref["e_inc_mev"]]
    rows = []
    for x in e:
        i, j = ref["e_inc_mev"].index(x), cand["e_inc_mev"].index(x)
        lin = cand["linearity"][j] / ref["linearity"][i]
        lin_err = lin * np.hypot(
            cand["linearity_err"][j] / cand["linearity"][j],
            ref["linearity_err"][i] / ref["linearity"][i],
        )
        row = {
            "e_inc_gev": x / 1e3,
            "linearity_ratio": lin,
            "linearity_ratio_err": float(lin_err),
        }
        # the r.m.s. resolution and the effective one (the core's: a leakage tail moves the
        # r.m.s. of a few hundred showers by more than the band)
        for key in ("resolution", "resolution_eff"):
            ratio = cand[key][j] / ref[key][i]
            err = ratio * np.hypot(
                cand[f"{key}_err"][j] / cand[key][j], ref[f"{key}_err"][i] / ref[key][i]
            )
            row[f"{key}_ratio"], row[f"{key}_ratio_err"] = ratio, float(err)
        rows.append(row)
    worst_lin = max(abs(r["linearity_ratio"] - 1) for r in rows)
    worst_res = max(abs(r["resolution_ratio"] - 1) for r in rows)
    worst_eff = max(abs(r["resolution_eff_ratio"] - 1) for r in rows)
    return {
        "points": rows,
        "max_abs_linearity_deviation": worst_lin,
        "max_abs_resolution_deviation": worst_res,
        "max_abs_resolution_eff_deviation": worst_eff,
        "linearity_within_band": worst_lin <= LINEARITY_BAND,
        "resolution_within_band": worst_res <= RESOLUTION_BAND,
        "resolution_eff_within_band": worst_eff <= RESOLUTION_BAND,
    }


def _model_dir(work: Path, seed: int, checkpoint: str) -> Path:
    """Seed ``seed``'s model: its final weights or (``best``) the trainer's best-validation
    checkpoint (selected on the training file's validation split, never on the reference)."""
    run = work / f"seed_{seed}"
    return run / "best" if checkpoint == "best" else run


def _generate(work: Path, reference: str, seed: int, checkpoint: str = "final") -> Path:
    """Generate seed ``seed``'s model with the reference's conditions (once: the file and its
    timing are kept in ``work``)."""
    tag = "" if checkpoint == "final" else f"_{checkpoint}"
    out = work / f"generated_seed_{seed}{tag}.h5"
    timing = work / f"generated_seed_{seed}{tag}.json"
    if not (out.exists() and timing.exists()):
        start = time.perf_counter()
        generate(
            _model_dir(work, seed, checkpoint),
            out,
            like=reference,
            seed=1000 + seed,
            overwrite=True,
            threads=1,
        )
        wall = time.perf_counter() - start
        timing.write_text(json.dumps({"generate_wall_seconds": wall}) + "\n")
    return out


def cmd_generate(args: argparse.Namespace) -> None:
    print(_generate(Path(args.work), args.reference, args.seed))


def cmd_evaluate(args: argparse.Namespace) -> None:
    work = Path(args.work)
    candidates: dict[str, Path] = {}
    models: dict[str, Any] = {}
    for seed in args.seeds:
        model = work / f"seed_{seed}"
        out = _generate(work, args.reference, seed, args.checkpoint)
        gen_wall = json.loads(out.with_suffix(".json").read_text())["generate_wall_seconds"]
        train_info = json.loads((model / "bench_train.json").read_text())
        log = (model / "log.csv").read_text().splitlines()
        label = f"gan3d seed {seed}"
        if args.checkpoint == "best":
            chosen = json.loads((model / "best" / "model.json").read_text())["metrics"]
            label += f" (best: step {chosen['step']})"
            train_info = train_info | {"checkpoint": "best", "checkpoint_metrics": chosen}
        models[label] = train_info | {
            "generate_wall_seconds": gen_wall,
            "log_rows": len(log) - 1,
            "model_changes": _saved_changes(model),
        }
        candidates[label] = out
    train_files = {Path(m["train_file"]).resolve() for m in models.values()}
    floor_label = args.floor_label or (
        "floor: training data"
        if Path(args.floor).resolve() in train_files
        else "floor: independent cascade sample"
    )
    candidates[floor_label] = Path(args.floor)
    labels = list(candidates)
    classifier = ClassifierConfig(hidden=tuple(args.cls_hidden), max_epochs=args.cls_epochs)
    result = evaluate(
        args.reference,
        [str(p) for p in candidates.values()],
        labels=labels,
        seed=0,
        out_dir=work / ("report" if args.checkpoint == "final" else f"report_{args.checkpoint}"),
        n_bootstrap=10,
        lowlevel_rows=args.lowlevel_rows,
        classifier_config=classifier,
        max_histograms=20,
    )
    ref_grid = compute_grid_observables(args.reference, name="reference")
    grid = compare_grid(
        ref_grid, {lab: compute_grid_observables(p, name=lab) for lab, p in candidates.items()}
    )
    body: dict[str, Any] = {"models": models, "candidates": {}}
    ref_resp = result["reference"]["response"]
    ref_mip = grid["reference"]["response_mip_weighted"]
    for lab in labels:
        c = result["candidates"][lab]
        g = grid["candidates"][lab]
        body["candidates"][lab] = {
            "n_showers": c["n_showers"],
            "auc_low_level": c["classifier"]["low_level"],
            "auc_high_level": c["classifier"]["high_level"],
            "response_cell_sum": _ratios(c["response"], ref_resp),
            "response_mip_weighted": _ratios(g["response_mip_weighted"], ref_mip),
            "mip_peak": g["mip_peak"],
            "mip_peak_ratio": g["mip_peak_ratio"],
            "grid_separation": {k: v["separation"] for k, v in g["observables"].items()},
            "hit_spectrum_separation": g["spectrum_separation"],
            "fpd": c["fpd"],
        }
    body["samples"] = {
        "reference": sample_info(args.reference),
        "floor": sample_info(args.floor),
        "training": sorted({m["train_file"] for m in models.values()}),
        "training_samples": [m.get("train_sample") for m in models.values()],
    }
    body["reference"] = {
        "file": str(args.reference),
        "n_showers": result["reference"]["n_showers"],
        "mip_peak": grid["reference"]["mip_peak"],
        "response_cell_sum": ref_resp,
        "response_mip_weighted": ref_mip,
    }
    doc = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": machine_description(),
        "loaded": True,
        "classifier": {
            "hidden": args.cls_hidden,
            "max_epochs": args.cls_epochs,
            "lowlevel_rows": args.lowlevel_rows,
        },
        "bands": {"linearity": LINEARITY_BAND, "resolution": RESOLUTION_BAND},
        **body,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"granular_{args.label}.json"
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, default=float) + "\n")
    (RESULTS / f"granular_{args.label}.md").write_text(markdown(doc))
    print(path)


def _pm(d: dict[str, float]) -> str:
    return f"{d['auc']:.3f} ± {d['error']:.3f}"


def _samples_lines(doc: dict[str, Any]) -> list[str]:
    """Sample sizes and the cascade transport version of every simulated sample."""
    samples = doc.get("samples")
    if samples is None:
        return ["Sample sizes and transport versions: not recorded (a run before they were)."]

    def one(info: dict[str, Any] | None) -> str:
        if not info:
            return "not recorded"
        version = info.get("transport_version")
        made = f"cascade transport version {version}" if version else "transport version unknown"
        return f"{info['n_showers']} showers, {made}"

    ref, floor = samples["reference"], samples["floor"]
    train = [one(t) for t in samples.get("training_samples", [])]
    n_cand = {c["n_showers"] for c in doc["candidates"].values()}
    return [
        f"Samples: reference {one(ref)}; floor {one(floor)}; training "
        f"{'; '.join(sorted(set(train))) or 'not recorded'}; each generated sample "
        f"{', '.join(str(n) for n in sorted(n_cand))} showers at the reference's energies.",
    ]


def _cpu(seconds: float | None) -> str:
    """A training's process CPU time, or why there is none (runs before it was recorded)."""
    return "not recorded" if seconds is None else f"{seconds:.0f}"


def _changes(changes: dict[str, Any] | None) -> str:
    """``key=value`` of the hyper-parameters a model holds that differ from today's defaults
    (``-`` for none)."""
    if changes is None:
        return "not recorded"
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in changes.items()) or "-"


def _saved_changes(model: Path) -> dict[str, Any]:
    """The hyper-parameters saved with ``model`` that differ from today's gan3d defaults."""
    saved = json.loads((model / "model.json").read_text())["hyperparameters"]
    defaults = to_mapping(GAN3DConfig())
    return {k: v for k, v in saved.items() if k in defaults and defaults[k] != v}


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    cls = doc["classifier"]
    lines = [
        "# gan3d on a granular Si-W ECAL (issue 20)",
        "",
        f"Generated by `benchmarks/bench_granular.py` (`{doc['command']}`) on {m['cpu']}, "
        f"{m['cores']} cores, {m['time_utc']}; the machine was shared by other jobs (every "
        "timing is loaded).",
        "",
        f"Classifiers: hidden {cls['hidden']}, at most {cls['max_epochs']} epochs, "
        f"{cls['lowlevel_rows']} showers per sample for the low-level one (sized for the "
        "loaded CPU).",
        "",
        f"Reference: `{doc['reference']['file']}`, {doc['reference']['n_showers']} showers; "
        f"MIP peak of its hit spectrum {doc['reference']['mip_peak']:.3f} MIP. Bands: linearity "
        f"within {doc['bands']['linearity']:.0%}, sigma/E within {doc['bands']['resolution']:.0%} "
        "of the reference at every energy point.",
        "",
        *_samples_lines(doc),
        "",
        "## Models",
        "",
        "| model | changed from the defaults | steps | batch | lr (schedule, weight EMA) "
        "| generator params | train wall (s, loaded) | train CPU (s) | generate wall (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for lab, m in doc["models"].items():
        lines.append(
            f"| {lab} | {_changes(m.get('model_changes'))} | {m['steps']} | {m['batch_size']} "
            f"| {m['lr']} ({m.get('lr_schedule', 'constant')}, {m.get('ema_decay', 0.0) or 'none'}) | "
            f"{m['generator_parameters']} | {m['train_wall_seconds_this_process']:.0f} | "
            f"{_cpu(m.get('train_cpu_seconds_this_process'))} | "
            f"{m['generate_wall_seconds']:.1f} |"
        )
    lines += [
        "",
        "## Against the reference",
        "",
        "| candidate | AUC low-level | AUC high-level | max dev. linearity (sum / MIP-w.) | "
        "max dev. sigma/E (sum / MIP-w.) | max dev. sigma_eff/E (sum / MIP-w.) | MIP peak ratio "
        "| S(n_hits) | S(cog_z) | S(hit spectrum) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lab, c in doc["candidates"].items():
        rs, rm = c["response_cell_sum"], c["response_mip_weighted"]
        lines.append(
            f"| {lab} | {_pm(c['auc_low_level'])} | {_pm(c['auc_high_level'])} | "
            f"{rs['max_abs_linearity_deviation']:.2%} / {rm['max_abs_linearity_deviation']:.2%} | "
            f"{rs['max_abs_resolution_deviation']:.1%} / {rm['max_abs_resolution_deviation']:.1%} | "
            f"{rs['max_abs_resolution_eff_deviation']:.1%} / "
            f"{rm['max_abs_resolution_eff_deviation']:.1%} | "
            f"{c['mip_peak_ratio']:.3f} | {c['grid_separation']['n_hits']:.3f} | "
            f"{c['grid_separation']['cog_z']:.3f} | {c['hit_spectrum_separation']:.3f} |"
        )
    lines += [
        "",
        "Notes: the floor is the cascade sample given as `--floor` (see Samples; the training "
        "data when its label says so), independent of the reference, at its energies; its "
        "deviations are the statistical noise of "
        "these sample sizes. AUC errors: Hanley-McNeil, on the test quarter of the showers "
        "(an AUC below 0.5 by more than ~2 errors is not a possible outcome of a working "
        "classifier). MIP-w.: the MIP-weighted energy (sum of E_layer / f_mip). sigma: the "
        "r.m.s.; sigma_eff: half the shortest interval holding 68.3% of the showers (the "
        "core's Gaussian sigma; bootstrap errors).",
    ]
    for key, title in (
        ("response_cell_sum", "cell sum"),
        ("response_mip_weighted", "MIP-weighted energy"),
    ):
        lines += ["", f"## Per energy point ({title}: candidate / reference)", ""]
        lines += [
            "| candidate | E (GeV) | linearity ratio | sigma/E ratio | sigma_eff/E ratio |",
            "|---|---|---|---|---|",
        ]
        for lab, c in doc["candidates"].items():
            for p in c[key]["points"]:
                lines.append(
                    f"| {lab} | {p['e_inc_gev']:.0f} | {p['linearity_ratio']:.4f} ± "
                    f"{p['linearity_ratio_err']:.4f} | {p['resolution_ratio']:.3f} ± "
                    f"{p['resolution_ratio_err']:.3f} | {p['resolution_eff_ratio']:.3f} ± "
                    f"{p['resolution_eff_ratio_err']:.3f} |"
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--train", required=True)
    t.add_argument("--work", required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=300)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--lr-schedule", default="constant", help="train.lr_schedule")
    t.add_argument("--ema-decay", type=float, default=0.0, help="train.ema_decay")
    t.add_argument(
        "--validate-every", type=int, default=0, help="train.validate_every (0: steps / 4)"
    )
    t.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=JSON",
        help="gan3d hyper-parameters changed from the defaults, e.g. layer_flow=false",
    )
    g = sub.add_parser("generate")
    g.add_argument("--reference", required=True)
    g.add_argument("--work", required=True)
    g.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("evaluate")
    e.add_argument("--reference", required=True)
    e.add_argument("--floor", required=True)
    e.add_argument("--work", required=True)
    e.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    e.add_argument(
        "--floor-label",
        help="default: 'floor: training data' when --floor is a "
        "model's training file, else 'floor: independent cascade sample'",
    )
    e.add_argument("--label", default="clic-ecal-electrons")
    e.add_argument(
        "--checkpoint",
        choices=["final", "best"],
        default="final",
        help="the final weights or the trainer's best-validation checkpoint (best/)",
    )
    e.add_argument("--lowlevel-rows", type=int, default=600)
    e.add_argument("--cls-hidden", type=int, nargs="+", default=[64])
    e.add_argument("--cls-epochs", type=int, default=10)
    args = p.parse_args()
    {"train": cmd_train, "generate": cmd_generate, "evaluate": cmd_evaluate}[args.cmd](args)


if __name__ == "__main__":
    main()
