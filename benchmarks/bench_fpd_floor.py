"""FPD of two independent samples of one distribution against its stated floor (issue: FPD of
two 20k GFlash samples was 4.0 while a classifier gave AUC 0.50).

Simulates (or reuses) two GFlash calochallenge-2 files with different seeds (photons,
1 GeV - 1 TeV log-uniform), runs :func:`caloforge.evaluation.evaluate` without the classifier
(the FPD/KPD path of every report: high-level features, normal scores, 1/N extrapolation without
replacement) and writes ``results/fpd_floor.{json,md}``: the FPD of the pair beside
``fpd_floor`` (disjoint halves of the reference), which must agree within errors.

    python benchmarks/bench_fpd_floor.py --n 20000 --workdir /tmp/fpd
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from caloforge.evaluation import evaluate
from caloforge.geometry import get_geometry
from caloforge.provenance import machine_description, versions
from caloforge.simulation import simulate_to_file
from caloforge.simulation.gun import ParticleGun

RESULTS = Path(__file__).parent / "results"


def _sample(workdir: Path, n: int, seed: int) -> Path:
    out = workdir / f"gflash-cc2-{n}-seed{seed}.h5"
    if not out.exists():
        gun = ParticleGun("photon", energy_range_mev=(1e3, 1e6), log_uniform=True)
        simulate_to_file(get_geometry("calochallenge-2"), gun, n, out, seed=seed, engine="gflash")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="showers per sample")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/caloforge-fpd-floor"))
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    a, b = _sample(args.workdir, args.n, 11), _sample(args.workdir, args.n, 12)
    t0 = time.perf_counter()
    metrics = evaluate(a, [b], labels=["seed-12"], classifier=False, n_bootstrap=0)
    fpd = metrics["candidates"]["seed-12"]["fpd"]
    kpd = metrics["candidates"]["seed-12"]["kpd"]
    pull = (fpd["value"] - fpd["floor"]) / (fpd["error"] ** 2 + fpd["floor_error"] ** 2) ** 0.5
    record = {
        "command": " ".join(["python", *sys.argv]),
        "n_per_sample": args.n,
        "fpd": fpd,
        "kpd": kpd,
        "pull_fpd_minus_floor": pull,
        "seconds": time.perf_counter() - t0,
        "machine": machine_description(),
        "versions": versions("numpy", "scipy"),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fpd_floor.json").write_text(json.dumps(record, indent=2) + "\n")
    (RESULTS / "fpd_floor.md").write_text(
        "# FPD of two independent samples against its floor\n\n"
        f"Command: `{record['command']}` (GFlash calochallenge-2 photons, 1 GeV-1 TeV "
        f"log-uniform, seeds 11 and 12, {args.n} showers each)\n\n"
        "| quantity | value |\n|---|---|\n"
        f"| FPD (seed 11 vs seed 12) | {fpd['value']:.4f} +- {fpd['error']:.4f} |\n"
        f"| FPD floor (disjoint halves of seed 11) | {fpd['floor']:.4f} +- "
        f"{fpd['floor_error']:.4f} |\n"
        f"| (FPD - floor) / error | {pull:+.2f} |\n"
        f"| KPD | {kpd['value']:.5f} +- {kpd['error']:.5f} |\n\n"
        "Before the fix (batches drawn with replacement, standardised features) the same pair "
        "gave FPD 4.00 +- 0.12 with a classifier AUC of 0.50: the 1/N extrapolation only "
        "reached the distance of the two finite samples.\n"
    )
    print(json.dumps({k: record[k] for k in ("fpd", "kpd", "pull_fpd_minus_floor")}, indent=2))


if __name__ == "__main__":
    main()
