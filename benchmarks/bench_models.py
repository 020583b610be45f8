"""Benchmark: train the model families on the CPU and evaluate them against independent samples.

Subcommands (issue 5 acceptance figures; every number is measured by this script, never edited):

``alignment`` (i): one family on single-energy showers of all alignment configurations; generate
with ``--like`` the reference's conditions; classifier AUCs and separation powers against the
independent reference, mixed and per configuration, and the same for the training data itself
(the floor a perfect model would reach with these sample sizes).

    python benchmarks/bench_models.py alignment --train T.h5 --reference R.h5 \\
        --family wgan-gp --steps 3000 --label 50GeV

``interpolation`` (ii)+(iii): each family trained on a few energies only; generated at unseen
energies (``--reference`` files) and at the trained ones (compared with the training data);
mean response and resolution sigma/E per energy against the reference.

    python benchmarks/bench_models.py interpolation --train T.h5 --reference R25.h5 R50.h5 \\
        --families wgan-gp gan-ecritic --steps 3000 --label 16-32-65GeV

``seeds`` (iv): like ``alignment`` for ``--seeds K`` training seeds; mean, std, min, max of
every headline metric over the seeds.

Each run writes ``benchmarks/results/models_<sub>_<label>.json`` and regenerates
``benchmarks/results/models.md`` from every ``models_*.json`` present.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from caloforge.evaluation import classifier_auc, effective_sigma, evaluate
from caloforge.evaluation.response import energy_binning, energy_response
from caloforge.generation import generate
from caloforge.io import read_showers, write_showers
from caloforge.models import load_model
from caloforge.models.hparams import from_mapping, to_mapping
from caloforge.models.registry import get_family
from caloforge.provenance import machine_description
from caloforge.showerset import ShowerSet
from caloforge.training import RunConfig, TrainConfig, train

RESULTS = Path(__file__).parent / "results"
WORK = Path(__file__).parent / "data" / "runs"
HEADLINE_OBSERVABLES = ("e_ratio", "frac.presampler", "frac.strips", "frac.middle", "frac.back")


def headline_observables(observables: dict[str, Any]) -> list[str]:
    """The response and every readout layer's energy fraction, for any geometry (on
    atlas-em-barrel: :data:`HEADLINE_OBSERVABLES`)."""
    return [k for k in observables if k == "e_ratio" or k.startswith("frac.")]


# ---- helpers --------------------------------------------------------------------------------
def load_many(paths: list[Path]) -> ShowerSet:
    parts = [read_showers(p) for p in paths]
    return parts[0] if len(parts) == 1 else ShowerSet.concatenate(parts)


def run_config(family: str, args: argparse.Namespace, seed: int) -> RunConfig:
    model = get_family(family).Config()
    if args.model:
        over = json.loads(args.model)
        model = from_mapping(type(model), {**to_mapping(model), **over}, "--model")
    train_cfg = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        threads=args.threads,
        seed=seed,
        progress=False,
        validate_every=args.validate_every,
        checkpoint_every=args.steps,
        log_every=50,
    )
    return RunConfig(family=family, train=train_cfg, model=model)


def lowlevel(s: ShowerSet) -> np.ndarray:
    """Classifier inputs of DESIGN.md section 6: cells / E_inc and log10 E_inc."""
    e = s.incident_energy
    return np.concatenate([s.cells / e[:, None], np.log10(e)[:, None]], axis=1).astype(np.float32)


def response(s: ShowerSet, n_boot: int = 200) -> dict[str, list[float]]:
    """Per incident energy (point or log bin): n, mean E_tot/E_inc and sigma/mu of E_tot/E_inc (r.m.s.), as
    :func:`caloforge.evaluation.response.energy_response` computes them, plus the bootstrap
    error of sigma/mu (the response has a leakage tail, so the r.m.s. of ~1000 showers scatters
    by several per cent) and the effective sigma (half the shortest 68.3% interval) over the
    median."""
    binning = energy_binning(s.incident_energy)
    tot = s.cells.sum(axis=1, dtype=np.float64)
    ratio = tot / s.incident_energy
    r = energy_response(s.incident_energy, tot, binning)
    out: dict[str, list[float]] = {
        "e_inc_gev": [e / 1e3 for e in r["e_inc_mev"]],
        "n": r["n"],
        "mean_ratio": r["linearity"],
        "resolution": r["resolution"],
        "resolution_err": [],
        "resolution_eff": [],
    }
    point = binning.assign(s.incident_energy)
    rng = np.random.default_rng(0)
    for k in range(len(binning)):
        t = ratio[point == k]
        if len(t) < 2:  # energy_response skips these points too
            continue
        boot = t[rng.integers(0, len(t), (n_boot, len(t)))]
        out["resolution_err"].append(float((boot.std(axis=1, ddof=1) / boot.mean(axis=1)).std()))
        out["resolution_eff"].append(effective_sigma(t) / float(np.median(t)))
    return out


def headline(result: dict[str, Any], label: str) -> dict[str, Any]:
    c = result["candidates"][label]
    out: dict[str, Any] = {
        "n_reference": result["reference"]["n_showers"],
        "n_candidate": c["n_showers"],
        "separation_floor": c["separation_floor"],
        "separation": {
            k: c["observables"][k]["separation"] for k in headline_observables(c["observables"])
        },
        "separation_max_all_observables": max(v["separation"] for v in c["observables"].values()),
        "separation_mean_all_observables": float(
            np.mean([v["separation"] for v in c["observables"].values()])
        ),
        "cell_spectrum_separation": c["cell_spectrum"]["separation"],
        "flagged": c["flagged"],
        "fpd": c["fpd"],
        "kpd": c["kpd"],
    }
    if "classifier" in c:
        out["auc_low_level"] = c["classifier"]["low_level"]
        out["auc_high_level"] = c["classifier"]["high_level"]
    if "per_config" in c:
        out["per_config_separation"] = {
            cfg: {
                k: v["observables"][k]["separation"] for k in headline_observables(v["observables"])
            }
            for cfg, v in c["per_config"].items()
            if not v.get("skipped")
        }
    return out


def compare(ref: ShowerSet, cand: ShowerSet, label: str, *, per_config: bool, seed: int) -> dict:
    """Mixed metrics (evaluate) plus, per configuration, the low-level classifier AUC."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate(ref, [cand], labels=[label], per_config=per_config, seed=seed)
        out = headline(result, label)
        if per_config and ref.config is not None and cand.config is not None:
            auc = {}
            for cfg in np.unique(ref.config):
                a, b = ref[ref.config == cfg], cand[cand.config == cfg]
                value, err = classifier_auc(lowlevel(a), lowlevel(b), seed=seed)
                auc[str(int(cfg))] = {"auc": value, "error": err, "n_ref": len(a), "n_cand": len(b)}
            out["per_config_auc_low_level"] = auc
    return out


def fit_and_generate(
    train_set: ShowerSet,
    family: str,
    args: argparse.Namespace,
    seed: int,
    like: dict[str, Path],
    work: Path,
) -> tuple[dict[str, Any], dict[str, ShowerSet]]:
    run = run_config(family, args, seed)
    out = work / f"{family}_seed{seed}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    (result,) = train(train_set, config=run, out_dir=out)
    wall = time.perf_counter() - t0
    model_dir = out / "best" if args.use_best and (out / "best").is_dir() else out
    gens = {}
    for name, ref_path in like.items():
        # the reference's conditions, ``model_repeats`` times with independent noise
        parts = []
        for k in range(getattr(args, "model_repeats", 1)):
            path = generate(
                model_dir,
                work / f"gen_{family}_seed{seed}_{name}_{k}.h5",
                like=ref_path,
                seed=seed + 1000 + 100 * k,
                overwrite=True,  # the work folder is reused between runs
            )
            parts.append(read_showers(path))
        gens[name] = parts[0] if len(parts) == 1 else ShowerSet.concatenate(parts)
    info = {
        "family": family,
        "seed": seed,
        "hyperparameters": run.to_dict(),
        "steps": result.steps,
        "best_step": result.best_step,
        "used_artifact": "best" if model_dir != out else "final",
        "train_wall_seconds": wall,
        "seconds_per_step": wall / result.steps,
        "generator_parameters": sum(
            p.numel() for p in load_model(model_dir).generator.parameters()
        ),
    }
    return info, gens


def record(sub: str, args: argparse.Namespace, body: dict[str, Any]) -> Path:
    doc = {
        "benchmark": f"bench_models {sub}",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_description(),
        "torch": torch.__version__,
        "torch_threads": args.threads,
        "load_average_1_5_15min_at_end": list(os.getloadavg()),
        "note": args.note,
        **body,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"models_{sub}_{args.label}.json"
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    write_markdown()
    return path


# ---- subcommands ----------------------------------------------------------------------------
def cmd_alignment(args: argparse.Namespace) -> dict[str, Any]:
    train_set = load_many(args.train)
    ref = read_showers(args.reference)
    work = WORK / f"alignment_{args.label}"
    work.mkdir(parents=True, exist_ok=True)
    seeds = list(range(args.seed, args.seed + args.seeds))
    runs = []
    for seed in seeds:
        info, gens = fit_and_generate(
            train_set, args.family, args, seed, {"ref": args.reference}, work
        )
        t0 = time.perf_counter()
        info["metrics"] = compare(ref, gens["ref"], "model", per_config=True, seed=0)
        info["response_model"] = response(gens["ref"])
        info["eval_wall_seconds"] = time.perf_counter() - t0
        runs.append(info)
        print(json.dumps({k: info[k] for k in ("family", "seed", "train_wall_seconds")}))
    floor_set = train_set[np.arange(min(len(train_set), len(ref)))]
    floor = compare(ref, floor_set, "training_data", per_config=args.seeds == 1, seed=0)
    body = {
        "subcommand": "alignment",
        "n_train_file": len(train_set),
        "train_files": [str(p) for p in args.train],
        "reference_file": str(args.reference),
        "response_reference": response(ref),
        "runs": runs,
        "floor_training_data_vs_reference": floor,
    }
    if len(runs) > 1:
        body["seed_spread"] = seed_spread(runs)
    return body


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= _flat(v, key + ".")
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[key] = float(v)
    return out


def seed_spread(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    flats = [
        _flat(r["metrics"])
        | {"train_wall_seconds": r["train_wall_seconds"]}
        | {f"response.{k}": v[0] for k, v in r.get("response_model", {}).items()}
        for r in runs
    ]
    keys = [
        k
        for k in flats[0]
        if all(k in f for f in flats) and not k.endswith((".error", "n_ref", "n_cand"))
    ]
    spread = {}
    for k in keys:
        v = np.array([f[k] for f in flats])
        spread[k] = {
            "mean": float(v.mean()),
            "std": float(v.std(ddof=1)),
            "min": float(v.min()),
            "max": float(v.max()),
        }
    return spread


def cmd_interpolation(args: argparse.Namespace) -> dict[str, Any]:
    train_set = read_showers(args.train[0])
    refs = {p.stem: read_showers(p) for p in args.reference}
    work = WORK / f"interpolation_{args.label}"
    work.mkdir(parents=True, exist_ok=True)
    # the trained energies: compare with the training file itself (same showers the model saw)
    seen = work / "seen_like.h5"
    write_showers(seen, train_set, overwrite=True)
    like = {p.stem: p for p in args.reference} | {"trained_energies": seen}
    ref_response = {name: response(s) for name, s in refs.items()} | {
        "trained_energies": response(train_set)
    }
    families = []
    for family in args.families:
        info, gens = fit_and_generate(train_set, family, args, args.seed, like, work)
        n_like = {name: len(s) for name, s in refs.items()} | {"trained_energies": len(train_set)}
        per_energy = []
        for name, gen in gens.items():
            r, g = ref_response[name], response(gen)
            for i, e in enumerate(r["e_inc_gev"]):
                j = g["e_inc_gev"].index(e)
                per_energy.append(
                    {
                        "e_inc_gev": e,
                        "seen_in_training": name == "trained_energies",
                        "n_reference": r["n"][i],
                        "n_model": g["n"][j],
                        "reference_mean_ratio": r["mean_ratio"][i],
                        "model_mean_ratio": g["mean_ratio"][j],
                        "mean_rel_diff": g["mean_ratio"][j] / r["mean_ratio"][i] - 1,
                        "reference_resolution": r["resolution"][i],
                        "model_resolution": g["resolution"][j],
                        "resolution_rel_diff": g["resolution"][j] / r["resolution"][i] - 1,
                        "resolution_rel_diff_err": g["resolution"][j]
                        / r["resolution"][i]
                        * float(
                            np.hypot(
                                r["resolution_err"][i] / r["resolution"][i],
                                g["resolution_err"][j] / g["resolution"][j],
                            )
                        ),
                        "reference_resolution_eff": r["resolution_eff"][i],
                        "model_resolution_eff": g["resolution_eff"][j],
                        "resolution_eff_rel_diff": g["resolution_eff"][j] / r["resolution_eff"][i]
                        - 1,
                    }
                )
        for row in per_energy:
            row["pass_mean_2pct"] = abs(row["mean_rel_diff"]) <= 0.02
            row["pass_resolution_10pct"] = abs(row["resolution_rel_diff"]) <= 0.10
        info["per_energy"] = sorted(per_energy, key=lambda r: r["e_inc_gev"])
        info["model_repeats"] = args.model_repeats
        info["metrics_unseen"] = {  # equal sample sizes: the first repeat
            name: compare(refs[name], gens[name][: n_like[name]], "model", per_config=False, seed=0)
            for name in refs
        }
        families.append(info)
        print(json.dumps({k: info[k] for k in ("family", "train_wall_seconds")}))
    return {
        "subcommand": "interpolation",
        "train_file": str(args.train[0]),
        "trained_energies_gev": sorted(
            {float(e) / 1e3 for e in np.unique(train_set.incident_energy)}
        ),
        "reference_files": [str(p) for p in args.reference],
        "families": families,
    }


# ---- markdown summary -----------------------------------------------------------------------
def _rel(x: float, ref: float, nd: int) -> str:
    return f"{100 * (x / ref - 1):+.{nd}f}%"


def _fmt(x: float, nd: int = 3) -> str:
    return f"{x:.{nd}f}"


def write_markdown() -> None:
    """``models.md`` from the current runs; ``models_earlier.md`` from the superseded runs kept
    in ``models_earlier/`` (older code or smaller data, still cited for what they showed)."""
    intro = (
        "Generated by `benchmarks/bench_models.py` from the `models_*.json` files in {where}; "
        "every number is measured by the script. Separation power: 40 shared bins, ~0 for "
        "identical distributions (the *floor* rows compare the training data itself with the "
        "reference). AUC: low-level classifier (cells / E_inc, log10 E_inc), 0.5 = "
        "indistinguishable."
    )
    earlier = RESULTS / "models_earlier"
    _write_md(
        RESULTS,
        RESULTS / "models.md",
        ["# Model benchmarks (issue 5)", "", intro.format(where="this folder")]
        + (
            ["", "Superseded runs (older code, smaller samples) are in `models_earlier.md`."]
            if earlier.is_dir()
            else []
        ),
    )
    if earlier.is_dir():
        _write_md(
            earlier,
            RESULTS / "models_earlier.md",
            [
                "# Model benchmarks: superseded runs",
                "",
                intro.format(where="`models_earlier/`"),
                "",
                "These runs used older code (e.g. the `softmax` head before `softmax-likelihood` "
                "became gan-ecritic's default) or smaller samples than the runs in `models.md`; "
                "their data files were made as their commands say.",
            ],
        )


def _write_md(folder: Path, out: Path, lines: list[str]) -> None:
    for path in sorted(folder.glob("models_*.json")):
        doc = json.loads(path.read_text())
        m = doc["machine"]
        lines += ["", f"## {path.name}", "", f"`{doc['command']}`", ""]
        lines.append(
            f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, "
            f"{m.get('os')}; torch {doc['torch']} on {doc['torch_threads']} threads; load "
            f"average at end {', '.join(f'{x:.1f}' for x in doc['load_average_1_5_15min_at_end'])}; "
            f"{m.get('time_utc')}."
        )
        if doc.get("note"):
            lines += ["", f"Data: {doc['note']}"]
        if doc["subcommand"] == "alignment":
            _md_alignment(doc, lines)
        else:
            _md_interpolation(doc, lines)
    out.write_text("\n".join(lines) + "\n")


def _md_alignment(doc: dict[str, Any], lines: list[str]) -> None:
    lines += [
        "",
        "| sample | seed | train time [s] (steps) | AUC low | AUC high | S(E_tot/E_inc) | "
        "S(frac pre) | S(frac strips) | S(frac middle) | S(frac back) | max S (all obs.) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [(r["family"], r["seed"], r) for r in doc["runs"]]
    rows.append(
        ("training data (floor)", "-", {"metrics": doc["floor_training_data_vs_reference"]})
    )
    for name, seed, r in rows:
        mt = r["metrics"]
        t = f"{r['train_wall_seconds']:.0f} ({r['steps']})" if "steps" in r else "-"
        s = mt["separation"]
        lines.append(
            f"| {name} | {seed} | {t} | {_fmt(mt['auc_low_level']['auc'])} | "
            f"{_fmt(mt['auc_high_level']['auc'])} | {_fmt(s['e_ratio'])} | "
            f"{_fmt(s['frac.presampler'])} | {_fmt(s['frac.strips'])} | "
            f"{_fmt(s['frac.middle'])} | {_fmt(s['frac.back'])} | "
            f"{_fmt(mt['separation_max_all_observables'])} |"
        )
    for name, seed, r in rows:
        mt = r["metrics"]
        if "per_config_auc_low_level" not in mt:
            continue
        lines += [
            "",
            f"Per alignment configuration, {name}" + (f" (seed {seed}):" if seed != "-" else ":"),
            "",
            "| config | n ref / n cand | AUC low | S(E_tot/E_inc) | S(frac strips) | S(frac middle) |",
            "|---|---|---|---|---|---|",
        ]
        for cfg, a in mt["per_config_auc_low_level"].items():
            s = mt["per_config_separation"].get(cfg, {})
            lines.append(
                f"| {cfg} | {a['n_ref']} / {a['n_cand']} | {_fmt(a['auc'])} ± {_fmt(a['error'])} | "
                f"{_fmt(s.get('e_ratio', float('nan')))} | {_fmt(s.get('frac.strips', float('nan')))} | "
                f"{_fmt(s.get('frac.middle', float('nan')))} |"
            )
    nan = [float("nan")] * len(doc["response_reference"]["e_inc_gev"])
    ref = {"resolution_err": nan, "resolution_eff": nan} | doc["response_reference"]
    lines += [
        "",
        "Energy response (rel. diff to the reference; the sigma/E error is the bootstrap error of "
        "the reference and the model sample added in quadrature):",
        "",
        "| sample | seed | E [GeV] | mean E_tot/E_inc | sigma/E (r.m.s.) | sigma_eff/E |",
        "|---|---|---|---|---|---|",
    ]
    for i, e in enumerate(ref["e_inc_gev"]):
        lines.append(
            f"| reference | - | {e:g} | {ref['mean_ratio'][i]:.4f} | "
            f"{ref['resolution'][i]:.4f} +- {ref['resolution_err'][i]:.4f} | "
            f"{ref['resolution_eff'][i]:.4f} |"
        )
        for r in doc["runs"]:
            g = {"resolution_err": nan, "resolution_eff": nan} | r["response_model"]
            err = (
                100
                * np.hypot(g["resolution_err"][i], ref["resolution_err"][i])
                / ref["resolution"][i]
            )
            lines.append(
                f"| {r['family']} | {r['seed']} | {e:g} | {g['mean_ratio'][i]:.4f} "
                f"({_rel(g['mean_ratio'][i], ref['mean_ratio'][i], 2)}) | "
                f"{g['resolution'][i]:.4f} ({_rel(g['resolution'][i], ref['resolution'][i], 1)} "
                f"+- {err:.1f}%) | {g['resolution_eff'][i]:.4f} "
                f"({_rel(g['resolution_eff'][i], ref['resolution_eff'][i], 1)}) |"
            )
    if "seed_spread" in doc:
        sp = doc["seed_spread"]
        keys = [
            "auc_low_level.auc",
            "auc_high_level.auc",
            *(f"separation.{k}" for k in HEADLINE_OBSERVABLES),
            "separation_max_all_observables",
            "fpd.value",
            "response.mean_ratio",
            "response.resolution",
            "response.resolution_eff",
            "train_wall_seconds",
        ]
        lines += [
            "",
            f"Spread over {len(doc['runs'])} seeds:",
            "",
            "| metric | mean | std | min | max |",
            "|---|---|---|---|---|",
        ]
        for k in keys:
            if k in sp:
                v = sp[k]
                lines.append(
                    f"| {k} | {_fmt(v['mean'], 4)} | {_fmt(v['std'], 4)} | {_fmt(v['min'], 4)} | {_fmt(v['max'], 4)} |"
                )


def _md_interpolation(doc: dict[str, Any], lines: list[str]) -> None:
    lines += [
        "",
        f"Trained at {doc['trained_energies_gev']} GeV only.",
        "",
        "| family | train time [s] (steps) | E [GeV] | seen | mean E_tot/E_inc ref / model (rel. diff) | "
        "sigma/E (r.m.s.) ref / model (rel. diff +- error) | sigma_eff/E ref / model (rel. diff) | "
        "mean within 2% | sigma/E within 10% |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in doc["families"]:
        for row in f["per_energy"]:
            lines.append(
                f"| {f['family']} | {f['train_wall_seconds']:.0f} ({f['steps']}) | {row['e_inc_gev']:g} | "
                f"{'yes' if row['seen_in_training'] else 'no'} | {_fmt(row['reference_mean_ratio'], 4)} / "
                f"{_fmt(row['model_mean_ratio'], 4)} ({100 * row['mean_rel_diff']:+.2f}%) | "
                f"{_fmt(row['reference_resolution'], 4)} / {_fmt(row['model_resolution'], 4)} "
                f"({100 * row['resolution_rel_diff']:+.1f} +- {100 * row.get('resolution_rel_diff_err', float('nan')):.1f}%) | "
                f"{_fmt(row.get('reference_resolution_eff', float('nan')), 4)} / "
                f"{_fmt(row.get('model_resolution_eff', float('nan')), 4)} "
                f"({100 * row.get('resolution_eff_rel_diff', float('nan')):+.1f}%) | "
                f"{'yes' if row['pass_mean_2pct'] else 'NO'} | "
                f"{'yes' if row['pass_resolution_10pct'] else 'NO'} |"
            )
    for f in doc["families"]:
        for name, mt in f["metrics_unseen"].items():
            s = mt["separation"]
            lines.append(
                f"\n{f['family']} vs {name}: AUC low {_fmt(mt['auc_low_level']['auc'])}, AUC high "
                f"{_fmt(mt['auc_high_level']['auc'])}, S(E_tot/E_inc) {_fmt(s['e_ratio'])}, "
                f"S(frac middle) {_fmt(s['frac.middle'])}, max S {_fmt(mt['separation_max_all_observables'])}."
            )


# ---- command line ---------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="sub", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--train", type=Path, nargs="+", required=True)
    common.add_argument("--steps", type=int, default=3000)
    common.add_argument("--batch-size", type=int, default=128)
    common.add_argument("--lr", type=float, default=1e-4)
    common.add_argument("--threads", type=int, default=2)
    common.add_argument("--validate-every", type=int, default=500)
    common.add_argument(
        "--use-best", action="store_true", help="generate with best/ (validation score)"
    )
    common.add_argument(
        "--model", default="", help="JSON object of model hyper-parameter overrides"
    )
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--label", required=True)
    common.add_argument("--note", default="")
    common.add_argument("--markdown-only", action="store_true")
    a = sub.add_parser("alignment", parents=[common])
    a.add_argument("--reference", type=Path, required=True)
    a.add_argument("--family", default="wgan-gp")
    a.add_argument("--seeds", type=int, default=1)
    s = sub.add_parser("seeds", parents=[common])
    s.add_argument("--reference", type=Path, required=True)
    s.add_argument("--family", default="wgan-gp")
    s.add_argument("--seeds", type=int, default=5)
    i = sub.add_parser("interpolation", parents=[common])
    i.add_argument("--reference", type=Path, nargs="+", required=True)
    i.add_argument("--families", nargs="+", default=["wgan-gp", "gan-ecritic"])
    i.add_argument(
        "--model-repeats",
        type=int,
        default=4,
        help="generate each reference's conditions this many times (independent noise)",
    )
    args = parser.parse_args()
    if args.markdown_only:
        write_markdown()
        return
    torch.set_num_threads(args.threads)
    body = cmd_interpolation(args) if args.sub == "interpolation" else cmd_alignment(args)
    name = "alignment" if args.sub == "alignment" else args.sub
    print(record(name, args, body))


if __name__ == "__main__":
    main()
