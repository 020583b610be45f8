"""Speed of the cascade MC: ms per shower at 1, 10 and 100 GeV on ``atlas-em-barrel`` and
``calochallenge-2``, with 1 and 2 workers (photons, default cuts).

    .venv/bin/python benchmarks/bench_cascade.py [--out benchmarks/results/cascade_speed]

Writes ``<out>.json`` and ``<out>.md`` with the command and the machine. The numba kernel is
compiled (or loaded from its cache) by a warm-up call before timing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from caloforge.geometry import get_geometry
from caloforge.provenance import machine_description, versions
from caloforge.simulation import simulate
from caloforge.simulation.cascade import Cuts
from caloforge.simulation.gun import ParticleGun

#: showers timed per energy (GeV): enough for ~1 s per point on one core
N_SHOWERS = {1: 60, 10: 12, 100: 3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/cascade_speed")
    parser.add_argument("--particle", default="photon")
    args = parser.parse_args()
    rows = []
    for name in ("atlas-em-barrel", "calochallenge-2"):
        geometry = get_geometry(name)
        simulate(geometry, ParticleGun(args.particle, energies_mev=(1000.0,)), 2, progress=False)
        for e_gev, n in N_SHOWERS.items():
            gun = ParticleGun(args.particle, energies_mev=(1000.0 * e_gev,))
            for workers in (1, 2):
                t0 = time.perf_counter()
                res = simulate(geometry, gun, n, seed=1, workers=workers, progress=False)
                wall = time.perf_counter() - t0
                rows.append(
                    {
                        "geometry": name,
                        "energy_gev": e_gev,
                        "workers": workers,
                        "n_showers": n,
                        "ms_per_shower": 1e3 * res.seconds / n,
                        "ms_per_shower_wall": 1e3 * wall / n,
                        "mean_sampling_fraction": res.mean_sampling_fraction,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_description(),
        "versions": versions("numba", "numpy"),
        "particle": args.particle,
        "cuts": Cuts().to_dict(),
        "target": "<= 20 ms per 10 GeV shower on one core",
        "rows": rows,
    }
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Cascade MC speed",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"{report['machine']['os']}, numba {report['versions']['numba']}",
        "",
        f"{args.particle}s, default cuts {report['cuts']}; time of the engine calls (kernel "
        "loaded from the numba cache beforehand).",
        "",
        "| geometry | E (GeV) | workers | showers | ms / shower | sampling fraction |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['geometry']} | {r['energy_gev']} | {r['workers']} | {r['n_showers']} | "
            f"{r['ms_per_shower']:.1f} | {r['mean_sampling_fraction']:.4f} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
