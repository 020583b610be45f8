"""Reference showers: ``simulate`` (in memory) and ``simulate_to_file`` (streamed, atomic).

Modules, one concept each: :mod:`~caloforge.simulation.registry` (the engines by name: an engine
is a function ``run(geometry, sample, *, workers) -> EngineOutput``,
:mod:`~caloforge.simulation.engine`), :mod:`~caloforge.simulation.gun` (what is fired),
:mod:`~caloforge.simulation.batching` (the loop over batches of a row range),
:mod:`~caloforge.simulation.result` (:class:`SimulationResult` and the per-shower bookkeeping),
:mod:`~caloforge.simulation.record` (the provenance a job writes) and
:mod:`~caloforge.simulation.run` (the stage functions). Each shower gets its own seed derived
from ``(seed, index)``, so the output is the same whatever ``workers``, ``batch_size``, row
range or executor.
"""

from caloforge.simulation.cascade import Cuts
from caloforge.simulation.record import provenance
from caloforge.simulation.registry import ENGINES, get_engine
from caloforge.simulation.result import SimulationResult
from caloforge.simulation.run import simulate, simulate_to_file

__all__ = [
    "ENGINES",
    "Cuts",
    "SimulationResult",
    "get_engine",
    "provenance",
    "simulate",
    "simulate_to_file",
]
