"""`make demo`: the whole caloforge job end to end, into demo-output/.

1. simulate ``atlas-em-barrel`` photons at a few energies with the cascade MC: a training
   sample and an independent reference sample (other seed);
2. train a generator on the CPU;
3. generate with the conditions (energies, configurations) of the reference sample;
4. export the generator to ONNX (with the parity check);
5. benchmark generation against the cascade MC, measured in the same run;
6. evaluate generated vs reference: HTML report (with the timings of 5 beside the classifier
   AUCs) + metrics.json;
7. print a short summary.

``DEMO_SCALE=small`` runs a shorter version (fewer showers, fewer training steps; 11.7 minutes
was measured for it on a loaded 2-core machine with transport version 2 of the cascade MC).
The cascade's transport version 7 (converged stepping) costs 0.67 s CPU per photon at 16-65 GeV (measured, 1 thread),
so the full run's 4500 showers take ~25 minutes of its time on 2 cores (an estimate from that
rate; the whole demo has not been re-timed with version 7).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from rich.console import Console

from caloforge.bench.harness import BenchConfig, run_bench, write_results
from caloforge.evaluation import evaluate
from caloforge.export import export_onnx
from caloforge.generation import generate
from caloforge.geometry import get_geometry
from caloforge.progress import warnings_as_lines
from caloforge.simulation import simulate_to_file
from caloforge.simulation.gun import ParticleGun
from caloforge.training import train

OUT = Path("demo-output")
SCALES = {
    #          showers per energy (train, reference), training steps, bench budget (s)
    "small": {"n_train": 150, "n_ref": 100, "steps": 150, "bench_budget": 0.3, "n_mc": 5},
    # transport version 7 takes 0.67 s CPU per shower at these energies (measured, 1 thread)
    "full": {"n_train": 1000, "n_ref": 500, "steps": 2000, "bench_budget": 1.0, "n_mc": 10},
}
ENERGIES_GEV = (16.0, 32.0, 65.0)
FAMILY = "gan-ecritic"  # the energy-aware GAN: the family that reproduces the resolution

console = Console(soft_wrap=True)  # a long path stays on one line


def stage(title: str) -> float:
    console.rule(f"[bold]{title}")
    return time.perf_counter()


def main() -> int:
    scale_name = os.environ.get("DEMO_SCALE", "full")
    if scale_name not in SCALES:
        console.print(f"DEMO_SCALE must be one of {', '.join(SCALES)}, got {scale_name!r}")
        return 2
    scale = SCALES[scale_name]
    OUT.mkdir(exist_ok=True)
    t_start = time.perf_counter()
    geometry = get_geometry("atlas-em-barrel")
    gun = ParticleGun(particle="photon", energies_mev=tuple(e * 1000 for e in ENERGIES_GEV))

    t = stage("1/6 simulate reference showers (cascade MC)")
    n_e = len(ENERGIES_GEV)
    simulate_to_file(
        geometry, gun, scale["n_train"] * n_e, seed=1, out=OUT / "train.h5", overwrite=True
    )
    simulate_to_file(
        geometry, gun, scale["n_ref"] * n_e, seed=2, out=OUT / "reference.h5", overwrite=True
    )
    console.print(f"train.h5 and reference.h5 written in {time.perf_counter() - t:.0f} s")

    t = stage(f"2/6 train {FAMILY} on the CPU")
    train(OUT / "train.h5", FAMILY, out_dir=OUT / "model", steps=scale["steps"])
    console.print(f"trained in {time.perf_counter() - t:.0f} s")

    t = stage("3/6 generate with the reference sample's conditions")
    # the model of the best validation step (separation of E_tot/E_inc and layer fractions)
    model = OUT / "model" / "best" if (OUT / "model" / "best").is_dir() else OUT / "model"
    console.print(f"using {model}")
    generate(
        model,
        OUT / "generated.h5",
        like=OUT / "reference.h5",
        seed=3,
        progress=True,
        overwrite=True,  # the demo rewrites demo-output/
    )

    t = stage("4/6 export to ONNX (with ONNX Runtime parity check)")
    exported = export_onnx(model, OUT / "model.onnx", overwrite=True)
    console.print(f"parity: max |ort - torch| / max cell = {exported.relative_diff:.2g}")

    t = stage("5/6 benchmark generation against the cascade MC")
    cfg = BenchConfig(
        energy_mev=50_000.0,
        engines=("cascade",),
        n_mc=scale["n_mc"],
        budget_s=scale["bench_budget"],
    )
    bench = run_bench(cfg, [model])
    write_results(bench, OUT / "bench", "bench", "make demo (scripts/demo.py)")

    t = stage("6/6 evaluate generated vs reference (with the timings of step 5)")
    metrics = evaluate(
        OUT / "reference.h5",
        [OUT / "generated.h5"],
        labels=[FAMILY],
        out_dir=OUT / "report",
        progress=True,
        model_dir=OUT / "model",  # the training curve, from its log.csv
        speed=bench,  # the report's fidelity-against-speed section
    )

    summarise(metrics, bench, time.perf_counter() - t_start)
    return 0


def summarise(metrics: dict, bench: dict, wall_s: float) -> None:
    console.rule("[bold]summary")
    cand = next(iter(metrics["candidates"].values()))
    report = OUT / "report"
    console.print(f"report: {report / 'report.html'}  (metrics: {report / 'metrics.json'})")
    clf = cand["classifier"]
    console.print(
        f"classifier AUC (0.5 = indistinguishable): low-level {clf['low_level']['auc']:.3f} "
        f"± {clf['low_level']['error']:.3f}, high-level {clf['high_level']['auc']:.3f} "
        f"± {clf['high_level']['error']:.3f}"
    )
    seps = sorted(cand["observables"].items(), key=lambda kv: -kv[1]["separation"])[:5]
    console.print(
        "worst separation powers: "
        + ", ".join(f"{k} {v['separation']:.3f}" for k, v in seps)
        + f"  (finite-sample floor {cand['separation_floor']:.3f})"
    )
    ref, gen = metrics["reference"]["response"], cand["response"]
    for i, e in enumerate(ref["e_inc_mev"]):
        console.print(
            f"  E = {e / 1000:.0f} GeV: sigma/E reference {ref['resolution'][i]:.4f}, "
            f"generated {gen['resolution'][i]:.4f}; mean E/E_inc reference "
            f"{ref['linearity'][i]:.4f}, generated {gen['linearity'][i]:.4f}"
        )
    fastest = max(
        (r for r in bench["rows"] if r["what"] != "cascade"), key=lambda r: r["showers_per_s"]
    )
    cascade = next(r for r in bench["rows"] if r["what"] == "cascade")
    console.print(
        f"cascade MC: {cascade['per_shower_s'] * 1e3:.1f} ms per 50 GeV shower; fastest generation: "
        f"{fastest['backend']}, {fastest['threads']} thread(s), batch {fastest['batch']}: "
        f"{fastest['showers_per_s']:,.0f} showers/s = {fastest['speedup_vs_cascade']:,.0f}x the "
        "cascade MC"
    )
    console.print(f"everything is in {OUT}/ ; demo wall time {wall_s / 60:.1f} min")
    summary = {
        "wall_s": wall_s,
        "auc_low_level": clf["low_level"],
        "auc_high_level": clf["high_level"],
        "worst_separation": {k: v["separation"] for k, v in seps},
        "resolution_reference": ref["resolution"],
        "resolution_generated": gen["resolution"],
        "fastest_showers_per_s": fastest["showers_per_s"],
        "speedup_vs_cascade": fastest["speedup_vs_cascade"],
    }
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    with warnings_as_lines():  # "warning: ..." lines, not Python's file:line format
        sys.exit(main())
