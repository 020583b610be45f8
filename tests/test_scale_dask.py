"""Simulation and generation on a local Dask cluster give the files a local run gives."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from distributed import Client, LocalCluster

from caloforge.generation import generate
from caloforge.geometry import Geometry, get_geometry
from caloforge.io import read_showers
from caloforge.scale.dask import generate_on_dask, parse_cluster, simulate_on_dask
from caloforge.showerset import ShowerSet
from caloforge.simulation import ENGINES, get_engine, simulate_to_file
from caloforge.simulation.engine import EngineOutput
from caloforge.simulation.gun import GunSample, ParticleGun
from caloforge.training import RunConfig, TrainConfig, train
from caloforge.training.config import run_config_from_dict
from synthetic import synthetic_showers

GUN = ParticleGun("photon", energy_range_mev=(5_000.0, 20_000.0))


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """Two single-threaded workers in this process (threads: starts in well under a second)."""
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def _same(a: ShowerSet, b: ShowerSet) -> None:
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.incident_energy, b.incident_energy)
    np.testing.assert_array_equal(a.cells, b.cells)
    assert a.conditions.keys() == b.conditions.keys()
    for key in a.conditions:
        np.testing.assert_array_equal(a.conditions[key], b.conditions[key])


def _leftovers(folder: Path, out: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(f".{out.name}")]


@pytest.mark.parametrize(
    ("engine", "n", "part"),
    [("gflash", 60, 25), pytest.param("cascade", 6, 4, marks=pytest.mark.slow)],  # numba compile
)
def test_simulate_on_dask_gives_the_local_showers(
    client: Client, tmp_path: Path, engine: str, n: int, part: int
) -> None:
    gun = GUN if engine == "gflash" else ParticleGun("photon", energies_mev=(2_000.0,))
    local = simulate_to_file(
        "atlas-em-barrel",
        gun,
        n,
        tmp_path / "local.h5",
        seed=3,
        engine=engine,
        progress=False,
        workers=1,
    )
    out = tmp_path / "dask.h5"
    res = simulate_on_dask(
        "atlas-em-barrel", gun, n, out, seed=3, engine=engine, client=client, part_size=part
    )
    _same(read_showers(tmp_path / "local.h5"), read_showers(out))
    attrs = read_showers(out, stop=0).attrs
    assert attrs["dask"] == {"parts": -(-n // part), "part_size": part, "workers": 2}
    assert attrs["mean_sampling_fraction"] == pytest.approx(local.mean_sampling_fraction)
    assert attrs["seed"] == 3
    assert attrs["n_showers"] == n
    np.testing.assert_allclose(res.visible_mev, local.visible_mev)
    assert _leftovers(tmp_path, out) == []


def test_a_task_failing_mid_way_is_retried_without_losing_or_repeating_showers(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n, geometry = 40, "atlas-em-barrel"
    marker = tmp_path / "failed-once"
    gflash = get_engine("gflash")
    full = GUN.sample(n, get_geometry(geometry), 7)

    def flaky(geo: Geometry, sample: GunSample, **kw: Any) -> EngineOutput:
        # the first attempt of the task [0, 20) dies at its third batch (rows 10..14), after
        # two batches went into its (temporary) part file
        if sample.shower_seed[0] == full.shower_seed[10] and not marker.exists():
            marker.touch()
            msg = "injected failure"
            raise RuntimeError(msg)
        return gflash(geo, sample, **kw)

    monkeypatch.setitem(ENGINES, "flaky", flaky)
    out = tmp_path / "dask.h5"
    simulate_on_dask(
        geometry,
        GUN,
        n,
        out,
        seed=7,
        engine="flaky",
        client=client,
        part_size=20,
        batch_size=5,
        retries=1,
    )
    assert marker.exists()
    merged = read_showers(out)
    assert len(merged) == n
    local = tmp_path / "local.h5"
    simulate_to_file(geometry, GUN, n, local, seed=7, engine="gflash", progress=False)
    _same(read_showers(local), merged)
    # without retries the failure reaches the caller and no output appears
    marker.unlink()
    with pytest.raises(RuntimeError, match="injected failure"):
        simulate_on_dask(
            geometry,
            GUN,
            n,
            tmp_path / "x.h5",
            seed=7,
            engine="flaky",
            client=client,
            part_size=20,
            batch_size=5,
            retries=0,
        )
    assert not (tmp_path / "x.h5").exists()


def test_rerun_reuses_finished_parts(client: Client, tmp_path: Path) -> None:
    out = tmp_path / "dask.h5"
    kw: dict[str, Any] = {"seed": 1, "engine": "gflash", "client": client, "part_size": 10}
    simulate_on_dask("atlas-em-barrel", GUN, 30, out, keep_parts=True, **kw)
    first = read_showers(out)
    out.unlink()
    res = simulate_on_dask("atlas-em-barrel", GUN, 30, out, **kw)
    assert res.attrs["dask"]["reused_parts"] == 3
    _same(first, read_showers(out))
    assert _leftovers(tmp_path, out) == []


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vae trained for 2 steps on ``synthetic_showers(120, 0)``, in ``<folder>/vae``."""
    folder = tmp_path_factory.mktemp("model")
    data = synthetic_showers(120, 0)
    doc = RunConfig(family="vae").to_dict()
    doc["model"] |= {"latent_dim": 4, "encoder_hidden": [16], "decoder_hidden": [16]}
    doc["train"] = {"steps": 2, "batch_size": 16, "threads": 1, "progress": False}
    run = run_config_from_dict(doc, "test")
    assert isinstance(run.train, TrainConfig)
    train(data, config=run, out_dir=folder / "vae")
    return folder / "vae"


@pytest.mark.parametrize("how", ["energies", "like"])
def test_generate_on_dask_gives_the_local_showers(
    client: Client, model_dir: Path, tmp_path: Path, how: str, shower_file: Callable[..., Path]
) -> None:
    kw: dict[str, Any] = {"seed": 5, "batch_size": 16}
    if how == "energies":
        kw |= {"n": 25, "energies": [20_000.0, 50_000.0]}
    else:
        kw |= {"like": shower_file(synthetic_showers, 120, 0), "n": 70}
    # bit-identical at the same torch thread count (threads change float rounding, ~1e-5)
    generate(model_dir, tmp_path / "local.h5", threads=1, **kw)
    fan = generate_on_dask(model_dir, tmp_path / "dask.h5", client=client, part_size=32, **kw)
    # 4 or 5 batches of 16, 2 batches per task
    expected = [(0, 32), (32, 50)] if how == "energies" else [(0, 32), (32, 64), (64, 70)]
    assert fan.parts == expected
    _same(read_showers(tmp_path / "local.h5"), read_showers(tmp_path / "dask.h5"))
    assert _leftovers(tmp_path, tmp_path / "dask.h5") == []


def test_bad_cluster_arguments(client: Client, tmp_path: Path) -> None:
    assert parse_cluster("local") is None
    assert parse_cluster("local:3") == 3
    for bad in ("local:0", "remote", "local:x"):
        with pytest.raises(ValueError, match="expected 'local' or 'local:N'"):
            parse_cluster(bad)
    with pytest.raises(ValueError, match="at most one of"):
        simulate_on_dask(
            "atlas-em-barrel", GUN, 5, tmp_path / "o.h5", client=client, cluster="local:1"
        )
    with pytest.raises(ValueError, match="is a folder, not a file"):
        simulate_on_dask("atlas-em-barrel", GUN, 5, tmp_path, client=client)


def test_cli_simulate_and_generate_on_a_scheduler(
    client: Client, model_dir: Path, tmp_path: Path, cli: Callable
) -> None:
    address = str(client.scheduler.address)  # type: ignore[union-attr]
    sim = ["simulate", "-g", "atlas-em-barrel", "--energy", "10GeV", "-n", "12", "--seed", "2"]
    sim += ["--engine", "gflash", "--no-progress", "--workers", "1"]
    result = cli([*sim, "-o", str(tmp_path / "d.h5"), "--scheduler", address])
    assert result.exit_code == 0, result.output
    result = cli([*sim, "-o", str(tmp_path / "l.h5")])
    assert result.exit_code == 0, result.output
    _same(read_showers(tmp_path / "l.h5"), read_showers(tmp_path / "d.h5"))
    gen = ["generate", "--model", str(model_dir), "--seed", "3", "--n", "20"]
    gen += ["--energy", "30GeV", "--batch-size", "8", "--threads", "1"]
    result = cli([*gen, "--out", str(tmp_path / "gd.h5"), "--scheduler", address])
    assert result.exit_code == 0, result.output
    result = cli([*gen, "--out", str(tmp_path / "gl.h5")])
    assert result.exit_code == 0, result.output
    _same(read_showers(tmp_path / "gl.h5"), read_showers(tmp_path / "gd.h5"))
    result = cli([*gen, "--out", str(tmp_path / "x.h5"), "--cluster", "far"])
    assert result.exit_code == 2
    assert "expected 'local' or 'local:N'" in result.output
