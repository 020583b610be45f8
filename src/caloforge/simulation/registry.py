"""The simulation engines by name.

An engine is a function ``run(geometry, sample, *, workers) -> EngineOutput``
(:mod:`caloforge.simulation.engine`): ``"cascade"`` (the electromagnetic cascade Monte Carlo,
:mod:`caloforge.simulation.cascade`) and ``"gflash"`` (the GFlash parametrisation, imported when
first used).
"""

from __future__ import annotations

from collections.abc import Callable

from caloforge.geometry import Geometry
from caloforge.simulation.cascade import run_cascade
from caloforge.simulation.engine import EngineOutput
from caloforge.simulation.gun import GunSample

__all__ = ["ENGINES", "Engine", "get_engine"]

Engine = Callable[..., EngineOutput]


def _run_gflash(geometry: Geometry, sample: GunSample, *, workers: int | None) -> EngineOutput:
    from caloforge.simulation.gflash import run_gflash  # lazy: optional, written separately

    return run_gflash(geometry, sample, workers=workers)


#: engine name -> ``run(geometry, sample, *, workers) -> EngineOutput``
ENGINES: dict[str, Engine] = {"cascade": run_cascade, "gflash": _run_gflash}


def get_engine(name: str) -> Engine:
    """The engine called ``name``; unknown names list the known ones."""
    try:
        return ENGINES[name]
    except KeyError:
        msg = f"unknown engine {name!r}; engines: {', '.join(ENGINES)}"
        raise ValueError(msg) from None
