"""Generation speed of the atlas-em-barrel WGAN-GP against the cascade MC (issue 6 figures).

Runs ``caloforge bench`` (the harness in :mod:`caloforge.bench.harness`) on model folders, all
in one run with the engines (cascade MC, GFlash). With ``--model DIR [DIR ...]`` it times those
trained models; without, or with ``--wgan-gp`` beside them, it also builds a ``wgan-gp``
generator with the family's default architecture and untrained weights — the time per shower of
a dense network does not depend on its weights, and the result records which was used. So the
flow teacher, its distilled student and the dense WGAN-GP are timed in one run with

    .venv/bin/python benchmarks/bench_generation.py --model TEACHER STUDENT --wgan-gp \
        --name generation_speed_flow_50GeV

    .venv/bin/python benchmarks/bench_generation.py [--model DIR ...] [--energy-gev 50]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

import torch

from caloforge.bench.harness import BenchConfig, run_bench, write_results
from caloforge.geometry import get_geometry
from caloforge.models import FAMILIES, ConditionEncoding, Preprocessing, save_model

RESULTS = Path(__file__).parent / "results"


def default_model(folder: Path) -> Path:
    geometry = get_geometry("atlas-em-barrel")
    family = FAMILIES["wgan-gp"]
    torch.manual_seed(0)
    gen = family.build_generator(
        geometry,
        ConditionEncoding(1e4, 1e5, geometry.alignment_configs),
        Preprocessing(),
        family.Config(),
    )
    return save_model(
        folder / "wgan-gp-untrained",
        gen,
        family="wgan-gp",
        hparams=family.Config(),
        particle="photon",
        seed=0,
        provenance={"note": "untrained, for timing"},
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, nargs="+", default=[])
    ap.add_argument(
        "--wgan-gp",
        action="store_true",
        help="also time the untrained default wgan-gp (always, when no --model is given)",
    )
    ap.add_argument("--batches", type=int, nargs="+", default=None, help="batch sizes")
    ap.add_argument("--threads", type=int, nargs="+", default=None, help="thread counts")
    ap.add_argument("--energy-gev", type=float, default=50.0)
    ap.add_argument("--n-mc", type=int, default=10)
    ap.add_argument("--budget", type=float, default=2.0)
    ap.add_argument("--name", default="generation_speed")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models = list(args.model)
        notes = [f"trained model {m}" for m in models]
        if args.wgan_gp or not models:
            models.append(default_model(Path(tmp)))
            notes.append("wgan-gp default architecture, untrained")
        cfg = BenchConfig(
            energy_mev=args.energy_gev * 1000,
            n_mc=args.n_mc,
            budget_s=args.budget,
            batch_sizes=tuple(args.batches or BenchConfig.batch_sizes),
            threads=tuple(args.threads or BenchConfig().threads),
        )
        result = run_bench(cfg, models)
    result["model_note"] = "; ".join(notes)
    command = "python " + shlex.join(["benchmarks/bench_generation.py", *sys.argv[1:]])
    print(write_results(result, RESULTS, args.name, command).read_text())


if __name__ == "__main__":
    main()
