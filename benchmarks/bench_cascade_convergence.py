"""Step-size convergence of the cascade MC: every e± step limit multiplied by ``step_scale``
(:class:`~caloforge.simulation.cascade.Cuts`), recorded in benchmarks/results:

1. stacks: photons on ``calochallenge-2`` and ``ild-ecal`` at 3 and 30 GeV and on
   ``atlas-em-barrel`` at 10 GeV, at step_scale 1, 0.5 and 0.25: the sampling fraction (sum of
   the cells / E), the energy-weighted r.m.s. radius about each shower's own centroid (mm, over
   all cells, from ``Geometry.cell_centres_mm``), the number of cells with a deposit and of
   cells above CaloChallenge's read-out threshold (15.15 keV), each a mean over showers with
   its standard error; and the relative change of each from step_scale 1.
   The showers use the same seeds at every scale (the same gun sample), but their histories
   part after the first e± step, so the errors of the changes are those of independent samples.
2. blocks: the 1 R_M and 2 R_M containment of 10 GeV electrons in a Pb block read out in
   0.25 X0 and in 0.05 X0 slices (slicing must not change the shower).

Each row is appended to ``<out>.json`` as it is measured (``--label`` names the physics
version measured, so that a "before" and an "after" sit in one file); ``<out>.md`` is written
from all rows at the end.

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cascade_convergence.py --label after
        [--scale 1.0] [--parts stacks,blocks] [--out benchmarks/results/cascade_convergence]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from caloforge.geometry import Geometry, get_geometry
from caloforge.provenance import machine_description
from caloforge.simulation.cascade import TRANSPORT_VERSION, Cuts, run_cascade
from caloforge.simulation.cascade.textbook import containment, homogeneous_block
from caloforge.simulation.gun import ParticleGun

STEP_SCALES = (1.0, 0.5, 0.25)
# (geometry, GeV, showers): sized for a standard error of ~0.3% on the sampling fraction
STACK_CASES = (
    ("calochallenge-2", 3, 1000),
    ("calochallenge-2", 30, 150),
    ("ild-ecal", 3, 1500),
    ("ild-ecal", 30, 200),
    ("atlas-em-barrel", 10, 400),
)
BLOCK_SLICES_X0 = (0.25, 0.05)
#: CaloChallenge's cell read-out threshold (MeV): 0.5 keV visible over its 0.033 sampling
READOUT_THRESHOLD_MEV = 0.01515
BLOCK_SHOWERS = 200


def shower_observables(geometry: Geometry, cells: np.ndarray, e_mev: float) -> dict[str, float]:
    """Means over showers (and standard errors) of the sampling fraction, the r.m.s. radius
    (mm) and the number of hit cells of ``cells`` (N, n_cells) MeV."""
    cells = np.asarray(cells, dtype=float)
    xy = geometry.cell_centres_mm()
    tot = cells.sum(axis=1)
    w = cells / np.where(tot > 0, tot, 1.0)[:, None]
    cx, cy = w @ xy[:, 0], w @ xy[:, 1]
    r2 = w @ (xy[:, 0] ** 2 + xy[:, 1] ** 2) - cx**2 - cy**2
    per_shower = {
        "sampling_fraction": tot / e_mev,
        "rms_radius_mm": np.sqrt(np.maximum(r2, 0.0)),
        "hit_cells": (cells > 0).sum(axis=1).astype(float),
        "hit_cells_readout": (cells > READOUT_THRESHOLD_MEV).sum(axis=1).astype(float),
    }
    out: dict[str, float] = {}
    for key, v in per_shower.items():
        out[key] = float(v.mean())
        out[key + "_err"] = float(v.std(ddof=1) / np.sqrt(len(v)))
    return out


def stacks(scale: float, label: str, sink: Path) -> None:
    for name, e_gev, n in STACK_CASES:
        g = get_geometry(name)
        n = max(20, int(n * scale))
        sample = ParticleGun("photon", energies_mev=(1000.0 * e_gev,)).sample(n, g, seed=1601)
        for f in STEP_SCALES:
            t0 = time.perf_counter()
            cells = run_cascade(g, sample, workers=1, cuts=Cuts(step_scale=f)).cells
            wall = time.perf_counter() - t0
            row = {
                "part": "stacks",
                "label": label,
                "transport_version": TRANSPORT_VERSION,
                "geometry": name,
                "energy_gev": e_gev,
                "n_showers": n,
                "step_scale": f,
                "ms_per_shower": 1000 * wall / n,
                **shower_observables(g, cells, 1000.0 * e_gev),
            }
            _append(sink, row)


def blocks(scale: float, label: str, sink: Path) -> None:
    n = max(20, int(BLOCK_SHOWERS * scale))
    for slice_x0 in BLOCK_SLICES_X0:
        g = homogeneous_block("Pb", depth_x0=30.0, slice_x0=slice_x0)
        sample = ParticleGun("electron", energies_mev=(10_000.0,)).sample(n, g, seed=1602)
        t0 = time.perf_counter()
        cells = run_cascade(g, sample, workers=1).cells
        wall = time.perf_counter() - t0
        row: dict[str, object] = {
            "part": "blocks",
            "label": label,
            "transport_version": TRANSPORT_VERSION,
            "material": "Pb",
            "energy_gev": 10,
            "slice_x0": slice_x0,
            "n_showers": n,
            "ms_per_shower": 1000 * wall / n,
        }
        for k in (1, 2):
            c = containment(g, cells, k)
            row[f"containment_{k}rm"] = float(c.mean())
            row[f"containment_{k}rm_err"] = float(c.std(ddof=1) / np.sqrt(n))
        _append(sink, row)


def _load(sink: Path) -> dict:
    if sink.exists():
        return json.loads(sink.read_text())
    return {"machine": machine_description(), "commands": {}, "rows": []}


def _append(sink: Path, row: dict[str, object]) -> None:
    print(json.dumps(row), flush=True)
    data = _load(sink)
    data["rows"] = [r for r in data["rows"] if not _same_case(r, row)] + [row]
    sink.write_text(json.dumps(data, indent=1))


def _same_case(a: dict[str, object], b: dict[str, object]) -> bool:
    keys = ("part", "label", "geometry", "energy_gev", "step_scale", "slice_x0")
    return all(a.get(k) == b.get(k) for k in keys)


def _change(row: dict, ref: dict, key: str) -> str:
    d = row[key] / ref[key] - 1
    err = np.hypot(row[key + "_err"] / row[key], ref[key + "_err"] / ref[key])
    return f"{100 * d:+.2f} +- {100 * err:.2f}"


def _readout_cells(row: dict, ref: dict) -> str:
    """The hits above the read-out threshold and their change (rows measured before this
    column existed: not measured)."""
    if "hit_cells_readout" not in row or "hit_cells_readout" not in ref:
        return "- | -"
    return (
        f"{row['hit_cells_readout']:.1f} +- {row['hit_cells_readout_err']:.1f} | "
        f"{_change(row, ref, 'hit_cells_readout')}"
    )


def markdown(rows: list[dict], commands: dict[str, str]) -> str:
    lines = [
        "# Cascade MC step-size convergence",
        "",
        "Commands (one per label):",
        "",
        *(f"- {label}: `{cmd}`" for label, cmd in commands.items()),
        "",
        "Photons; observables are means over showers with their standard errors; the changes",
        "are relative to step_scale 1 of the same label (%, independent-sample errors).",
        "Times are on a loaded shared machine (2 cores, 5 agents), one worker.",
        "",
    ]
    labels = list(dict.fromkeys(r["label"] for r in rows))
    for label in labels:
        stack_rows = [r for r in rows if r["label"] == label and r["part"] == "stacks"]
        if stack_rows:
            lines += [
                f"## {label} (transport {stack_rows[0]['transport_version']}): stacks",
                "",
                "| geometry | E (GeV) | n | step_scale | ms/shower | sampling fraction | "
                "change % | r.m.s. radius (mm) | change % | hit cells | change % | "
                "above 15.15 keV | change % |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            ]
            for r in stack_rows:
                ref = next(
                    q
                    for q in stack_rows
                    if q["geometry"] == r["geometry"]
                    and q["energy_gev"] == r["energy_gev"]
                    and q["step_scale"] == 1.0
                )
                lines.append(
                    f"| {r['geometry']} | {r['energy_gev']} | {r['n_showers']} | "
                    f"{r['step_scale']} | {r['ms_per_shower']:.1f} | "
                    f"{r['sampling_fraction']:.5f} +- {r['sampling_fraction_err']:.5f} | "
                    f"{_change(r, ref, 'sampling_fraction')} | "
                    f"{r['rms_radius_mm']:.3f} +- {r['rms_radius_mm_err']:.3f} | "
                    f"{_change(r, ref, 'rms_radius_mm')} | "
                    f"{r['hit_cells']:.1f} +- {r['hit_cells_err']:.1f} | "
                    f"{_change(r, ref, 'hit_cells')} | {_readout_cells(r, ref)} |"
                )
            lines.append("")
        block_rows = [r for r in rows if r["label"] == label and r["part"] == "blocks"]
        if block_rows:
            lines += [
                f"## {label} (transport {block_rows[0]['transport_version']}): Pb block, "
                "10 GeV electrons, slicing",
                "",
                "| slice (X0) | n | ms/shower | 1 R_M | 2 R_M |",
                "|---|---|---|---|---|",
            ]
            for r in block_rows:
                lines.append(
                    f"| {r['slice_x0']} | {r['n_showers']} | {r['ms_per_shower']:.1f} | "
                    f"{r['containment_1rm']:.4f} +- {r['containment_1rm_err']:.4f} | "
                    f"{r['containment_2rm']:.4f} +- {r['containment_2rm_err']:.4f} |"
                )
            lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--label", required=True, help="name of the physics version measured")
    ap.add_argument("--scale", type=float, default=1.0, help="shower-count scale")
    ap.add_argument("--parts", default="stacks,blocks")
    ap.add_argument("--out", default="benchmarks/results/cascade_convergence")
    args = ap.parse_args()
    sink = Path(args.out + ".json")
    data = _load(sink)
    data["commands"][args.label] = "NUMBA_NUM_THREADS=1 python " + " ".join(sys.argv)
    sink.write_text(json.dumps(data, indent=1))
    parts = args.parts.split(",")
    warm = get_geometry("calochallenge-2")
    run_cascade(warm, ParticleGun("photon", energies_mev=(100.0,)).sample(1, warm, seed=0))
    if "stacks" in parts:
        stacks(args.scale, args.label, sink)
    if "blocks" in parts:
        blocks(args.scale, args.label, sink)
    data = _load(sink)
    Path(args.out + ".md").write_text(markdown(data["rows"], data["commands"]))


if __name__ == "__main__":
    main()
