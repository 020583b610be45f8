"""The conditions of a generation job, row by row: incident energies (MeV) and, for models
conditioned on it, the alignment configuration.

Exactly one of ``energies`` (``n`` showers at each, in order) or ``like`` (a reference file
whose energies, and configurations when it has them, are copied row by row; ``n`` keeps its
first ``n`` rows). For a model with configurations, ``config`` fixes them; otherwise they come
from ``like`` or are drawn uniformly from ``numpy.random.default_rng(seed)`` for all rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from caloforge.io import count_showers, iter_showers

__all__ = ["requested_rows", "resolve_conditions"]


def requested_rows(
    n: int | None, energies: float | Sequence[float] | None, like: str | Path | None
) -> int:
    """How many showers a job with these arguments makes (checking them)."""
    if (energies is None) == (like is None):
        msg = "generate: give exactly one of energies (with n) or like (a reference file)"
        raise ValueError(msg)
    if n is not None and n < 1:
        msg = f"generate: n must be >= 1, got {n}"
        raise ValueError(msg)
    if like is None:
        if n is None:
            msg = "generate: with energies, give n (showers per energy)"
            raise ValueError(msg)
        return n * int(np.atleast_1d(np.asarray(energies)).size)
    rows = count_showers(like)
    return rows if n is None else min(n, rows)


def _like_conditions(like: Path, rows: int) -> tuple[np.ndarray, np.ndarray | None]:
    energies, configs = [], []
    for chunk in iter_showers(like):
        energies.append(chunk.incident_energy)
        if chunk.config is not None:
            configs.append(chunk.config)
    e = np.concatenate(energies) if energies else np.zeros(0)
    c = np.concatenate(configs) if configs else None
    return e[:rows], (None if c is None else c[:rows])


def resolve_conditions(
    n_configs: int,
    n: int | None,
    energies: float | Sequence[float] | None,
    like: str | Path | None,
    config: int | None,
    seed: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(rows,) energies in MeV and (rows,) int64 configs (None when ``n_configs == 1``, i.e.
    the model is not conditioned on the configuration)."""
    rows = requested_rows(n, energies, like)
    configs: np.ndarray | None = None
    if like is not None:
        e, configs = _like_conditions(Path(like), rows)
    else:
        e = np.repeat(np.atleast_1d(np.asarray(energies, dtype=np.float64)), n or 0)
    if n_configs <= 1:
        return e, None
    if config is not None:
        if not 0 <= config < n_configs:
            msg = f"generate: config must be in 0..{n_configs - 1}, got {config}"
            raise ValueError(msg)
        return e, np.full(len(e), config, dtype=np.int64)
    if configs is None:
        configs = np.random.default_rng(seed).integers(0, n_configs, size=len(e))
    return e, configs.astype(np.int64)
