"""``caloforge simulate``: reference showers with the cascade MC or GFlash, into an HDF5 file."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from caloforge.cli._common import print_text, user_errors
from caloforge.units import parse_energies, parse_energy


class Particle(StrEnum):
    photon = "photon"
    electron = "electron"
    positron = "positron"


class EngineName(StrEnum):
    cascade = "cascade"
    gflash = "gflash"


def _energy_range(text: str) -> tuple[float, float]:
    lo, sep, hi = text.partition(":")
    if not sep:
        msg = f"--energy-range {text!r}: expected MIN:MAX with units, e.g. 1GeV:100GeV"
        raise ValueError(msg)
    return parse_energy(lo), parse_energy(hi)


@user_errors
def simulate_cmd(
    geometry: Annotated[
        str, typer.Option("--geometry", "-g", help="preset name (see `caloforge geometry list`)")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="output shower file (.h5)")],
    particle: Annotated[Particle, typer.Option(help="incident particle")] = Particle.photon,
    energy: Annotated[str | None, typer.Option(help="one energy with its unit, e.g. 50GeV")] = None,
    energies: Annotated[
        str | None, typer.Option(help="comma-separated energies, e.g. 16GeV,32GeV,64GeV")
    ] = None,
    energy_range: Annotated[
        str | None, typer.Option(help="MIN:MAX energy range, e.g. 1GeV:100GeV")
    ] = None,
    log_uniform: Annotated[
        bool, typer.Option("--log-uniform", help="draw the range log-uniformly")
    ] = False,
    n: Annotated[
        int,
        typer.Option(
            "--n",
            "-n",
            help="total number of showers, --energies cycled (450 with 3 energies: 150 each)",
        ),
    ] = 1000,
    seed: Annotated[int, typer.Option(min=0, help="random seed (same seed, same file)")] = 0,
    workers: Annotated[
        int | None,
        typer.Option(
            help="threads (default: all cores; per Dask task: 1); the file does not depend on it"
        ),
    ] = None,
    engine: Annotated[EngineName, typer.Option(help="simulation engine")] = EngineName.cascade,
    batch_size: Annotated[
        int | None, typer.Option(help="showers per batch (default: by memory)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    step_scale: Annotated[
        float,
        typer.Option(
            "--step-scale",
            min=0.01,
            max=1.0,
            help="cascade only: every e± step limit times this factor (convergence checks)",
        ),
    ] = 1.0,
    range_cut: Annotated[
        float,
        typer.Option(
            "--range-cut",
            min=0.001,
            max=1000.0,
            help="cascade only: production cut in range (mm), converted per material into the "
            "photon and delta-ray thresholds as Geant4 does",
        ),
    ] = 0.7,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="spread the showers over this Dask scheduler's workers"),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option("--cluster", help="spread the showers over a local Dask cluster: local[:N]"),
    ] = None,
    part_size: Annotated[
        int | None, typer.Option("--part-size", help="showers per Dask task (default: by workers)")
    ] = None,
    retries: Annotated[int, typer.Option("--retries", help="retries of a failed Dask task")] = 2,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="replace --out if it exists (default: refuse)")
    ] = False,
) -> None:
    """Simulate showers and write them (atomically) in the CaloChallenge HDF5 layout; with
    --scheduler or --cluster, Dask tasks simulate parts that are merged (the same file)."""
    from caloforge.geometry import get_geometry
    from caloforge.io import check_output_path
    from caloforge.scale.dask import open_executor
    from caloforge.simulation import Cuts, simulate_to_file
    from caloforge.simulation.gun import ParticleGun, check_shower_count

    given = [
        o
        for o, v in (
            ("--energy", energy),
            ("--energies", energies),
            ("--energy-range", energy_range),
        )
        if v
    ]
    if len(given) != 1:
        msg = f"give exactly one of --energy, --energies or --energy-range (got {', '.join(given) or 'none'})"
        raise ValueError(msg)
    if energy:
        gun = ParticleGun(particle.value, energies_mev=(parse_energy(energy),))
    elif energies:
        gun = ParticleGun(particle.value, energies_mev=tuple(parse_energies(energies)))
    else:
        assert energy_range is not None
        gun = ParticleGun(
            particle.value, energy_range_mev=_energy_range(energy_range), log_uniform=log_uniform
        )
    if engine.value != "cascade":
        for flag, value, default in (
            ("--step-scale", step_scale, 1.0),
            ("--range-cut", range_cut, 0.7),
        ):
            if value != default:
                msg = f"{flag} {value:g} applies to the cascade engine only, not {engine.value}"
                raise ValueError(msg)
    geo = get_geometry(geometry)
    gun.check_engine(engine.value)
    check_shower_count(n, geo, out)
    check_output_path(out, overwrite=overwrite)
    with open_executor(scheduler=scheduler, cluster=cluster, retries=retries) as executor:
        result = simulate_to_file(
            geo,
            gun,
            n,
            out,
            seed=seed,
            workers=workers,
            engine=engine.value,
            cuts=(
                Cuts(step_scale=step_scale, range_cut_mm=range_cut)
                if engine.value == "cascade"
                else None
            ),
            batch_size=batch_size,
            progress=progress,
            executor=executor,
            part_size=part_size,
            overwrite=overwrite,
        )
    print_text(
        f"wrote {result.n} {particle.value} showers ({engine.value}, {geometry}) to {out}: "
        f"{result.seconds:.1f} s, {result.showers_per_second:.1f} showers/s, "
        f"mean sampling fraction {result.mean_sampling_fraction:.4f}"
    )


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_cmd)
