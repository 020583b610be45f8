"""What a simulation job records in its file: engine, seed, rows, geometry, gun, cuts and the
versions that made it (from :mod:`caloforge.provenance`)."""

from __future__ import annotations

from typing import Any

from caloforge.geometry import Geometry
from caloforge.provenance import versions
from caloforge.simulation.cascade import TRANSPORT_VERSION, Cuts, production_thresholds
from caloforge.simulation.gun import ParticleGun

__all__ = ["provenance"]


def provenance(
    geometry: Geometry,
    gun: ParticleGun,
    n: int,
    seed: int,
    engine: str,
    cuts: Cuts | None,
    rows: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The provenance a simulation job writes into its file; a job fanned out over an
    executor records the same as a local run. ``rows`` (recorded only when given): the showers
    ``[start, stop)`` of the ``n`` fired that this file holds."""
    attrs: dict[str, Any] = {
        "engine": engine,
        "seed": int(seed),
        "n_showers": int(n),
        "geometry": geometry.name,
        "gun": {
            "particle": gun.particle,
            "energies_mev": list(gun.energies_mev),
            "energy_range_mev": list(gun.energy_range_mev) if gun.energy_range_mev else None,
            "log_uniform": gun.log_uniform,
        },
        "versions": versions("numpy", "numba"),
    }
    if rows is not None:
        attrs["rows"] = [int(rows[0]), int(rows[1])]
    if engine == "cascade":
        attrs["cuts"] = (cuts or Cuts()).to_dict()
        attrs["production_thresholds_mev"] = production_thresholds(geometry, cuts)
        attrs["transport_version"] = TRANSPORT_VERSION
    return attrs
