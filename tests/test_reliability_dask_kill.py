"""A Dask worker process killed (SIGKILL) in the middle of a task: the job still writes exactly
the N showers a local run writes (issue 18)."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from caloforge.io import read_showers
from caloforge.simulation import simulate_to_file
from caloforge.simulation.gun import ParticleGun

distributed = pytest.importorskip("distributed")

GUN = ParticleGun("electron", energy_range_mev=(2_000.0, 20_000.0))
N, PART = 40, 10


def _kill_first_writer(
    parts_parent: Path, out: Path, killed: list[int], stop: threading.Event
) -> None:
    """Wait for a part being written (its temporary file names the writing worker's pid) and
    SIGKILL that worker process."""
    pattern = re.compile(r"^\.showers-\d+-\d+\.h5\.(\d+)\.[^.]+\.tmp$")
    while not stop.is_set():
        for folder in parts_parent.glob(f".{out.name}.parts-*"):
            for entry in os.listdir(folder):
                match = pattern.match(entry)
                if match and int(match.group(1)) != os.getpid():
                    pid = int(match.group(1))
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
        time.sleep(0.02)


@pytest.mark.slow
def test_killed_worker_mid_task_still_gives_exactly_n_showers(tmp_path: Path) -> None:
    from caloforge.scale.dask import DaskExecutor

    local = simulate_to_file(
        "calogan", GUN, N, tmp_path / "local.h5", engine="gflash", seed=3, progress=False
    )
    assert local.n == N
    out = tmp_path / "dask.h5"
    killed: list[int] = []
    stop = threading.Event()
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        pids_before = set(client.run(os.getpid).values())
        killer = threading.Thread(target=_kill_first_writer, args=(tmp_path, out, killed, stop))
        killer.start()
        try:
            res = simulate_to_file(
                "calogan",
                GUN,
                N,
                out,
                engine="gflash",
                seed=3,
                progress=False,
                executor=DaskExecutor(client, retries=2),
                part_size=PART,
            )
        finally:
            stop.set()
            killer.join()
    assert len(killed) == 1
    assert killed[0] in pids_before  # a real worker process was killed
    got, want = read_showers(out), read_showers(tmp_path / "local.h5")
    assert res.n == N == len(got)
    np.testing.assert_array_equal(got.incident_energy, want.incident_energy)
    np.testing.assert_array_equal(got.cells, want.cells)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers
