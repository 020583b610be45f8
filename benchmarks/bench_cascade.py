"""Speed of the cascade MC against GFlash in the same run: ms per shower at 1, 10 and 100 GeV
on ``atlas-em-barrel`` and ``calochallenge-2``, with 1 and 2 workers (photons, default cuts),
each cascade point followed by GFlash on the same gun sample, and their ratio; the e± step
census of each point (steps per shower, the share in passive slabs, µs per step).

    .venv/bin/python benchmarks/bench_cascade.py [--out benchmarks/results/cascade_speed]

Writes ``<out>.json`` and ``<out>.md`` with the command, the machine, its load average and the
transport version. The numba kernels are compiled (or loaded from their cache) by a warm-up
call before timing. The ratio is the figure to quote on a shared machine: both engines run
under the same load within seconds of each other.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from caloforge.geometry import get_geometry
from caloforge.provenance import machine_description, versions
from caloforge.simulation import simulate
from caloforge.simulation.cascade import TRANSPORT_VERSION, Cuts, run_cascade
from caloforge.simulation.gun import ParticleGun

#: showers timed per energy (GeV): enough for ~1 s per point on one core
N_SHOWERS = {1: 60, 10: 12, 100: 3}
#: GFlash is ~1000x faster: it makes this many times more showers per point
GFLASH_FACTOR = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/cascade_speed")
    parser.add_argument("--particle", default="photon")
    args = parser.parse_args()
    rows = []
    for name in ("atlas-em-barrel", "calochallenge-2"):
        geometry = get_geometry(name)
        warm = ParticleGun(args.particle, energies_mev=(1000.0,))
        for engine in ("cascade", "gflash"):
            simulate(geometry, warm, 2, engine=engine, progress=False)
        for e_gev, n in N_SHOWERS.items():
            gun = ParticleGun(args.particle, energies_mev=(1000.0 * e_gev,))
            sample = gun.sample(n, geometry, seed=1)
            for workers in (1, 2):
                t0 = time.perf_counter()
                out = run_cascade(geometry, sample, workers=workers)
                cascade_ms = 1e3 * (time.perf_counter() - t0) / n
                res = simulate(
                    geometry, gun, GFLASH_FACTOR * n, seed=1, engine="gflash", workers=workers,
                    progress=False,
                )  # fmt: skip
                gflash_ms = 1e3 * res.seconds / (GFLASH_FACTOR * n)
                assert out.charged_steps is not None
                assert out.passive_steps is not None
                steps = float(out.charged_steps.mean())
                rows.append(
                    {
                        "geometry": name,
                        "energy_gev": e_gev,
                        "workers": workers,
                        "n_showers": n,
                        "ms_per_shower": cascade_ms,
                        "gflash_ms_per_shower": gflash_ms,
                        "cascade_over_gflash": cascade_ms / gflash_ms,
                        "mean_sampling_fraction": float((out.visible() / sample.energy_mev).mean()),
                        "charged_steps_per_shower": steps,
                        "passive_step_share": float(
                            out.passive_steps.sum() / out.charged_steps.sum()
                        ),
                        "us_per_step_per_worker": 1e3 * cascade_ms * workers / steps,
                        "load_average_1min": os.getloadavg()[0],
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_description(),
        "versions": versions("numba", "numpy"),
        "particle": args.particle,
        "transport_version": TRANSPORT_VERSION,
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
        f"{args.particle}s, cascade transport version {TRANSPORT_VERSION}, default cuts "
        f"{report['cuts']}; time of the engine calls (kernels loaded from the numba cache "
        f"beforehand); GFlash on the same gun, {GFLASH_FACTOR}x the showers, right after each "
        "cascade point; the 1-minute load average after each point.",
        "",
        "| geometry | E (GeV) | workers | showers | cascade ms / shower | GFlash ms / shower "
        "| cascade / GFlash | sampling fraction | e± steps / shower | in passive slabs "
        "| µs / step (per worker) | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['geometry']} | {r['energy_gev']} | {r['workers']} | {r['n_showers']} | "
            f"{r['ms_per_shower']:.1f} | {r['gflash_ms_per_shower']:.3f} | "
            f"{r['cascade_over_gflash']:.0f} | {r['mean_sampling_fraction']:.4f} | "
            f"{r['charged_steps_per_shower']:.0f} | {100 * r['passive_step_share']:.0f}% | "
            f"{r['us_per_step_per_worker']:.2f} | {r['load_average_1min']:.1f} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
