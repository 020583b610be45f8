"""``caloforge info FILE.h5 [--geometry G] [--json]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from caloforge.cli._common import print_json, user_errors

#: (key in file_info, label, format) rows of the readable table, in order
_ROWS: tuple[tuple[str, str, str], ...] = (
    ("file", "file", "{}"),
    ("geometry", "geometry", "{}"),
    ("n_cells", "cells per shower", "{}"),
    ("particle", "particle", "{}"),
    ("n_showers", "showers (N)", "{}"),
    ("incident_energy_min_mev", "E_inc min [MeV]", "{:.6g}"),
    ("incident_energy_max_mev", "E_inc max [MeV]", "{:.6g}"),
    ("mean_etot_over_einc", "E_tot/E_inc mean", "{:.4f}"),
    ("std_etot_over_einc", "E_tot/E_inc spread (std)", "{:.4f}"),
    ("sparsity", "sparsity (fraction of empty cells)", "{:.4f}"),
    ("energy_scale", "energy scale", "{}"),
    ("energy_scale_found", "energy scale found from", "{}"),
    ("conditions", "conditions", "{}"),
    ("config_counts", "showers per config", "{}"),
    ("file_size_mb", "file size [MB]", "{:.3f}"),
)


def _table(data: dict[str, Any]) -> str:
    lines = []
    width = max(len(label) for _, label, _ in _ROWS)
    for key, label, fmt in _ROWS:
        if key in data and data[key] is not None:
            value = data[key]
            text = ", ".join(map(str, value)) if isinstance(value, list) else fmt.format(value)
            lines.append(f"{label:<{width}}  {text}")
    return "\n".join(lines)


@user_errors
def info(
    path: Annotated[Path, typer.Argument(help="shower file (CaloChallenge HDF5 layout)")],
    geometry: Annotated[
        str | None,
        typer.Option(
            "--geometry", "-g", help="preset or binning .xml for files without our attributes"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for machines")] = False,
) -> None:
    """Counts, energies, E_tot/E_inc, sparsity, energy scale and size of a shower file (streamed)."""
    from caloforge.data.energy_scale import describe_scale, read_file_energy_scale
    from caloforge.io import file_info

    data = file_info(path, geometry)
    if "energy_scale" not in data:
        scale, found = read_file_energy_scale(path, str(data["geometry"]))
        data |= {"energy_scale": describe_scale(scale), "energy_scale_found": found}
    if as_json:
        print_json(data)
    else:
        typer.echo(_table(data))


def register(app: typer.Typer) -> None:
    app.command("info")(info)
