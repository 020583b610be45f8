"""Benchmark: train the default WGAN-GP briefly on the CPU and compare with an independent sample.

    python benchmarks/bench_train_wgan.py --data TRAIN.h5 --reference REF.h5 --steps 300 \
        --threads 2 --label atlas-50GeV-photons

Records, in ``benchmarks/results/train_wgan_<label>.json``: the command, the machine, the
parameter counts, training wall time and time per generator step, and the separation powers of
E_tot/E_inc and of the layer fractions between the reference and (a) the generated sample,
(b) the training data itself (the floor an ideal model would reach at these sample sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from caloforge.generation import generate
from caloforge.io import read_showers
from caloforge.models import load_model
from caloforge.training import RunConfig, TrainConfig, train
from caloforge.training.validation import validation_metrics

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--label", required=True)
    parser.add_argument("--note", default="", help="where the data came from")
    args = parser.parse_args()

    run = RunConfig(
        family="wgan-gp",
        train=TrainConfig(
            steps=args.steps, threads=args.threads, progress=False, validate_every=100
        ),
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        (result,) = train(args.data, config=run, out_dir=Path(tmp) / "model")
        wall = time.perf_counter() - t0
        art = load_model(result.out_dir)
        ref = read_showers(args.reference)
        gen = read_showers(
            generate(result.out_dir, Path(tmp) / "gen.h5", like=args.reference, seed=1)
        )
        data = read_showers(args.data)
    floor = validation_metrics(
        ref.cells, data.cells, ref.incident_energy, ref.geometry, data.incident_energy
    )
    model_vs_ref = validation_metrics(ref.cells, gen.cells, ref.incident_energy, ref.geometry)
    n_params = {
        "generator": sum(p.numel() for p in art.generator.parameters()),
    }
    record = {
        "command": " ".join([sys.executable, *sys.argv]),
        "machine": f"{platform.system()} {platform.machine()} {platform.processor()}".strip(),
        "cpu_threads": args.threads,
        "load_average_1_5_15min_at_end": list(os.getloadavg()),
        "data_note": args.note,
        "torch": torch.__version__,
        "family": "wgan-gp",
        "hyperparameters": run.to_dict(),
        "n_train_file": len(data),
        "n_reference": len(ref),
        "parameters": n_params,
        "steps": result.steps,
        "wall_seconds": wall,
        "seconds_per_step": wall / result.steps,
        "best_step": result.best_step,
        "separation_model_vs_reference": model_vs_ref,
        "separation_training_data_vs_reference": floor,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"train_wgan_{args.label}.json"
    out.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    print(json.dumps(record, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
