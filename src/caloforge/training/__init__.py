"""Training: one loop for every model family, typed configuration, exact resume, ensembles.

Entry point :func:`train` (``caloforge train``); configuration :class:`RunConfig` /
:class:`TrainConfig` (TOML via :func:`load_run_config`); :func:`ensemble_spread` for seeds.
"""

from caloforge.training.config import RunConfig, TrainConfig, load_run_config, save_run_config
from caloforge.training.ensemble import ensemble_spread
from caloforge.training.trainer import TrainingDivergedError, TrainResult, train
from caloforge.training.validation import validation_metrics

__all__ = [
    "RunConfig",
    "TrainConfig",
    "TrainResult",
    "TrainingDivergedError",
    "ensemble_spread",
    "load_run_config",
    "save_run_config",
    "train",
    "validation_metrics",
]
