"""Simulation throughput on a local Dask cluster with 1 and 2 worker processes.

    .venv/bin/python benchmarks/bench_dask.py [--n 300] [--out benchmarks/results/dask_simulate]

Cascade MC, 10 GeV photons on ``atlas-em-barrel`` (default cuts), one engine thread per task.
For each worker count a fresh ``LocalCluster`` of single-threaded worker processes is started
(timed apart: ``startup_s``), a warm-up job loads the compiled kernel on every worker, then
:func:`caloforge.scale.simulate_on_dask` is timed end to end (tasks, transfers and the atomic
merge: ``job_s``). The reference is :func:`caloforge.simulation.simulate_to_file` in this process
with one thread; every Dask output is checked to hold exactly its showers. Writes ``<out>.json``
and ``<out>.md`` with the command and ``caloforge.provenance.machine_description()``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from distributed import Client, LocalCluster

from caloforge.io import read_showers
from caloforge.provenance import machine_description, versions
from caloforge.scale.dask import simulate_on_dask
from caloforge.simulation import simulate_to_file
from caloforge.simulation.gun import ParticleGun

GEOMETRY, ENERGY_MEV, SEED = "atlas-em-barrel", 10_000.0, 11


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="showers per job")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/dask_simulate"))
    args = ap.parse_args()
    gun = ParticleGun("photon", energies_mev=(ENERGY_MEV,))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "local.h5"
        simulate_to_file(GEOMETRY, gun, 4, ref, seed=SEED, workers=1, progress=False)  # compile
        t0 = time.perf_counter()
        simulate_to_file(
            GEOMETRY, gun, args.n, ref, seed=SEED, workers=1, progress=False, overwrite=True
        )
        local_s = time.perf_counter() - t0
        reference = read_showers(ref)
        rows.append(
            {"mode": "local (simulate_to_file, 1 thread)", "workers": 1, "startup_s": 0.0}
            | {"job_s": local_s, "showers_per_s": args.n / local_s}
        )
        print(json.dumps(rows[-1]), flush=True)
        for w in args.workers:
            t0 = time.perf_counter()
            cluster = LocalCluster(
                n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None
            )
            with cluster, Client(cluster) as client:
                startup = time.perf_counter() - t0
                warm = Path(tmp) / f"warm{w}.h5"
                simulate_on_dask(GEOMETRY, gun, 2 * w, warm, seed=SEED, client=client, part_size=1)
                out = Path(tmp) / f"dask{w}.h5"
                t0 = time.perf_counter()
                res = simulate_on_dask(GEOMETRY, gun, args.n, out, seed=SEED, client=client)
                job = time.perf_counter() - t0
            got = read_showers(out)
            same = bool(np.array_equal(got.cells, reference.cells)) and len(got) == args.n
            rows.append(
                {"mode": "dask LocalCluster (processes)", "workers": w, "startup_s": startup}
                | {"job_s": job, "showers_per_s": args.n / job, "parts": res.attrs["dask"]["parts"]}
                | {"same_showers_as_local": same}
            )
            print(json.dumps(rows[-1]), flush=True)
    dask_rows = [r for r in rows if r["mode"].startswith("dask")]
    speedup = (
        dask_rows[-1]["showers_per_s"] / dask_rows[0]["showers_per_s"]
        if len(dask_rows) > 1
        else None
    )
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "what": f"cascade, {ENERGY_MEV / 1e3:g} GeV photons, {GEOMETRY}, {args.n} showers, seed {SEED}",
        "machine": machine_description() | {"load_avg_1m": os.getloadavg()[0]},
        "versions": versions("numpy", "numba", "dask", "distributed"),
        "rows": rows,
        "speedup_last_vs_first_worker_count": speedup,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    lines = [
        "# Simulation on a local Dask cluster",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Job: {report['what']}; one engine thread per task, parts merged atomically.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}; "
        f"load average (1 min) at the end of the run {m['load_avg_1m']:.2f}.",
        "",
        "| mode | workers | cluster start (s) | job (s) | showers/s | same showers as local |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        same = r.get("same_showers_as_local", "reference")
        lines.append(
            f"| {r['mode']} | {r['workers']} | {r['startup_s']:.1f} | {r['job_s']:.2f} | "
            f"{r['showers_per_s']:.1f} | {same} |"
        )
    if speedup is not None:
        lines += [
            "",
            f"Throughput with {args.workers[-1]} workers / {args.workers[0]}: {speedup:.2f}x.",
        ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
