"""Scale-out: hyper-parameter search (:func:`tune`, Optuna) and a Dask cluster as the executor
of the stages (:class:`DaskExecutor`, :func:`open_executor`; :func:`simulate_on_dask` and
:func:`generate_on_dask` open a cluster for one call).

Data-parallel training under ``torchrun`` lives with the trainer
(:mod:`caloforge.training.distributed`). Optuna and Dask are imported when these functions are
first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from caloforge.lazy import lazy_attributes

if TYPE_CHECKING:
    from caloforge.scale.dask import (
        DaskExecutor,
        generate_on_dask,
        open_executor,
        simulate_on_dask,
    )
    from caloforge.scale.tune import TuneResult, load_space, tune

__all__ = [
    "DaskExecutor",
    "TuneResult",
    "generate_on_dask",
    "load_space",
    "open_executor",
    "simulate_on_dask",
    "tune",
]

_WHERE = {
    "DaskExecutor": "caloforge.scale.dask",
    "open_executor": "caloforge.scale.dask",
    "generate_on_dask": "caloforge.scale.dask",
    "simulate_on_dask": "caloforge.scale.dask",
    "TuneResult": "caloforge.scale.tune",
    "load_space": "caloforge.scale.tune",
    "tune": "caloforge.scale.tune",
}


__getattr__ = lazy_attributes(__name__, _WHERE)
