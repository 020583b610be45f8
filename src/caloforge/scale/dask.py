"""A Dask cluster as an executor of the stages (:class:`DaskExecutor`).

The stages fan themselves out (:mod:`caloforge.fanout`): ``simulate_to_file(...,
executor=ex)`` and ``generate(..., executor=ex)`` have ``ex`` run the same function on row
ranges, one part file per task, merged in order into the file a local run writes. This module
only supplies the cluster:

- ``client`` (a ``distributed.Client``), or ``scheduler`` (the address of a running scheduler,
  e.g. ``tcp://10.0.0.5:8786``; its workers must see the output folder), or ``cluster``
  ``"local"`` / ``"local:N"`` (a local cluster of N single-threaded worker processes; default all
  cores);
- failures: a task that raises is retried (``retries``); a worker that dies has its tasks
  rescheduled by Dask; a part already written is not redone (see :mod:`caloforge.fanout`).

:func:`open_executor` is the choice between this process and a cluster that the command line
makes from ``--scheduler`` / ``--cluster``. :func:`simulate_on_dask` and
:func:`generate_on_dask` are the stages with a cluster opened for the call.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from caloforge._optional import require
from caloforge.fanout import FanOut

if TYPE_CHECKING:
    from distributed import Client

    from caloforge.geometry import Geometry
    from caloforge.simulation import SimulationResult
    from caloforge.simulation.gun import ParticleGun

__all__ = [
    "DaskExecutor",
    "FanOut",
    "dask_client",
    "generate_on_dask",
    "open_executor",
    "parse_cluster",
    "simulate_on_dask",
]

S = TypeVar("S")
T = TypeVar("T")


def parse_cluster(text: str) -> int | None:
    """``"local"`` -> None (all cores), ``"local:N"`` -> N; anything else is an error."""
    name, sep, count = text.partition(":")
    if name != "local" or (sep and not count.isdigit()) or (sep and int(count) < 1):
        msg = f"--cluster {text!r}: expected 'local' or 'local:N' with N >= 1 workers"
        raise ValueError(msg)
    return int(count) if sep else None


@contextlib.contextmanager
def dask_client(
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    cluster: str | None = None,
    processes: bool = True,
) -> Iterator[Client]:
    """A Dask client for the job: the given one (left open), one connected to ``scheduler``,
    or a local cluster (``cluster`` ``"local[:N]"``, the default) that is closed afterwards.
    ``processes=False`` runs a local cluster's workers as threads of this process."""
    distributed = require("distributed", "scale", "Dask fan-out (--scheduler, --cluster)")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster

    if sum(x is not None for x in (client, scheduler, cluster)) > 1:
        msg = "give at most one of a Dask client, --scheduler ADDRESS or --cluster local[:N]"
        raise ValueError(msg)
    if client is not None:
        yield client
        return
    if scheduler is not None:
        try:
            connected = Client(scheduler, timeout="30s")
        except OSError as exc:
            msg = f"--scheduler {scheduler!r}: cannot connect to a Dask scheduler: {exc}"
            raise ValueError(msg) from exc
        with connected:
            yield connected
        return
    n = parse_cluster(cluster or "local")
    local = LocalCluster(
        n_workers=n or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=":0",  # any free port: two clusters on one machine never collide
    )
    with local, Client(local) as c:
        yield c


class DaskExecutor:
    """Runs tasks on a Dask client's workers, each retried ``retries`` times."""

    name = "dask"

    def __init__(self, client: Client, *, retries: int = 2) -> None:
        if retries < 0:
            msg = f"retries must be >= 0, got {retries}"
            raise ValueError(msg)
        self.client, self.retries = client, retries

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def map(self, fn: Callable[[S], T], items: Sequence[S], *, label: str) -> list[T]:
        futures = [
            self.client.submit(fn, x, key=f"{label}-{i}", retries=self.retries, pure=False)
            for i, x in enumerate(items)
        ]
        return list(self.client.gather(futures))


@contextlib.contextmanager
def open_executor(
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    cluster: str | None = None,
    processes: bool = True,
    retries: int = 2,
) -> Iterator[DaskExecutor | None]:
    """A :class:`DaskExecutor` on the cluster named by ``client``, ``scheduler`` or
    ``cluster`` (see :func:`dask_client`), or None (run in this process) when none is given."""
    if client is None and scheduler is None and cluster is None:
        yield None
        return
    with dask_client(client=client, scheduler=scheduler, cluster=cluster, processes=processes) as c:
        yield DaskExecutor(c, retries=retries)


def simulate_on_dask(
    geometry: Geometry | str,
    gun: ParticleGun,
    n: int,
    out: str | Path,
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    cluster: str | None = None,
    processes: bool = True,
    threads_per_task: int = 1,
    retries: int = 2,
    **kwargs: Any,
) -> SimulationResult:
    """:func:`caloforge.simulation.simulate_to_file` on a Dask cluster (``client``,
    ``scheduler`` or a local ``cluster``, the default): the same showers in ``out``.
    ``threads_per_task``: the engine's threads in each task; ``kwargs`` go to
    ``simulate_to_file`` (``seed``, ``engine``, ``part_size``, ``batch_size``, ...)."""
    from caloforge.simulation import simulate_to_file

    with dask_client(client=client, scheduler=scheduler, cluster=cluster, processes=processes) as c:
        ex = DaskExecutor(c, retries=retries)
        return simulate_to_file(
            geometry, gun, n, out, workers=threads_per_task, executor=ex, **kwargs
        )


def generate_on_dask(
    model_dir: str | Path,
    out: str | Path,
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    cluster: str | None = None,
    processes: bool = True,
    threads_per_task: int = 1,
    retries: int = 2,
    **kwargs: Any,
) -> FanOut:
    """:func:`caloforge.generation.generate` on a Dask cluster (CPU workers): the same showers
    in ``out`` as a local call with the same arguments; ``kwargs`` go to
    :func:`caloforge.generation.fan_out_generation` (``n``, ``energies``, ``seed``,
    ``part_size``, ...). Returns how the job was spread."""
    from caloforge.generation import fan_out_generation

    with dask_client(client=client, scheduler=scheduler, cluster=cluster, processes=processes) as c:
        ex = DaskExecutor(c, retries=retries)
        return fan_out_generation(ex, model_dir, out, threads=threads_per_task, **kwargs)
