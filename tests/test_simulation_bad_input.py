"""simulate / simulate_to_file / `caloforge simulate`: bad input gives a clear error and no file."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from caloforge.geometry import get_geometry
from caloforge.io import read_showers
from caloforge.simulation import Cuts, provenance, simulate, simulate_to_file
from caloforge.simulation.cascade import run_cascade
from caloforge.simulation.gun import GunSample, ParticleGun

GUN = ParticleGun("photon", energies_mev=(1000.0,))


def _no_leftovers(folder: Path) -> None:
    assert list(folder.iterdir()) == []


def test_unknown_particle() -> None:
    with pytest.raises(ValueError, match="unknown particle 'pion'"):
        ParticleGun("pion", energies_mev=(1000.0,))


@pytest.mark.parametrize("energy", [0.0, -5.0, math.nan, math.inf])
def test_bad_energy(energy: float) -> None:
    with pytest.raises(ValueError, match="finite and > 0"):
        ParticleGun("photon", energies_mev=(energy,))


def test_engine_rejects_bad_energy_in_a_sample() -> None:
    g = get_geometry("calogan")
    good = GUN.sample(2, g, seed=0)
    bad = GunSample(
        "photon", good.energy_mev * [1, math.nan], good.x_mm, good.y_mm, good.direction,
        good.offset_eta, good.offset_phi, good.shower_seed,
    )  # fmt: skip
    with pytest.raises(ValueError, match="finite and > 0"):
        run_cascade(g, bad)


@pytest.mark.parametrize("n", [0, -3])
def test_bad_number_of_showers(n: int, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        simulate("calogan", GUN, n, progress=False)
    with pytest.raises(ValueError, match="positive integer"):
        simulate_to_file("calogan", GUN, n, tmp_path / "x.h5", progress=False)
    _no_leftovers(tmp_path)


def test_unknown_engine_and_readout_only_geometry(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown engine 'geant5'; engines: cascade, gflash"):
        simulate_to_file("calogan", GUN, 2, tmp_path / "x.h5", engine="geant5", progress=False)
    xml = get_geometry("calogan")
    readout_only = type(xml)(
        xml.name, tuple(type(ly)(ly.name, ly.segmentation) for ly in xml.layers)
    )
    with pytest.raises(ValueError, match="no slab stack"):
        simulate_to_file(readout_only, GUN, 2, tmp_path / "x.h5", progress=False)
    _no_leftovers(tmp_path)


def test_unwritable_output(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        simulate_to_file("calogan", GUN, 2, tmp_path / "missing" / "x.h5", progress=False)
    locked = tmp_path / "locked"
    locked.mkdir()
    with pytest.raises(ValueError, match="is a folder, not a file"):
        simulate_to_file("calogan", GUN, 2, locked, progress=False)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="is not a directory"):
        simulate_to_file("calogan", GUN, 2, a_file / "x.h5", progress=False)
    locked.chmod(0o500)
    try:
        # permissions bind only for non-root users (CI may run as root)
        if not os.access(locked, os.W_OK):
            with pytest.raises(ValueError, match="not writable"):
                simulate_to_file("calogan", GUN, 2, locked / "x.h5", progress=False)
            _no_leftovers(locked)
    finally:
        locked.chmod(0o700)


@pytest.mark.slow  # the cascade MC
def test_failure_mid_run_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:
    import caloforge.simulation as sim

    calls = {"n": 0}

    def flaky(geometry, sample, *, workers):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("engine crashed")
        return run_cascade(geometry, sample, workers=workers)

    monkeypatch.setitem(sim.ENGINES, "flaky", flaky)
    with pytest.raises(RuntimeError, match="engine crashed"):
        simulate_to_file(
            "calogan", GUN, 4, tmp_path / "x.h5", engine="flaky", batch_size=2, progress=False
        )
    _no_leftovers(tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--energy", "50"], "no unit"),
        (["--energy", "-5GeV"], "positive"),
        (["--energy", "nanGeV"], "cannot read energy"),
        (["--energies", "1GeV,2"], "no unit"),
        (["--energy-range", "1GeV"], "MIN:MAX"),
        (["--energy", "1GeV", "--energies", "2GeV"], "exactly one of"),
        (["--energy", "1GeV", "--n", "0"], "number of showers must be between 1 and"),
    ],
)
def test_cli_bad_input(args: list[str], message: str, tmp_path: Path, cli: Callable) -> None:
    out = tmp_path / "x.h5"
    result = cli(["simulate", "--geometry", "calogan", "--out", str(out), *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not out.exists()


def test_cli_unknown_particle_and_engine(tmp_path: Path, cli: Callable) -> None:
    base = [
        "simulate",
        "--geometry",
        "calogan",
        "--energy",
        "1GeV",
        "--out",
        str(tmp_path / "x.h5"),
    ]
    result = cli([*base, "--particle", "pion"])
    assert result.exit_code == 2
    assert "pion" in result.output
    result = cli([*base, "--engine", "geant5"])
    assert result.exit_code == 2
    _no_leftovers(tmp_path)


@pytest.mark.slow  # the cascade MC
def test_cli_writes_a_file_with_a_summary(tmp_path: Path, cli: Callable) -> None:
    out = tmp_path / "x.h5"
    result = cli(
        ["simulate", "--geometry", "atlas-em-barrel", "--particle", "electron", "--energy-range",
         "500MeV:2GeV", "--log-uniform", "--n", "4", "--seed", "3", "--workers", "1", "--out", str(out),
         "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "showers/s" in text
    assert "mean sampling fraction" in text
    assert out.is_file()


@pytest.mark.slow  # the cascade MC
def test_file_records_the_provenance_of_its_job(tmp_path: Path) -> None:
    out = tmp_path / "p.h5"
    simulate_to_file("calogan", GUN, 3, out, seed=11, progress=False, workers=1)
    attrs = read_showers(out, stop=0).attrs
    expected = provenance(get_geometry("calogan"), GUN, 3, 11, "cascade", None)
    # measured at the end, and the file's energy convention (calogan: visible energy, factor 1)
    written_by_the_writer = {"mean_sampling_fraction", "energy_scale"}
    assert {k: v for k, v in attrs.items() if k not in written_by_the_writer} == expected
    assert attrs["energy_scale"] == 1.0
    assert expected["cuts"] == Cuts().to_dict()
    assert expected["gun"]["energies_mev"] == [1000.0]
    assert expected["seed"] == 11
    assert "cuts" not in provenance(get_geometry("calogan"), GUN, 3, 11, "gflash", None)
