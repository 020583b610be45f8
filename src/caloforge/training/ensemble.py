"""Seed ensembles: the spread of a metric across models trained with different seeds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ensemble_spread"]


def ensemble_spread(
    out_dir: str | Path, metric: str = "score", *, which: str = "final"
) -> dict[str, Any]:
    """Mean, standard deviation (ddof=1), min and max of ``metrics[which][metric]`` over the
    ``out_dir/seed_<s>/model.json`` files, and the value per seed."""
    per_seed: dict[int, float] = {}
    for path in sorted(Path(out_dir).glob("seed_*/model.json")):
        doc = json.loads(path.read_text())
        try:
            per_seed[int(doc["seed"])] = float(doc["metrics"][which][metric])
        except (KeyError, TypeError) as exc:
            msg = f"{path}: no metric {which}.{metric}: {exc!r}"
            raise ValueError(msg) from exc
    if not per_seed:
        msg = f"{out_dir}: no seed_<s>/model.json found"
        raise ValueError(msg)
    values = np.array(list(per_seed.values()))
    return {
        "metric": f"{which}.{metric}",
        "n": len(values),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "min": float(values.min()),
        "max": float(values.max()),
        "per_seed": per_seed,
    }
