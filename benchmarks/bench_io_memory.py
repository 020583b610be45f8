"""Peak memory of streaming a large shower file (issue 2 acceptance: < 300 MB).

Writes N showers of the 368-cell ``calochallenge-1-photons`` geometry in chunks to a temporary
file, then, in a fresh process, reads it back chunk by chunk with ``iter_showers`` summing the
energies, and records the peak resident memory of the reading process.

    .venv/bin/python benchmarks/bench_io_memory.py [--n 1000000] [--chunk 16384]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from caloforge.provenance import machine_description, versions

RESULTS = Path(__file__).parent / "results"


def write_file(path: Path, n: int, chunk: int) -> None:
    from caloforge.geometry import get_geometry
    from caloforge.io import ShowerWriter
    from caloforge.showerset import ShowerSet

    g = get_geometry("calochallenge-1-photons")
    rng = np.random.default_rng(0)
    with ShowerWriter(path, g, particle="photon") as w:
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            cells = rng.exponential(5.0, (m, g.n_cells)).astype(np.float32)
            w.append(ShowerSet(rng.uniform(256.0, 4.2e6, m), cells, g))


def read_file(path: Path, chunk: int) -> dict[str, float]:
    from caloforge.io import iter_showers

    t0 = time.perf_counter()
    n, total = 0, 0.0
    for part in iter_showers(path, chunk_size=chunk):
        n += len(part)
        total += float(part.total_energy.sum())
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB
    return {"n_read": n, "read_seconds": seconds, "peak_rss_mb": peak_mb, "sum_mev": total}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=16384)
    ap.add_argument("--read", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.read:  # child process: only the read is measured
        print(json.dumps(read_file(args.read, args.chunk)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.h5"
        t0 = time.perf_counter()
        write_file(path, args.n, args.chunk)
        write_s = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
        out = subprocess.run(
            [sys.executable, __file__, "--read", str(path), "--chunk", str(args.chunk)],
            check=True,
            capture_output=True,
            text=True,
        )
        child = json.loads(out.stdout)
    result = {
        "benchmark": "streamed read of a large shower file",
        "command": f"python benchmarks/bench_io_memory.py --n {args.n} --chunk {args.chunk}",
        "machine": machine_description(),
        "versions": versions("numpy", "h5py"),
        "geometry": "calochallenge-1-photons",
        "n_showers": args.n,
        "chunk_size": args.chunk,
        "file_size_mb": size_mb,
        "write_seconds": write_s,
        **child,
        "target_peak_rss_mb": 300,
    }
    result["passes"] = result["peak_rss_mb"] < 300 and child["n_read"] == args.n
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "io_memory.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
