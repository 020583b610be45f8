"""``caloforge info FILE.h5``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from caloforge.cli._common import print_json, user_errors


@user_errors
def info(
    path: Annotated[Path, typer.Argument(help="shower file (CaloChallenge HDF5 layout)")],
    geometry: Annotated[
        str | None,
        typer.Option("--geometry", "-g", help="geometry for files without our attributes"),
    ] = None,
) -> None:
    """Counts, energy range, geometry, conditions and size of a shower file (streamed)."""
    from caloforge.io import file_info

    print_json(file_info(path, geometry))


def register(app: typer.Typer) -> None:
    app.command("info")(info)
