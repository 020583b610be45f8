"""Generation speed of the atlas-em-barrel WGAN-GP against the cascade MC (issue 6 figures).

Runs ``caloforge bench`` (the harness in :mod:`caloforge.bench.harness`) on a model folder. With
``--model`` it times that trained model; without, it builds a ``wgan-gp`` generator with the
family's default architecture and untrained weights — the time per shower of a dense network
does not depend on its weights, and the result records which was used.

    .venv/bin/python benchmarks/bench_generation.py [--model DIR] [--energy-gev 50]
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
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--energy-gev", type=float, default=50.0)
    ap.add_argument("--n-mc", type=int, default=10)
    ap.add_argument("--budget", type=float, default=2.0)
    ap.add_argument("--name", default="generation_speed")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or default_model(Path(tmp))
        cfg = BenchConfig(energy_mev=args.energy_gev * 1000, n_mc=args.n_mc, budget_s=args.budget)
        result = run_bench(cfg, [model])
    result["model_note"] = (
        f"trained model {args.model}" if args.model else "wgan-gp default architecture, untrained"
    )
    command = "python " + shlex.join(["benchmarks/bench_generation.py", *sys.argv[1:]])
    print(write_results(result, RESULTS, args.name, command).read_text())


if __name__ == "__main__":
    main()
