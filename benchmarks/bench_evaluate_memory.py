"""Peak memory of ``caloforge.evaluation.evaluate`` on 100k x 6480-cell showers.

Writes a synthetic reference and candidate (``calochallenge-2`` geometry, 45 layers x 16 alpha
x 9 r; Gamma longitudinal profile, exponential radial profile, log-normal cell fluctuations,
a 15 keV cell threshold) to a work folder in chunks, then runs the full evaluation (observables,
separation power, W1, FPD, KPD, both classifiers with at most 5 epochs, HTML report) in a child process and records
the child's peak resident set size (``ru_maxrss``) with the wall time, the command and the
machine in ``benchmarks/results/evaluate_memory.json``.

    .venv/bin/python benchmarks/bench_evaluate_memory.py [--showers 100000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.special import gammainc

from caloforge.geometry import get_geometry
from caloforge.io import ShowerWriter
from caloforge.showerset import ShowerSet

RESULT = Path(__file__).parent / "results" / "evaluate_memory.json"
GEOMETRY = "calochallenge-2"


def write_synthetic(path: Path, n: int, seed: int, chunk: int = 5000) -> None:
    """Write ``n`` synthetic showers in chunks (memory: one chunk)."""
    geo = get_geometry(GEOMETRY)
    seg = geo.layers[0].segmentation
    r = seg.centres()[:, 0]  # (144,) per layer, alpha-major
    bounds = np.concatenate([[0.0], np.cumsum([ly.x0 for ly in geo.layers])])
    rng = np.random.default_rng(seed)
    with ShowerWriter(path, geo, particle="electron", attrs={"engine": "bench-synthetic"}) as w:
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            e_inc = np.exp(rng.uniform(np.log(1e3), np.log(1e6), m))
            a = 1.0 + 0.5 * (np.log(e_inc / 8.0) - 0.5) * (1 + 0.1 * rng.standard_normal(m))
            frac = np.diff(gammainc(a[:, None], 0.5 * bounds[None, :]), axis=1)  # (m, 45)
            radius = 4.0 * (1 + 0.2 * rng.standard_normal((m, 1)))
            lateral = np.exp(-r[None, :] / np.abs(radius))  # (m, 144)
            lateral /= lateral.sum(axis=1, keepdims=True)
            cells = np.empty((m, geo.n_cells), dtype=np.float32)
            for i in range(geo.n_layers):
                noise = rng.lognormal(0.0, 0.5, (m, seg.n_cells)).astype(np.float32)
                layer = (0.015 * e_inc * frac[:, i])[:, None] * lateral * noise
                cells[:, geo.layer_slice(i)] = np.where(layer > 0.015, layer, 0.0)
            w.append(ShowerSet(e_inc, cells, geo, "electron"))


def _child(reference: Path, candidate: Path, out: Path) -> None:
    from caloforge.evaluation import ClassifierConfig, evaluate

    t0 = time.perf_counter()
    # memory does not depend on the number of epochs; 5 keep the 2-core run short
    metrics = evaluate(
        reference,
        candidate,
        labels=["candidate"],
        out_dir=out,
        seed=0,
        classifier_config=ClassifierConfig(max_epochs=5),
    )
    c = metrics["candidates"]["candidate"]
    print(
        json.dumps(
            {
                "evaluate_wall_s": time.perf_counter() - t0,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "n_observables": len(c["observables"]),
                "auc_low_level": c["classifier"]["low_level"]["auc"],
                "auc_high_level": c["classifier"]["high_level"]["auc"],
                "fpd": c["fpd"],
                "kpd": c["kpd"],
                "warnings": metrics["warnings"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--showers", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_evaluate_"))
    work.mkdir(parents=True, exist_ok=True)
    ref, cand = work / "reference.h5", work / "candidate.h5"
    t0 = time.perf_counter()
    write_synthetic(ref, args.showers, seed=1)
    write_synthetic(cand, args.showers, seed=2)
    write_s = time.perf_counter() - t0
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(ref), str(cand), str(work / "report")],
        check=True,
        capture_output=True,
        text=True,
    )
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    children_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = {
        "benchmark": "evaluate peak memory",
        "geometry": GEOMETRY,
        "n_cells": get_geometry(GEOMETRY).n_cells,
        "showers_per_sample": args.showers,
        "file_size_gb_each": ref.stat().st_size / 1e9,
        "write_wall_s": write_s,
        **child,
        "peak_rss_mb_children": children_rss_mb,
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "memory_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9,
        },
        "report": str(work / "report" / "report.html"),
        "target_peak_rss_mb": 4000,
    }
    result["passes"] = result["peak_rss_mb"] < result["target_peak_rss_mb"]
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
