"""Check: the visible energy of the grid GANs after a short training, against a reference.

Trains each requested family (``gan-mbd``, ``wgan-lo``; ``ild-ecal`` photons as in
``bench_ild.py``: ``log`` preprocessing with alpha = 1e-6, one thread) on the first
``--n-train`` showers of the training parts, generates at the energies of the first
``--n-reference`` reference showers, and prints per model the mean E_vis/E_inc of the
generated and of the reference showers, their ratio, and the largest E_vis/E_inc generated.
A check of the output head (before the bounded head these ratios ran to 15-92 x the
reference's), not a fidelity benchmark: no classifier, no file written.

    python benchmarks/bench_grid_energy.py --train-dir D/train --reference-dir D/ref \\
        --n-train 500 --n-reference 500 --steps 300 --seeds 0 1 --work W
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ild import generate, ild_run_config, load_parts

from caloforge.training import train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train-dir", type=Path, required=True)
    p.add_argument("--reference-dir", type=Path, required=True)
    p.add_argument("--n-train", type=int, default=500)
    p.add_argument("--n-reference", type=int, default=500)
    p.add_argument("--families", nargs="+", default=["gan-mbd", "wgan-lo"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--work", type=Path, required=True)
    args = p.parse_args()
    torch.set_num_threads(1)
    train_set = load_parts(args.train_dir, args.n_train)
    ref_set = load_parts(args.reference_dir, args.n_reference)
    energy = np.asarray(ref_set.incident_energy, dtype=np.float64)
    ref_ratio = np.asarray(ref_set.cells, dtype=np.float64).sum(axis=1) / energy
    print(
        f"training {len(train_set)} showers (transport {train_set.attrs.get('transport_version')}),"
        f" reference {len(ref_set)} (transport {ref_set.attrs.get('transport_version')}); "
        f"reference mean E_vis/E_inc {ref_ratio.mean():.5f}",
        flush=True,
    )
    print("| model | seed | steps | mean E_vis/E_inc | gen / ref | max E_vis/E_inc | train s |")
    print("|---|---|---|---|---|---|---|")
    for family in args.families:
        for seed in args.seeds:
            out_dir = args.work / f"{family}_s{seed}"
            run = ild_run_config(
                family,
                seed,
                steps=args.steps,
                batch_size=args.batch_size,
                lr=args.lr,
                val_max_showers=100,
            )
            t0 = time.process_time()
            train(train_set, config=run, out_dir=out_dir)
            cpu = time.process_time() - t0
            cells, _ = generate(out_dir, energy, seed, True)
            ratio = cells.sum(axis=1) / energy
            print(
                f"| {family} | {seed} | {args.steps} | {ratio.mean():.5f} | "
                f"{ratio.mean() / ref_ratio.mean():.3g} | {ratio.max():.4g} | {cpu:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
