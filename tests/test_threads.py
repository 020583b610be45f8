"""Thread counts that follow the idle cores (``caloforge.threads``)."""

from __future__ import annotations

import os

import pytest

from caloforge.threads import available_cores, choose_threads


@pytest.mark.parametrize(
    ("cores", "load", "threads"),
    [(16, 0.0, 16), (16, 3.2, 13), (16, 3.6, 12), (2, 7.0, 1), (2, 0.4, 2), (4, 40.0, 1)],
)
def test_idle_cores(cores: int, load: float, threads: int) -> None:
    choice = choose_threads(cores=cores, load=load, environ={})
    assert choice.threads == threads
    assert f"{cores} available cores, load average {load:.1f}" in str(choice)


def test_request_and_environment_win() -> None:
    assert choose_threads(3, cores=2, load=9.0, environ={}).threads == 3
    env = {"OMP_NUM_THREADS": "1"}
    assert str(choose_threads(cores=16, load=0.0, environ=env)) == "1 thread (OMP_NUM_THREADS=1)"
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        choose_threads(0)


def test_available_cores_is_the_affinity_mask() -> None:
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert available_cores() == expected
