"""Scale-out: hyper-parameter search (:func:`tune`, Optuna) and simulation / generation fanned
out over a Dask cluster (:func:`simulate_on_dask`, :func:`generate_on_dask`).

Data-parallel training under ``torchrun`` lives with the trainer
(:mod:`caloforge.training.distributed`). Optuna and Dask are imported when these functions are
first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from caloforge.lazy import lazy_attributes

if TYPE_CHECKING:
    from caloforge.scale.dask import generate_on_dask, simulate_on_dask
    from caloforge.scale.tune import TuneResult, load_space, tune

__all__ = ["TuneResult", "generate_on_dask", "load_space", "simulate_on_dask", "tune"]

_WHERE = {
    "generate_on_dask": "caloforge.scale.dask",
    "simulate_on_dask": "caloforge.scale.dask",
    "TuneResult": "caloforge.scale.tune",
    "load_space": "caloforge.scale.tune",
    "tune": "caloforge.scale.tune",
}


__getattr__ = lazy_attributes(__name__, _WHERE)
