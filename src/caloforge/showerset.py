"""ShowerSet: the object every stage reads and writes.

``incident_energy`` (N,) float64 in MeV, ``cells`` (N, n_cells) float32 in MeV in the geometry's
flattening order, optional per-shower ``conditions`` (e.g. ``config`` int 0..7 for
``atlas-em-barrel``, ``impact_eta``, ``impact_phi``), the geometry and the particle name, and free
provenance ``attrs`` (engine, seed, ...) that must be JSON-serialisable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from caloforge.geometry import Geometry

__all__ = ["PARTICLES", "ShowerSet"]

#: particle names and their PDG ids
PARTICLES: dict[str, int] = {
    "photon": 22,
    "electron": 11,
    "positron": -11,
    "pion": 211,
}


@dataclass(repr=False)
class ShowerSet:
    incident_energy: np.ndarray
    cells: np.ndarray
    geometry: Geometry
    particle: str = "photon"
    conditions: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.incident_energy = np.asarray(self.incident_energy, dtype=np.float64).reshape(-1)
        self.cells = np.asarray(self.cells, dtype=np.float32)
        self.conditions = {k: np.asarray(v) for k, v in self.conditions.items()}
        self.validate()

    def validate(self, source: str = "ShowerSet") -> None:
        """Check shapes, units and values; errors name ``source`` and the offending key."""
        n = len(self.incident_energy)
        if self.cells.ndim != 2 or self.cells.shape != (n, self.geometry.n_cells):
            msg = (
                f"{source}: key 'showers' has shape {self.cells.shape}; expected "
                f"({n}, {self.geometry.n_cells}) for geometry {self.geometry.name!r} "
                f"and {n} incident energies"
            )
            raise ValueError(msg)
        check_energies(self.incident_energy, source, "incident_energies", positive=True)
        check_energies(self.cells, source, "showers", positive=False)
        if self.particle not in PARTICLES:
            msg = f"{source}: unknown particle {self.particle!r}; known: {', '.join(PARTICLES)}"
            raise ValueError(msg)
        for key, value in self.conditions.items():
            if len(value) != n:
                msg = f"{source}: condition {key!r} has {len(value)} rows; expected {n}"
                raise ValueError(msg)
        config = self.conditions.get("config")
        if config is not None:
            n_cfg = self.geometry.alignment_configs
            if not np.issubdtype(config.dtype, np.integer) or (
                n and (config.min() < 0 or config.max() >= n_cfg)
            ):
                msg = f"{source}: key 'config' must be integers in 0..{n_cfg - 1}"
                raise ValueError(msg)

    def __repr__(self) -> str:
        """One line: counts, geometry, particle, energy range and condition keys (no arrays)."""
        e = self.incident_energy
        energies = (
            f", E_inc {e.min() / 1000:.4g}-{e.max() / 1000:.4g} GeV"
            if len(e) and e.min() != e.max()
            else (f", E_inc {e[0] / 1000:.4g} GeV" if len(e) else "")
        )
        conditions = f", conditions: {', '.join(self.conditions)}" if self.conditions else ""
        return (
            f"ShowerSet({len(self)} {self.particle} shower{'' if len(self) == 1 else 's'}, geometry {self.geometry.name!r} "
            f"({self.geometry.n_cells} cells){energies}{conditions})"
        )

    # ---- sequence behaviour --------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.incident_energy)

    def __getitem__(self, index: slice | np.ndarray | Sequence[int]) -> ShowerSet:
        """A subset (slice, integer index array or boolean mask) sharing geometry and attrs."""
        return ShowerSet(
            self.incident_energy[index],
            self.cells[index],
            self.geometry,
            self.particle,
            {k: v[index] for k, v in self.conditions.items()},
            dict(self.attrs),
        )

    @property
    def config(self) -> np.ndarray | None:
        """Alignment configuration per shower, or None."""
        return self.conditions.get("config")

    @property
    def total_energy(self) -> np.ndarray:
        """(N,) sum of the cells in MeV (float64)."""
        return self.cells.sum(axis=1, dtype=np.float64)

    @classmethod
    def concatenate(cls, parts: Sequence[ShowerSet]) -> ShowerSet:
        if not parts:
            msg = "ShowerSet.concatenate needs at least one part"
            raise ValueError(msg)
        first = parts[0]
        for p in parts[1:]:
            if not p.geometry.same_readout(first.geometry) or p.particle != first.particle:
                msg = "ShowerSet.concatenate: parts differ in geometry readout or particle"
                raise ValueError(msg)
            if set(p.conditions) != set(first.conditions):
                msg = "ShowerSet.concatenate: parts carry different condition keys"
                raise ValueError(msg)
        return cls(
            np.concatenate([p.incident_energy for p in parts]),
            np.concatenate([p.cells for p in parts]),
            first.geometry,
            first.particle,
            {k: np.concatenate([p.conditions[k] for p in parts]) for k in first.conditions},
            dict(first.attrs),
        )

    def summary(self) -> dict[str, Any]:
        """Counts and ranges for ``caloforge info`` and the CLI summaries (energies in MeV)."""
        e = self.incident_energy
        out: dict[str, Any] = {
            "n_showers": len(self),
            "geometry": self.geometry.name,
            "n_cells": self.geometry.n_cells,
            "particle": self.particle,
        }
        if len(self):
            ratio = self.total_energy / e
            out |= {
                "incident_energy_min_mev": float(e.min()),
                "incident_energy_max_mev": float(e.max()),
                "mean_etot_over_einc": float(ratio.mean()),
                "mean_nonzero_cells": float((self.cells > 0).sum(axis=1).mean()),
            }
        if self.config is not None and len(self):
            out["config_counts"] = np.bincount(
                self.config, minlength=self.geometry.alignment_configs
            ).tolist()
        return out


def check_energies(values: np.ndarray, source: str, key: str, *, positive: bool) -> None:
    """Raise a ValueError naming ``source`` and ``key`` for NaN/inf or negative energies."""
    if values.size == 0:
        return
    if not np.isfinite(values).all():
        bad = int(np.argwhere(~np.isfinite(values))[0][0])
        msg = f"{source}: key {key!r} holds NaN or infinite values (first at row {bad}); expected finite energies in MeV"
        raise ValueError(msg)
    low = values.min()
    if (positive and low <= 0) or low < 0:
        bad = int(np.argwhere(values <= 0 if positive else values < 0)[0][0])
        what = "> 0" if positive else ">= 0"
        msg = f"{source}: key {key!r} holds {low:g} at row {bad}; expected energies {what} MeV"
        raise ValueError(msg)
