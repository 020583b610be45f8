"""Benchmark GFlash: milliseconds per shower by geometry, energy and thread count.

Usage::

    python benchmarks/bench_gflash.py --n 2000 --out benchmarks/results/gflash_cpu.json

Electrons at fixed energies; every configuration is run once to warm up (numba compile and
cache load) and then timed with :func:`caloforge.bench.timing.time_call` (median of repeats).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

import numba

from caloforge.bench.timing import time_call
from caloforge.geometry import get_geometry
from caloforge.provenance import machine_description, versions
from caloforge.simulation.gflash import run_gflash
from caloforge.simulation.gun import ParticleGun

GEOMETRIES = ("atlas-em-barrel", "calochallenge-2")
ENERGIES_GEV = (1.0, 10.0, 100.0)
WORKERS = (1, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="showers per timed batch")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of repeats per point")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gflash_cpu.json"))
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    rows = []
    for name in GEOMETRIES:
        geometry = get_geometry(name)
        for e_gev in ENERGIES_GEV:
            sample = ParticleGun("electron", (1000.0 * e_gev,)).sample(args.n, geometry, 1)
            for workers in WORKERS:
                if workers > numba.config.NUMBA_NUM_THREADS:
                    continue
                timing = time_call(
                    lambda g=geometry, s=sample, w=workers: run_gflash(g, s, workers=w),
                    args.n,
                    budget_s=args.budget,
                )
                row = {
                    "geometry": name,
                    "energy_gev": e_gev,
                    "workers": workers,
                    "n_showers": args.n,
                    "ms_per_shower": 1e3 * timing.per_shower_s,
                    "ms_per_shower_best": 1e3 * timing.seconds_best / args.n,
                    "repeats": timing.repeats,
                }
                rows.append(row)
                print(
                    f"{name:18s} {e_gev:6.0f} GeV  workers={workers}  "
                    f"{row['ms_per_shower']:.4f} ms/shower"
                )
    result = {
        "benchmark": "GFlash parametrised showers, electrons, ms per shower",
        "command": "python " + shlex.join(["benchmarks/bench_gflash.py", *sys.argv[1:]]),
        "machine": machine_description(),
        "versions": versions("numpy", "numba"),
        "numba_threads_available": numba.config.NUMBA_NUM_THREADS,
        # a shared machine: the 1-minute load before/after says how free the cores were
        "load_average_1min": [load_before[0], os.getloadavg()[0]],
        "target_ms_per_shower_10gev": 1.0,
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
