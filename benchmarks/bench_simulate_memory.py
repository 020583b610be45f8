"""Peak memory of ``caloforge simulate`` against the number of showers (issue 18: constant in N).

For each N, runs ``caloforge simulate --geometry calochallenge-2 --engine gflash --n N`` in a
fresh process (through a small wrapper process that reports its children's peak resident memory,
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``) with the default batch size, and records the
peaks and their spread in ``benchmarks/results/simulate_memory.{json,md}``.

    .venv/bin/python benchmarks/bench_simulate_memory.py [--n 1000,5000,20000]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from caloforge.provenance import machine_description, versions

RESULTS = Path(__file__).parent / "results"
#: runs the command given as arguments and prints the peak RSS of its process tree (KiB)
_WRAPPER = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def simulate_command(n: int, out: Path) -> list[str]:
    """The measured command (the CLI of the running interpreter's caloforge)."""
    return [
        sys.executable,
        "-m",
        "caloforge.cli",
        "simulate",
        "--geometry",
        "calochallenge-2",
        "--engine",
        "gflash",
        "--particle",
        "electron",
        "--energy-range",
        "1GeV:100GeV",
        "--log-uniform",
        "--n",
        str(n),
        "--seed",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]


def peak_rss_mib(n: int, folder: Path) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one simulate run of ``n`` showers."""
    out = folder / f"showers-{n}.h5"
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *simulate_command(n, out)],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    out.unlink()
    return int(done.stdout.strip().splitlines()[-1]) / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1000,5000,20000", help="comma-separated shower counts")
    args = parser.parse_args()
    counts = [int(v) for v in args.n.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            peak, seconds = peak_rss_mib(n, Path(tmp))
            rows.append({"n": n, "peak_rss_mib": round(peak, 1), "seconds": round(seconds, 1)})
            print(f"n={n}: peak RSS {peak:.1f} MiB, {seconds:.1f} s", flush=True)
    peaks = [r["peak_rss_mib"] for r in rows]
    spread = (max(peaks) - min(peaks)) / min(peaks)
    command = "python benchmarks/bench_simulate_memory.py --n " + args.n
    result = {
        "command": command,
        "measured_command": shlex.join(simulate_command(0, Path("OUT.h5"))).replace(
            "--n 0", "--n N"
        ),
        "runs": rows,
        "relative_spread": spread,
        "criterion": "(max - min) / min of the peak RSS <= 0.10",
        "passed": spread <= 0.10,
        "machine": machine_description(),
        "versions": versions("numpy", "numba", "h5py"),
        "note": "timings on a loaded machine (2 cores shared by several jobs)",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "simulate_memory.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# simulate: peak memory vs number of showers",
        "",
        f"Command: `{command}`; each run: `{result['measured_command']}` (default batch size),",
        "peak RSS of the simulate process from `getrusage(RUSAGE_CHILDREN)` in a wrapper process.",
        "",
        "| showers | peak RSS (MiB) | wall (s, loaded machine) |",
        "|---:|---:|---:|",
        *(f"| {r['n']} | {r['peak_rss_mib']:.1f} | {r['seconds']:.1f} |" for r in rows),
        "",
        f"Spread (max - min) / min: {spread:.1%} (criterion <= 10%: "
        f"{'met' if result['passed'] else 'NOT met'}).",
        "",
    ]
    (RESULTS / "simulate_memory.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
