"""Generation speed from C++ (deploy/cpp, LibTorch + an AOTInductor package) beside the Python
back-ends, in the same run: showers per second at batch 1 and 10 000 on 1 and 2 threads, the
size of what a C++ deployment ships (the LibTorch libraries the driver loads + the .pt2) and the
C++ process's peak resident memory.

Each figure is the median of up to 50 calls after one warm-up, stopping once ``--budget``
seconds are spent (:func:`caloforge.bench.timing.time_call`; the C++ driver's ``--time`` mode
does the same). Python: the ``torch`` (eager) and ``onnxruntime`` back-ends of
:mod:`caloforge.generation` and the same ``.pt2`` loaded in Python, on inputs placed before the
clock starts. C++: ``forward`` is the same (prepared inputs), ``generate`` adds the noise draw and
condition encoding of ``ShowerGenerator::Generate``. Without ``--model`` the ``wgan-gp`` default
architecture with untrained weights is timed (a dense network's time does not depend on them).

    python benchmarks/bench_cpp.py [--model DIR] [--energy-gev 50] [--budget 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_generation import default_model

from caloforge.bench.timing import time_call
from caloforge.export.aoti import export_aoti
from caloforge.export.onnx import export_onnx
from caloforge.generation import OnnxBackend, TorchBackend
from caloforge.io import atomic_write_text
from caloforge.models import load_model
from caloforge.provenance import machine_description, versions

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DRIVER = REPO / "deploy" / "cpp" / "build" / "caloforge-cpp-generate"
BATCHES = (1, 10_000)
THREADS = (1, 2)


def build_driver() -> Path:
    """`make cpp` with this interpreter's torch (incremental: reuses deploy/cpp/build)."""
    bin_dir = Path(sys.executable).parent
    subprocess.run(["make", "-C", str(REPO), "cpp", "STAMP=", f"BIN={bin_dir}"], check=True)
    return DRIVER


def shipped_libraries(driver: Path) -> dict[str, int]:
    """Bytes of each shared library the driver loads from the wheel's torch/lib (ldd)."""
    torch_lib = Path(torch.__file__).parent / "lib"
    out = subprocess.run(["ldd", str(driver)], capture_output=True, text=True, check=True).stdout
    sizes = {}
    for path in re.findall(r"=> (\S+) \(", out):
        p = Path(path).resolve()
        if p.parent == torch_lib.resolve():
            sizes[p.name] = p.stat().st_size
    return sizes


def cpp_row(
    driver: Path,
    pt2: Path,
    energy: float,
    batch: int,
    threads: int,
    budget: float,
    wait_policy: str | None = None,
) -> Any:
    """The driver's --time JSON; ``wait_policy`` sets OMP_WAIT_POLICY (None: OpenMP's default)."""
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    env.pop("OMP_WAIT_POLICY", None)
    if wait_policy is not None:
        env["OMP_WAIT_POLICY"] = wait_policy
    command = [str(driver), "--model", str(pt2), "--energies", repr(energy), "--config", "0"]
    command += ["--batch", str(batch), "--threads", str(threads), "--time", str(budget)]
    res = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def python_rows(
    model_dir: Path, onnx: Path, pt2: Path, energy: float, batch: int, threads: int, budget: float
) -> dict[str, float]:
    """Showers per second of each Python back-end on ``batch`` prepared showers."""
    from torch._inductor import aoti_load_package

    gen = load_model(model_dir).generator.eval()
    torch.set_num_threads(threads)
    ort = OnnxBackend(onnx, threads=threads)
    torch_backend = TorchBackend(gen, "cpu")
    noise = np.random.default_rng(0).standard_normal((batch, gen.noise_dim), np.float32)
    cond = torch_backend.encode_conditions(np.full(batch, energy), np.zeros(batch, np.int64))
    compiled = aoti_load_package(str(pt2))
    z, c = torch.from_numpy(noise), torch.from_numpy(cond)

    def aoti_call() -> object:
        with torch.inference_mode():
            return compiled(z, c)

    timers = {
        "python_torch_eager": torch_backend.timer(noise, cond),
        "python_onnxruntime": ort.timer(noise, cond),
        "python_aoti": aoti_call,
    }
    return {
        name: time_call(fn, batch, budget_s=budget).showers_per_s for name, fn in timers.items()
    }


def load_note() -> tuple[str, list[float]]:
    load = list(os.getloadavg())
    cores = os.cpu_count() or 1
    busy = load[0] > 0.5
    note = f"load average {load[0]:.2f} on {cores} cores"
    return ("on a loaded machine (" + note + ")" if busy else note), load


def to_markdown(result: dict[str, Any], command: str) -> str:
    m = result["machine"]
    lines = [
        "# Generation from C++ (LibTorch + AOTInductor) beside Python",
        "",
        f"Command: `{command}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['time_utc']}; "
        f"{result['load']}  ",
        f"Model: {result['model_note']}, {result['energy_mev']:g} MeV, configuration 0  ",
        "Timing: median of up to 50 calls after one warm-up within "
        f"{result['budget_s']:g} s per figure; showers per second.",
        "",
        "| threads | batch | C++ forward | C++ Generate | C++ forward, passive | "
        "C++ Generate, passive | Python AOTI | Python ONNX Runtime "
        "| Python torch eager | C++ peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['threads']} | {r['batch']} | {r['cpp_forward']:,.0f} | "
            f"{r['cpp_generate']:,.0f} | {r['cpp_forward_passive']:,.0f} | "
            f"{r['cpp_generate_passive']:,.0f} | {r['python_aoti']:,.0f} | "
            f"{r['python_onnxruntime']:,.0f} | {r['python_torch_eager']:,.0f} | "
            f"{r['cpp_peak_rss_mib']:.0f} |"
        )
    size = result["deployment_bytes"]
    libs = ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sorted(size["libraries"].items()))
    lines += [
        "",
        f"Deployment size: {size['total'] / 2**20:.1f} MiB = LibTorch libraries loaded by the "
        f"driver ({libs}) + the .pt2 package {size['pt2'] / 2**20:.2f} MiB + the driver "
        f"{size['driver'] / 2**20:.2f} MiB (for comparison, the ONNX file is "
        f"{size['onnx'] / 2**20:.2f} MiB).  ",
        f"C++ model load (package unzip + dlopen): {result['cpp_load_s']:.2f} s.",
        "",
        "C++ forward = the compiled graph on prepared inputs (as the Python columns); C++ "
        "Generate = ShowerGenerator::Generate: own-RNG noise + condition encoding + forward. "
        "Peak RSS is the whole C++ process's (VmHWM) after its timing run at that batch. "
        "'passive': the same C++ run with OMP_WAIT_POLICY=PASSIVE (OpenMP threads sleep at "
        "barriers instead of spinning); the other C++ columns use OpenMP's default. With more "
        "runnable processes than cores, spinning threads wait on partners that are not running.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--energy-gev", type=float, default=50.0)
    ap.add_argument("--budget", type=float, default=2.0)
    ap.add_argument("--name", default="cpp_generation")
    args = ap.parse_args()
    energy = args.energy_gev * 1000
    driver = build_driver()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or default_model(Path(tmp))
        onnx = export_onnx(model, Path(tmp) / "model.onnx").path
        pt2 = export_aoti(model, Path(tmp) / "model.pt2").path
        for threads in THREADS:
            for batch in BATCHES:
                cpp = cpp_row(driver, pt2, energy, batch, threads, args.budget)
                passive = cpp_row(driver, pt2, energy, batch, threads, args.budget, "PASSIVE")
                py = python_rows(model, onnx, pt2, energy, batch, threads, args.budget)
                rows.append(
                    {
                        "threads": threads,
                        "batch": batch,
                        "cpp_forward": cpp["forward_showers_per_s"],
                        "cpp_generate": cpp["generate_showers_per_s"],
                        "cpp_forward_passive": passive["forward_showers_per_s"],
                        "cpp_generate_passive": passive["generate_showers_per_s"],
                        "cpp_peak_rss_mib": cpp["peak_rss_kib"] / 1024,
                        "cpp_load_s": cpp["load_s"],
                        **py,
                    }
                )
                print(rows[-1], flush=True)
        libs = shipped_libraries(driver)
        files = {"pt2": pt2.stat().st_size, "driver": driver.stat().st_size}
        files["onnx"] = onnx.stat().st_size
    total = sum(libs.values()) + files["pt2"] + files["driver"]
    sizes: dict[str, Any] = {"libraries": libs, **files, "total": total}
    note, load = load_note()
    result = {
        "machine": machine_description(),
        "versions": versions(),
        "load": note,
        "load_average": load,
        "model_note": f"trained model {args.model}"
        if args.model
        else "wgan-gp default architecture, untrained",
        "energy_mev": energy,
        "budget_s": args.budget,
        "rows": rows,
        "cpp_load_s": float(np.median([r["cpp_load_s"] for r in rows])),
        "deployment_bytes": sizes,
    }
    command = "python " + shlex.join(["benchmarks/bench_cpp.py", *sys.argv[1:]])
    result["command"] = command
    atomic_write_text(RESULTS / f"{args.name}.json", json.dumps(result, indent=2) + "\n")
    md = to_markdown(result, command)
    atomic_write_text(RESULTS / f"{args.name}.md", md)
    print(md)


if __name__ == "__main__":
    main()
