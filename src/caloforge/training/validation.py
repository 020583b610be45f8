"""Validation metrics during training: separation powers of E_tot/E_inc and layer fractions.

Separation power as defined in :func:`caloforge.evaluation.metrics.separation_power` (40 shared
bins, over/underflow folded into the edge bins; no bootstrap during training).
"""

from __future__ import annotations

import numpy as np

from caloforge.evaluation.metrics import separation_power
from caloforge.geometry import Geometry

__all__ = ["validation_metrics"]


def _features(cells: np.ndarray, energy: np.ndarray, geometry: Geometry) -> dict[str, np.ndarray]:
    layers = geometry.layer_energies(cells)
    total = layers.sum(axis=1)
    fractions = layers / np.where(total > 0, total, 1.0)[:, None]
    out = {"etot_over_einc": total / energy}
    out |= {f"layer_fraction_{i}": fractions[:, i] for i in range(geometry.n_layers)}
    return out


def validation_metrics(
    ref_cells: np.ndarray,
    gen_cells: np.ndarray,
    energy: np.ndarray,
    geometry: Geometry,
    gen_energy: np.ndarray | None = None,
) -> dict[str, float]:
    """Separation powers per observable, their layer mean, and ``score`` = S(E_tot/E_inc) +
    mean_layers S(layer fraction) (lower is better; used to keep the best checkpoint).

    ``energy`` (MeV) are the reference's incident energies, also the candidate's unless
    ``gen_energy`` is given."""
    ref = _features(ref_cells, energy, geometry)
    gen = _features(gen_cells, energy if gen_energy is None else gen_energy, geometry)
    out = {f"sep_{k}": separation_power(ref[k], gen[k], n_bootstrap=0)[0] for k in ref}
    layer = [out[f"sep_layer_fraction_{i}"] for i in range(geometry.n_layers)]
    out["sep_layer_fraction_mean"] = float(np.mean(layer))
    out["score"] = out["sep_etot_over_einc"] + out["sep_layer_fraction_mean"]
    return out
