"""Sanity bounds: incident energies per engine, number of showers against output space."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from caloforge.geometry import get_geometry
from caloforge.io import write_showers
from caloforge.simulation import simulate
from caloforge.simulation.cascade.physics import GRID_MAX_MEV
from caloforge.simulation.gun import (
    ENGINE_ENERGY_RANGE_MEV,
    MAX_SHOWERS,
    ParticleGun,
    check_shower_count,
    output_bytes,
)
from caloforge.units import parse_energies, parse_energy

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.mark.parametrize("text", ["1e300TeV", "1e10TeV", "10.001TeV"])
def test_gun_refuses_energies_no_engine_is_valid_for(text: str) -> None:
    energy = parse_energy(text)  # a valid number with a unit ...
    with pytest.raises(ValueError, match=r"above 10 TeV, the highest energy") as info:
        ParticleGun("photon", energies_mev=(energy,))  # ... but not a shower any engine makes
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="above 10 TeV"):
        ParticleGun("photon", energy_range_mev=(1e3, energy))


def test_engine_ranges() -> None:
    assert ENGINE_ENERGY_RANGE_MEV["cascade"][1] == GRID_MAX_MEV  # where its tables end
    ParticleGun("photon", energies_mev=(parse_energy("1TeV"),)).check_engine("cascade")
    ParticleGun("photon", energies_mev=(parse_energy("100keV"),)).check_engine("cascade")
    ParticleGun("photon", energies_mev=(parse_energy("10TeV"),)).check_engine("gflash")
    ParticleGun("photon", energies_mev=(parse_energy("1GeV"),)).check_engine("gflash")
    cases = [
        (
            "cascade",
            "1GeV,2TeV",
            r"energy 2 TeV is outside the range of the cascade engine: 100 keV to 1 TeV",
        ),
        ("cascade", "50keV", r"energy 50 keV is outside .* cascade engine"),
        (
            "gflash",
            "500MeV",
            r"energy 500 MeV is outside the range of the gflash engine: 1 GeV to 10 TeV",
        ),
    ]
    for engine, text, message in cases:
        gun = ParticleGun("electron", energies_mev=tuple(parse_energies(text)))
        with pytest.raises(ValueError, match=message):
            gun.check_engine(engine)
    ranged = ParticleGun("photon", energy_range_mev=(500.0, 5e5), log_uniform=True)
    ranged.check_engine("cascade")
    with pytest.raises(ValueError, match=r"500 MeV is outside .* gflash"):
        ranged.check_engine("gflash")
    with pytest.raises(ValueError, match="unknown engine 'geant4'"):
        ranged.check_engine("geant4")


def test_too_many_showers_fail_before_allocating() -> None:
    geo = get_geometry("calogan")
    gun = ParticleGun("photon", energies_mev=(1000.0,))
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"at most 1e\+09, got 100000000000"):
        gun.sample(100_000_000_000, geo, 0)
    with pytest.raises(ValueError, match=r"between 1 and 1e\+09, got 100000000000"):
        check_shower_count(100_000_000_000, geo)
    with pytest.raises(ValueError, match="got 0"):
        check_shower_count(0, geo)
    assert time.monotonic() - start < 1.0
    assert check_shower_count(MAX_SHOWERS, geo) == output_bytes(MAX_SHOWERS, geo)


def test_output_size_estimate_matches_a_written_file(tmp_path: Path) -> None:
    for name, n in (("calogan", 1040), ("atlas-em-barrel", 985)):  # whole HDF5 chunks
        geo = get_geometry(name)
        gun = ParticleGun("photon", energies_mev=(1000.0,))
        showers = simulate(geo, gun, n, seed=1, engine="gflash", progress=False).showers
        assert showers is not None
        path = write_showers(tmp_path / f"{name}.h5", showers)
        size = path.stat().st_size
        estimate = output_bytes(n, geo)
        assert estimate <= size < estimate + 200_000  # + HDF5 headers and attributes


class _Usage(NamedTuple):
    total: int
    used: int
    free: int


def test_shower_count_against_free_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    geo = get_geometry("calochallenge-2")  # 6480 cells: 25 928 bytes per shower
    free = 10 * 25_928
    monkeypatch.setattr(shutil, "disk_usage", lambda _: _Usage(free, 0, free))
    out = tmp_path / "s.h5"
    assert check_shower_count(10, geo, out) == free
    with pytest.raises(
        ValueError,
        match=r"s\.h5: 11 showers of 'calochallenge-2' \(6480 cells\) need about 0\.000285 GB, but .* has 0\.000259 GB free",
    ):
        check_shower_count(11, geo, out)
    out.write_bytes(b"0" * 25_928)  # replacing a file frees its space
    assert check_shower_count(11, geo, out) == 11 * 25_928


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from caloforge.cli import main; main()", "simulate", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": SRC},
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--energy", "1e300TeV"], "energy 1e+300 TeV is above 10 TeV"),
        (["--energy", "1e10TeV", "--engine", "gflash"], "energy 1e+10 TeV is above 10 TeV"),
        (["--energy", "10GeV", "--n", "100000000000"], "between 1 and 1e+09, got 100000000000"),
    ],
)
def test_cli_refuses_absurd_requests_fast(tmp_path: Path, args: list[str], message: str) -> None:
    proc = _cli(tmp_path, "-g", "calogan", "-o", "x.h5", "--no-progress", *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"error: {message}" or message in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.h5").exists()
