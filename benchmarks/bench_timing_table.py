"""The 3DGAN-style timing table (issue 20): the cascade MC against every registered family that
supports the geometry, on the CPU with 1 and 2 threads, at batch 1 / 128 / 10 000, through
PyTorch and ONNX Runtime, in one run of the ``caloforge bench`` harness
(:mod:`caloforge.bench.harness`).

A family supports the geometry when its generator builds for it with the family's default
hyper-parameters (any family added to the registry is picked up). ``--model DIR`` times a
trained artifact instead of the untrained default of its family: the time per shower of a
network does not depend on its weights, and the result records which was used. Families or
batch sizes that were not run are listed in the output with the reason.

    python benchmarks/bench_timing_table.py --geometry clic-ecal --energy-gev 50 \\
        --batch-sizes 1 128 10000 --threads 1 2 [--model DIR ...] [--families gan3d ...]

Writes ``benchmarks/results/timing_table_<geometry>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from caloforge.bench.harness import BenchConfig, run_bench, write_results
from caloforge.geometry import get_geometry
from caloforge.models import ConditionEncoding, Preprocessing, load_model, save_model
from caloforge.models.registry import family_names, get_family

RESULTS = Path(__file__).parent / "results"


def default_models(
    geometry_name: str, folder: Path, families: list[str], have: set[str]
) -> tuple[list[Path], dict[str, str]]:
    """Untrained default-architecture artifacts of ``families`` (those not in ``have``) that
    build for the geometry; the others with the reason."""
    geometry = get_geometry(geometry_name)
    made, skipped = [], {}
    for name in families:
        if name in have:
            continue
        family = get_family(name)
        torch.manual_seed(0)
        try:
            gen = family.build_generator(
                geometry,
                ConditionEncoding(1e4, 1e5, geometry.alignment_configs),
                Preprocessing(),
                family.Config(),
            )
        except (ValueError, NotImplementedError) as exc:
            skipped[name] = f"does not build for {geometry_name}: {exc}"
            continue
        if not gen.exportable:
            skipped[name] = "not exportable to ONNX"
            continue
        made.append(
            save_model(
                folder / f"{name}-untrained",
                gen,
                family=name,
                hparams=family.Config(),
                particle="electron",
                seed=0,
            )
        )
    return made, skipped


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--geometry", default="clic-ecal")
    p.add_argument("--particle", default="electron")
    p.add_argument("--energy-gev", type=float, default=50.0)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 128, 10_000])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--model", action="append", default=[], help="a trained artifact to time")
    p.add_argument("--families", nargs="+", default=None, help="default: every registered one")
    p.add_argument("--n-mc", type=int, default=10, help="cascade showers timed per thread count")
    p.add_argument("--budget-s", type=float, default=2.0)
    p.add_argument("--label", default=None)
    args = p.parse_args()
    families = args.families or family_names()
    trained = [Path(m) for m in args.model]
    have = {load_model(m).family for m in trained}
    with tempfile.TemporaryDirectory() as tmp:
        made, skipped = default_models(args.geometry, Path(tmp), families, have)
        models = trained + made
        cfg = BenchConfig(
            geometry=args.geometry,
            particle=args.particle,
            energy_mev=args.energy_gev * 1e3,
            batch_sizes=tuple(args.batch_sizes),
            threads=tuple(args.threads),
            engines=("cascade",),
            n_mc=args.n_mc,
            budget_s=args.budget_s,
        )
        result: dict[str, Any] = run_bench(cfg, models)
    result["weights"] = {
        str(m): ("trained" if m in trained else "untrained default") for m in models
    }
    result["skipped_families"] = skipped
    result["loaded"] = True
    result["notes"] += (
        " Timings on a shared 2-core machine under load from other jobs (loaded): compare "
        "rows of this run with each other, not with other machines."
    )
    command = shlex.join(["python", "benchmarks/bench_timing_table.py", *sys.argv[1:]])
    name = f"timing_table_{args.label or args.geometry}"
    path = write_results(result, RESULTS, name, command)
    extra = ["Weights: " + "; ".join(f"{Path(k).name}: {v}" for k, v in result["weights"].items())]
    extra += [f"Not timed: {k}: {v}" for k, v in skipped.items()]
    path.write_text(path.read_text() + "\n".join(extra) + "\n")
    print(path)


if __name__ == "__main__":
    main()
