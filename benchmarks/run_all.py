"""``make bench``: run the benchmarks whose results are recorded in benchmarks/results/.

The quick set (default, ~10 minutes on 2 cores) re-measures speed and memory figures; ``--all``
adds the long ones (cascade physics validation ~2 min, 100k x 6480 evaluation memory ~20 min,
model training benchmarks: hours on a CPU; they need the data made as in models.md).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
QUICK = [
    ["bench_io_memory.py"],
    ["bench_cascade.py"],
    ["bench_gflash.py", "--n", "500", "--budget", "1.0"],
    ["bench_generation.py"],
    ["bench_dask.py"],
]
LONG = [
    ["bench_cascade_physics.py"],
    ["bench_evaluate_memory.py"],
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="also the long benchmarks")
    args = ap.parse_args()
    failed = []
    for cmd in QUICK + (LONG if args.all else []):
        print(f"== {' '.join(cmd)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / cmd[0]), *cmd[1:]], check=False).returncode:
            failed.append(cmd[0])
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
