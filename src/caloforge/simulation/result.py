"""What a simulation produced: :class:`SimulationResult`, and :class:`Bookkeeping`, the
per-shower energy accounting collected batch by batch (never the cells)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from caloforge.showerset import ShowerSet
from caloforge.simulation.engine import EngineOutput

__all__ = ["BOOKKEEPING", "Bookkeeping", "SimulationResult"]

#: the per-shower arrays (MeV) of a result, in the order of :class:`SimulationResult`'s fields
BOOKKEEPING = (
    "incident_energy",
    "active_mev",
    "passive_mev",
    "escaped_mev",
    "below_cut_mev",
    "visible_mev",
)


@dataclass
class SimulationResult:
    """What a simulation produced.

    ``showers`` (None for :func:`~caloforge.simulation.simulate_to_file`, whose showers are in
    ``path``), and per shower in MeV the engine's bookkeeping: ``active_mev``, ``passive_mev``,
    ``escaped_mev``, ``below_cut_mev`` (see :mod:`caloforge.simulation.cascade.transport` for
    their exact meaning) and ``visible_mev`` (all energy seen by the active medium).
    ``seconds`` is the wall time of the engine calls (of the whole job when fanned out).
    """

    n: int
    incident_energy: np.ndarray
    active_mev: np.ndarray
    passive_mev: np.ndarray
    escaped_mev: np.ndarray
    below_cut_mev: np.ndarray
    visible_mev: np.ndarray
    seconds: float
    attrs: dict[str, Any] = field(default_factory=dict)
    showers: ShowerSet | None = None
    path: Path | None = None

    @property
    def sampling_fraction(self) -> np.ndarray:
        """(n,) visible / incident energy."""
        return self.visible_mev / self.incident_energy

    @property
    def mean_sampling_fraction(self) -> float:
        return float(self.sampling_fraction.mean())

    @property
    def showers_per_second(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("inf")

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-shower bookkeeping by name (:data:`BOOKKEEPING`)."""
        return {k: getattr(self, k) for k in BOOKKEEPING}

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], seconds: float, attrs: dict[str, Any]
    ) -> SimulationResult:
        """The result of the per-shower ``arrays`` (:data:`BOOKKEEPING`); records the mean
        sampling fraction in ``attrs``."""
        n = len(arrays["incident_energy"])
        a = {k: np.asarray(arrays[k], dtype=np.float64) for k in BOOKKEEPING}
        res = cls(
            n,
            a["incident_energy"],
            a["active_mev"],
            a["passive_mev"],
            a["escaped_mev"],
            a["below_cut_mev"],
            a["visible_mev"],
            seconds,
            attrs,
        )
        attrs["mean_sampling_fraction"] = res.mean_sampling_fraction if n else float("nan")
        return res


class Bookkeeping:
    """Collects each batch's per-shower bookkeeping (6 float64 per shower), not its cells."""

    def __init__(self) -> None:
        self._parts: dict[str, list[np.ndarray]] = {k: [] for k in BOOKKEEPING}

    def add(self, energy_mev: np.ndarray, out: EngineOutput) -> None:
        self._parts["incident_energy"].append(np.asarray(energy_mev, dtype=np.float64))
        for key in BOOKKEEPING[1:-1]:
            self._parts[key].append(np.asarray(getattr(out, key), dtype=np.float64))
        self._parts["visible_mev"].append(out.visible())

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) if v else np.zeros(0) for k, v in self._parts.items()}
