"""Benchmark: the "Getting High" families (``gan-mbd``, ``wgan-lo``, ``bib-ae``) on ``ild-ecal``.

Training showers and an independent reference come from the cascade MC (photons, 10-100 GeV
uniform, different seeds), as HDF5 part files in two folders. ``run`` trains each requested
family for each seed on the training showers (CPU, one thread, timed), generates as many showers
as the reference holds at the reference's incident energies, and measures against the
reference:

- the MIP peak position of the hit-energy spectrum, the mean number of hits (cells above
  0.5 MIP), centres of gravity and profiles, through :mod:`caloforge.evaluation.grid` (the
  definitions of ``caloforge evaluate`` and ``bench_granular.py``); MIP = dE/dx_min(Si) x
  0.5 mm (PDG, the materials table);
- classifier AUCs, low level (log cell energies in MIP, layer images 2 x 2-pooled, and log E_inc)
  and high level (E_vis/E_inc, hits, layer fractions, centres of gravity, r.m.s. radius, log E);
- for ``bib-ae`` also without its fitted spectrum map (``-no-map``: the post-processor
  network only) and without any post-processing (``-no-post``), the same trained model;
- and the training showers themselves against the reference (the floor at these sizes).

``rescore`` recomputes the observables (not the AUCs) of every result from its artifact (the
generation is deterministic), after a change of an observable's definition.

Each model's figures go to ``benchmarks/results/ild_<label>_<family>_s<seed>.json`` (so runs can
be split over processes); ``report`` merges every ``ild_<label>_*.json`` into
``benchmarks/results/ild_<label>.md``.

    python benchmarks/bench_ild.py run --train-dir D/train --reference-dir D/ref \\
        --families bib-ae --seeds 0 1 --steps 600 --label small --work D/runs
    python benchmarks/bench_ild.py rescore --train-dir D/train --reference-dir D/ref \\
        --label small --work D/runs
    python benchmarks/bench_ild.py report --label small

Local to this script: the mean hit energy in 0.5-2 MIP, the r.m.s. radius and the classifier
inputs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from caloforge.evaluation.classifier import ClassifierConfig, classifier_auc
from caloforge.evaluation.grid import compare_grid, compute_grid_observables, mip_energy_mev
from caloforge.geometry import Geometry, get_geometry
from caloforge.io import read_showers
from caloforge.models import Preprocessing, load_model
from caloforge.models.bib_ae import BIBAEGenerator
from caloforge.models.hparams import from_mapping, to_mapping
from caloforge.models.registry import get_family
from caloforge.showerset import ShowerSet
from caloforge.training import RunConfig, TrainConfig, train

RESULTS = Path(__file__).resolve().parent / "results"
#: hyper-parameters of the ILD recipe that differ from the families' defaults (bib-ae: the
#: post-processor's sorted-spectrum term in MIP units, measured in ild_dev-h20)
ILD_RECIPE: dict[str, dict[str, Any]] = {"bib-ae": {"mip_sort_weight": 1.0}}
#: network space log1p(f / ALPHA), f = cell / E_inc: 1 MIP at 100 GeV (f ~ 2e-6) sits at ~1.1
ALPHA = 1e-6
LOW_LEVEL = ClassifierConfig(hidden=(64, 64), max_epochs=10)
HIGH_LEVEL = ClassifierConfig(max_epochs=20)


def mip_mev(geometry: Geometry) -> float:
    """Energy lost by a minimum-ionising particle crossing the active slab of layer 0 (MeV; the
    same in every ild-ecal layer)."""
    return float(mip_energy_mev(geometry)[0])


def load_parts(source: Path, limit: int | None, *, wait: bool = False) -> ShowerSet:
    """The first ``limit`` rows of ``source``: one shower file (``caloforge simulate -o``) or a
    folder of ``part*.h5`` files read in order; ``wait``: poll until there are ``limit`` rows
    (the simulation writing them is still running)."""
    while True:
        if source.suffix == ".h5":
            parts = [source] if source.is_file() else []
        else:
            parts = sorted(source.glob("part*.h5"))
        if not parts and not wait:
            sys.exit(f"{source}: no shower file (a .h5 file or a folder of part*.h5 files)")
        showers = ShowerSet.concatenate([read_showers(p) for p in parts]) if parts else None
        if showers is not None and (limit is None or len(showers) >= limit or not wait):
            return showers if limit is None or limit >= len(showers) else showers[:limit]
        print(f"waiting for {limit} rows in {source}", flush=True)
        time.sleep(60)


# ---- observables ----------------------------------------------------------------------------
def observables(cells: np.ndarray, energy: np.ndarray, geometry: Geometry) -> dict[str, Any]:
    """The MIP peak, hits, centres of gravity and profiles of :mod:`caloforge.evaluation.grid`
    (one definition for every benchmark and the report), plus the mean hit energy in the MIP
    region (0.5-2 MIP) and the r.m.s. radius. Keys starting with ``_`` are not JSON: the
    high-level classifier's inputs and the :class:`GridObservables`."""
    grid = compute_grid_observables(ShowerSet(energy, cells, geometry), name="sample")
    in_mip = cells / mip_energy_mev(geometry)[geometry.cell_layer]
    hit_region = in_mip[(in_mip > grid.hit_threshold_mip) & (in_mip < 2.0)]
    n_hits = grid.column("n_hits")
    e_vis = grid.column("e_vis")
    cog_x, cog_y, cog_z = grid.column("cog_x"), grid.column("cog_y"), grid.column("cog_z")
    layers = geometry.layer_energies(cells)
    safe = np.maximum(e_vis, 1e-12)
    xy = geometry.cell_centres_mm()
    r2 = (cells @ (xy[:, 0] ** 2 + xy[:, 1] ** 2)) / safe - cog_x**2 - cog_y**2
    high = np.column_stack(
        [
            np.log(energy),
            e_vis / energy * 100,
            n_hits / 1000,
            layers / safe[:, None],
            cog_x,
            cog_y,
            cog_z / 10,
            np.sqrt(np.maximum(r2, 0)),
        ]
    )
    return {
        "mip_peak_mip": grid.mip_peak,
        "mean_hit_mip_0p5_2": float(hit_region.mean()) if hit_region.size else float("nan"),
        "mean_hits": float(n_hits.mean()),
        "mean_hits_err": float(n_hits.std() / np.sqrt(len(n_hits))),
        "mean_evis_over_einc": float((e_vis / energy).mean()),
        "mean_cog_z_layers": float(cog_z.mean()),
        "mean_rms_radius_mm": float(np.sqrt(np.maximum(r2, 0)).mean()),
        "longitudinal_mev": grid.longitudinal.tolist(),
        "radial_mev": grid.radial.tolist(),
        "_high": high,
        "_grid": grid,
    }


def public(obs: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready entries of :func:`observables`."""
    return {k: v for k, v in obs.items() if not k.startswith("_")}


def low_level(cells: np.ndarray, energy: np.ndarray, geometry: Geometry) -> np.ndarray:
    """log1p(cells / MIP) pooled 2 x 2 per layer image (sum), and log E_inc."""
    n = geometry.n_layers
    h, w = geometry.layers[0].segmentation.shape
    img = cells.reshape(len(cells), n, h // 2, 2, w // 2, 2).sum(axis=(3, 5))
    feats = np.log1p(img.reshape(len(cells), -1) / mip_mev(geometry))
    return np.column_stack([feats, np.log(energy)])


def relative(obs: dict[str, Any], ref: dict[str, Any]) -> dict[str, float]:
    keys = ("mip_peak_mip", "mean_hit_mip_0p5_2", "mean_hits")
    names = ("mip_peak_rel_diff", "mean_hit_mip_rel_diff", "mean_hits_rel_diff")
    return {n: obs[k] / ref[k] - 1 for k, n in zip(keys, names, strict=True)}


def compare(
    cand: np.ndarray, energy: np.ndarray, ref: dict[str, Any], geometry: Geometry, seed: int
) -> dict[str, Any]:
    obs = observables(cand, energy, geometry)
    auc_low = classifier_auc(
        ref["_low"], low_level(cand, energy, geometry), seed=seed, config=LOW_LEVEL
    )
    auc_high = classifier_auc(ref["_high"], obs["_high"], seed=seed, config=HIGH_LEVEL)
    grid = compare_grid(ref["_grid"], {"candidate": obs["_grid"]}, seed=seed)["candidates"]
    g = grid["candidate"]
    out = public(obs)
    out.update(relative(obs, ref))
    out["grid_separation"] = {k: v["separation"] for k, v in g["observables"].items()}
    out["hit_spectrum_separation"] = g["spectrum_separation"]
    out["longitudinal_ratio"] = g["longitudinal_ratio"]["ratio"]
    out["radial_ratio"] = g["radial_ratio"]["ratio"]
    out["auc_low"], out["auc_low_err"] = auc_low
    out["auc_high"], out["auc_high_err"] = auc_high
    return out


def ild_run_config(
    family: str,
    seed: int,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    lr_schedule: str = "constant",
    ema_decay: float = 0.0,
    val_max_showers: int = 200,
    hparams: dict[str, Any] | None = None,
) -> RunConfig:
    """The training run of ``family`` on ild-ecal photons: the ILD recipe's hyper-parameters
    (:data:`ILD_RECIPE` over the family's defaults, ``hparams`` over both), ``log``
    preprocessing with :data:`ALPHA`, one thread, one validation at the end, a checkpoint every
    100 steps."""
    model_cfg = get_family(family).Config()
    changes = {**ILD_RECIPE.get(family, {}), **(hparams or {})}
    if changes:
        model_cfg = from_mapping(type(model_cfg), {**to_mapping(model_cfg), **changes}, family)
    return RunConfig(
        family=family,
        train=TrainConfig(
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            val_fraction=0.05,
            val_max_showers=val_max_showers,
            validate_every=steps,
            checkpoint_every=min(steps, 100),
            log_every=50,
            threads=1,
            progress=False,
            condition_on_config=False,
            lr_schedule=lr_schedule,
            ema_decay=ema_decay,
        ),
        model=model_cfg,
        preprocessing=Preprocessing(kind="log", alpha=ALPHA),
    )


# ---- run -----------------------------------------------------------------------------------
#: the BIB-AE's post-processing stages as the benchmark scores them: tag suffix ->
#: (post-processor network, spectrum map)
BIBAE_MODES = {"": (True, True), "-no-map": (True, False), "-no-post": (False, False)}


def split_tag(tag: str) -> tuple[str, bool, bool]:
    """A record's model tag -> (family, post-processor network on, spectrum map on)."""
    for suffix, (post, smap) in BIBAE_MODES.items():
        if suffix and tag.endswith(suffix):
            return tag.removesuffix(suffix), post, smap
    return tag, True, True


def generate(
    art_dir: Path, energy: np.ndarray, seed: int, post_process: bool, spectrum_map: bool = True
) -> tuple[np.ndarray, float]:
    art = load_model(art_dir)
    gen = art.generator.eval()
    if isinstance(gen, BIBAEGenerator):
        gen.post_process = post_process
        if not spectrum_map:
            gen.spectrum_map = None
    noise = gen.make_noise(len(energy), torch.Generator().manual_seed(10_000 + seed))
    out, t0 = [], time.perf_counter()
    with torch.no_grad():
        for a in range(0, len(energy), 100):
            out.append(gen.sample(energy[a : a + 100], None, noise=noise[a : a + 100]).numpy())
    seconds = time.perf_counter() - t0
    return np.maximum(np.concatenate(out), 0).astype(np.float64), seconds / len(energy)


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    geometry = get_geometry("ild-ecal")
    train_set = load_parts(args.train_dir, args.n_train)
    loaded: dict[str, Any] = {}

    def reference() -> tuple[dict[str, Any], np.ndarray, dict[str, Any]]:
        """Read (once, after the first training: the reference may still be simulated)."""
        if not loaded:
            ref_set = load_parts(args.reference_dir, args.n_reference, wait=True)
            energy = np.asarray(ref_set.incident_energy, dtype=np.float64)
            ref_cells = np.asarray(ref_set.cells, dtype=np.float64)
            ref = observables(ref_cells, energy, geometry)
            ref["_low"] = low_level(ref_cells, energy, geometry)
            common = {
                "command": " ".join(["python", *sys.argv]),
                "n_train": len(train_set),
                "n_reference": len(ref_set),
                "train_transport_version": train_set.attrs.get("transport_version"),
                "reference_transport_version": ref_set.attrs.get("transport_version"),
                "mip_mev": mip_mev(geometry),
                "reference": public(ref),
                "machine": f"{os.cpu_count()} cores",
            }
            loaded.update(ref=ref, energy=energy, common=common, ref_set=ref_set)
        return loaded["ref"], loaded["energy"], loaded["common"]

    RESULTS.mkdir(exist_ok=True)
    for family in args.families:
        for seed in args.seeds:
            out_dir = args.work / f"{family}_s{seed}"
            run_cfg = ild_run_config(
                family,
                seed,
                steps=args.steps,
                batch_size=args.batch_size,
                lr=args.lr,
                lr_schedule=args.lr_schedule,
                ema_decay=args.ema_decay,
                hparams=json.loads(args.hparams),
            )
            model_cfg = run_cfg.model
            load0 = os.getloadavg()[0]
            wall0, cpu0 = time.perf_counter(), time.process_time()
            train(
                train_set,
                config=run_cfg,
                out_dir=out_dir,
                resume=(out_dir / "checkpoints").exists(),
            )
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            ref, energy, common = reference()
            modes = BIBAE_MODES if family == "bib-ae" else {"": (True, True)}
            for suffix, (post, smap) in modes.items():
                cells, per_shower = generate(out_dir, energy, seed, post, smap)
                metrics = compare(cells, energy, ref, geometry, seed=seed)
                tag = family + suffix
                art = load_model(out_dir)
                record = common | {
                    "model": tag,
                    "seed": seed,
                    "steps": args.steps,
                    "batch_size": args.batch_size,
                    "lr": args.lr,
                    "lr_schedule": args.lr_schedule,
                    "ema_decay": args.ema_decay,
                    "hparams": dataclasses.asdict(model_cfg),
                    "generator_parameters": sum(p.numel() for p in art.generator.parameters()),
                    "train_wall_s": wall,
                    "load_average_1min": [load0, os.getloadavg()[0]],
                    "train_cpu_s": cpu,
                    "generate_ms_per_shower_cpu1": 1e3 * per_shower,
                    "metrics": metrics,
                }
                _write(args.label, f"{tag}_s{seed}", record)
    if args.floor:  # last: the reference may still be simulated while models train
        ref, energy, common = reference()
        n = min(len(train_set), len(energy))
        t_cells = np.asarray(train_set.cells[:n], dtype=np.float64)
        t_energy = np.asarray(train_set.incident_energy[:n], dtype=np.float64)
        sub = ref
        if n < len(energy):  # the reference's first n showers, scored the same way
            r_cells = np.asarray(loaded["ref_set"].cells[:n], dtype=np.float64)
            sub = observables(r_cells, energy[:n], geometry)
            sub["_low"] = low_level(r_cells, energy[:n], geometry)
        res = compare(t_cells, t_energy, sub, geometry, seed=0)
        _write(args.label, "floor", common | {"model": "training data", "metrics": res})


def rescore(args: argparse.Namespace) -> None:
    """Recompute the observables (not the classifier AUCs) of every ``ild_<label>_*.json``
    from its artifact -- generation is deterministic (noise seeded by the training seed), so the
    showers are those ``run`` scored -- and of the reference and the training data."""
    torch.set_num_threads(1)
    geometry = get_geometry("ild-ecal")
    for path in sorted(RESULTS.glob(f"ild_{args.label}_*.json")):
        record = json.loads(path.read_text())
        if "seed" not in record and record.get("model") != "training data":
            continue
        n_ref = record["n_reference"]
        ref_set = load_parts(args.reference_dir, n_ref)
        energy = np.asarray(ref_set.incident_energy, dtype=np.float64)
        ref = observables(np.asarray(ref_set.cells, dtype=np.float64), energy, geometry)
        if record["model"] == "training data":
            data = load_parts(args.train_dir, n_ref)
            e = np.asarray(data.incident_energy, dtype=np.float64)
            obs = observables(np.asarray(data.cells, dtype=np.float64), e, geometry)
        else:
            family, post, smap = split_tag(record["model"])
            out_dir = args.work / f"{family}_s{record['seed']}"
            cells, _ = generate(out_dir, energy, record["seed"], post, smap)
            obs = observables(cells, energy, geometry)
        record["reference"] = public(ref)
        record["metrics"] |= public(obs) | relative(obs, ref)
        record["rescored_command"] = " ".join(["python", *sys.argv])
        path.write_text(json.dumps(record, indent=1, default=float) + "\n")
        print(f"rescored {path}", flush=True)


def _write(label: str, name: str, record: dict[str, Any]) -> None:
    path = RESULTS / f"ild_{label}_{name}.json"
    path.write_text(json.dumps(record, indent=1, default=float) + "\n")
    print(f"wrote {path}", flush=True)


def _peak(value: float, fmt: str, unit: str = "") -> str:
    """A MIP-peak figure, or "no peak" for NaN (:func:`caloforge.evaluation.grid.mip_peak`
    finds none in its window)."""
    return f"{value:{fmt}}{unit}" if np.isfinite(value) else "no peak"


def _load_line(records: list[dict[str, Any]]) -> str:
    loads = [x for r in records for x in r.get("load_average_1min", [])]
    if not loads:
        return "machine load not recorded (loaded: the machine was shared)"
    return (
        f"1-minute load average between {min(loads):.1f} and {max(loads):.1f} at the start and "
        f"end of the trainings on {records[0].get('machine', 'this machine')} (loaded when above "
        "the core count)"
    )


# ---- report --------------------------------------------------------------------------------
def report(args: argparse.Namespace) -> None:
    records = [
        json.loads(p.read_text())
        for p in sorted(RESULTS.glob(f"ild_{args.label}_*.json"))
        if p.name != f"ild_{args.label}.json"
    ]
    if not records:
        sys.exit(f"no ild_{args.label}_*.json results")
    ref = records[0]["reference"]
    lines = [
        f"# Getting High families on ild-ecal ({args.label})",
        "",
        f"Reference: {records[0]['n_reference']} cascade-MC photons, 10-100 GeV uniform, an "
        f"independent seed (cascade transport version "
        f"{records[0].get('reference_transport_version') or 'not recorded'}); training: "
        f"{records[0]['n_train']} showers (transport version "
        f"{records[0].get('train_transport_version') or 'not recorded'}); each model generates "
        f"as many showers as the reference holds, at its energies. MIP = "
        f"{records[0]['mip_mev']:.4f} MeV (dE/dx_min x 0.5 mm Si); hits: cells > 0.5 MIP. "
        f"Reference MIP peak {ref['mip_peak_mip']:.3f} MIP (caloforge.evaluation.grid.mip_peak), "
        f"mean hits {ref['mean_hits']:.1f}.",
        "",
        f"Timings: one thread; {_load_line(records)}; train CPU s is the process's CPU time.",
        "",
        "| model | seed | steps | MIP peak (MIP) | vs ref | hit E 0.5-2 MIP, vs ref | mean hits "
        "| vs ref | AUC low | AUC high | E_vis/E_inc | train wall s | train CPU s | gen ms/shower |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(records, key=lambda r: (r["model"], r.get("seed", -1))):
        m = r["metrics"]
        lines.append(
            f"| {r['model']} | {r.get('seed', '-')} | {r.get('steps', '-')} "
            f"| {_peak(m['mip_peak_mip'], '.3f')} | {_peak(100 * m['mip_peak_rel_diff'], '+.1f', '%')} "
            f"| {100 * m['mean_hit_mip_rel_diff']:+.1f}% "
            f"| {m['mean_hits']:.1f} | {100 * m['mean_hits_rel_diff']:+.1f}% "
            f"| {m['auc_low']:.3f} ± {m['auc_low_err']:.3f} "
            f"| {m['auc_high']:.3f} ± {m['auc_high_err']:.3f} "
            f"| {m['mean_evis_over_einc']:.4f} "
            f"| {r.get('train_wall_s', float('nan')):.0f} | {r.get('train_cpu_s', float('nan')):.0f} "
            f"| {r.get('generate_ms_per_shower_cpu1', float('nan')):.1f} |"
        )
    lines += [
        "",
        f"Reference E_vis/E_inc {ref['mean_evis_over_einc']:.4f}.",
        "",
        "Over seeds (mean ± std; the targets: MIP peak and mean hits within 5% of the reference):",
        "",
        "| model | seeds | MIP peak vs ref | hit E 0.5-2 MIP vs ref | mean hits vs ref "
        "| AUC low | AUC high |",
        "|---|---|---|---|---|---|---|",
    ]
    by_model: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_model.setdefault(r["model"], []).append(r["metrics"])

    def stat(ms: list[dict[str, Any]], key: str, scale: float, fmt: str, unit: str = "") -> str:
        v = np.array([m[key] for m in ms], dtype=np.float64) * scale
        missing = int(np.isnan(v).sum())
        if missing:  # the MIP peak: NaN where the spectrum has none in the window
            return f"no peak in {missing} of {len(v)}"
        return f"{v.mean():{fmt}} ± {v.std():{fmt}}{unit}"

    for model, ms in sorted(by_model.items()):
        lines.append(
            f"| {model} | {len(ms)} | {stat(ms, 'mip_peak_rel_diff', 100, '+.1f', '%')} "
            f"| {stat(ms, 'mean_hit_mip_rel_diff', 100, '+.1f')}% "
            f"| {stat(ms, 'mean_hits_rel_diff', 100, '+.1f')}% "
            f"| {stat(ms, 'auc_low', 1, '.3f')} | {stat(ms, 'auc_high', 1, '.3f')} |"
        )
    lines.append("")
    commands = sorted({r["command"] for r in records})
    lines += ["Commands:", "", *[f"    {c}" for c in commands], ""]
    (RESULTS / f"ild_{args.label}.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--train-dir", type=Path, required=True, help="a .h5 file or a folder of parts")
    r.add_argument("--reference-dir", type=Path, required=True, help="the same")
    r.add_argument("--n-train", type=int)
    r.add_argument("--n-reference", type=int)
    r.add_argument("--families", nargs="*", default=["gan-mbd", "wgan-lo", "bib-ae"])
    r.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    r.add_argument("--steps", type=int, default=600)
    r.add_argument("--batch-size", type=int, default=32)
    r.add_argument("--lr", type=float, default=5e-4)
    r.add_argument("--lr-schedule", default="constant", help="train.lr_schedule")
    r.add_argument("--ema-decay", type=float, default=0.0, help="train.ema_decay")
    r.add_argument(
        "--hparams", default="{}", help="JSON object: model hyper-parameters over the recipe's"
    )
    r.add_argument("--floor", action="store_true", help="also score the training data")
    r.add_argument("--label", required=True)
    r.add_argument("--work", type=Path, required=True)
    s = sub.add_parser("report")
    s.add_argument("--label", required=True)
    q = sub.add_parser("rescore")
    q.add_argument("--train-dir", type=Path, required=True)
    q.add_argument("--reference-dir", type=Path, required=True)
    q.add_argument("--label", required=True)
    q.add_argument("--work", type=Path, required=True)
    args = p.parse_args()
    {"run": run, "report": report, "rescore": rescore}[args.cmd](args)


if __name__ == "__main__":
    main()
