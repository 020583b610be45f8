"""What every simulation engine returns for a batch of showers (the engine interface).

An engine is a function ``run(geometry, sample, *, workers) -> EngineOutput``: it simulates the
showers of a :class:`~caloforge.simulation.gun.GunSample` on ``workers`` threads and must give
identical output for the same sample whatever ``workers`` is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EngineOutput", "max_workers"]


@dataclass(frozen=True)
class EngineOutput:
    """Per batch: ``cells`` (n, n_cells) float32 visible (active-medium) energy in MeV, and per
    shower the bookkeeping in MeV — ``active_mev`` (all active deposits, also outside the
    cells), ``passive_mev``, ``escaped_mev`` (leaving the stack), ``below_cut_mev`` (particles
    stopped at the tracking cuts, deposited locally). Engines without a transport (GFlash) may
    book zeros where a quantity does not exist, saying so in their docs.

    ``visible_mev`` (optional, per shower): everything the active medium sees, inside the cells
    or not (for the cascade: ``active_mev`` plus the below-cut deposits lying in active slabs).
    Engines that leave it ``None`` get ``cells.sum(axis=1)`` from :meth:`visible`.

    ``charged_steps`` and ``passive_steps`` (optional, per shower): the condensed-history steps
    of e± of an engine with a transport, all of them and those in passive slabs — what a
    shower cost (time per shower = steps x time per step)."""

    cells: np.ndarray
    active_mev: np.ndarray
    passive_mev: np.ndarray
    escaped_mev: np.ndarray
    below_cut_mev: np.ndarray
    visible_mev: np.ndarray | None = None
    charged_steps: np.ndarray | None = None
    passive_steps: np.ndarray | None = None

    def visible(self) -> np.ndarray:
        """(n,) visible energy in MeV: ``visible_mev`` when the engine books it, else the
        sum over the readout cells."""
        if self.visible_mev is not None:
            return np.asarray(self.visible_mev, dtype=np.float64)
        return np.asarray(self.cells, dtype=np.float64).sum(axis=1)


def max_workers() -> int:
    """The most threads an engine may use: numba's thread pool size (``NUMBA_NUM_THREADS``, by
    default the number of cores)."""
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
