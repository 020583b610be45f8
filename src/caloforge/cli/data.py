"""``caloforge data fetch NAME [--dir DIR]``: download a public dataset, checked and resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from caloforge.cli._common import console, user_errors

data_app = typer.Typer(help="Public shower datasets.", no_args_is_help=True)


@user_errors
def fetch(
    name: Annotated[
        str,
        typer.Argument(
            help="calochallenge-1-photons, calochallenge-1-pions, calochallenge-2 or calochallenge-3"
        ),
    ],
    directory: Annotated[
        Path, typer.Option("--dir", "-d", help="folder for the files (created if missing)")
    ] = Path("."),
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Download every file of a dataset, verify its MD5, resume a broken download when run again."""
    from rich.progress import DownloadColumn, Progress, TaskID, TransferSpeedColumn

    from caloforge.data.calochallenge import dataset_files
    from caloforge.data.fetch import DownloadInterrupted, download

    for remote in dataset_files(name):
        with Progress(
            *Progress.get_default_columns(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            disable=not progress,
        ) as bar:
            task = bar.add_task(remote.name, total=None)

            def show(done: int, total: int | None, task: TaskID = task) -> None:
                bar.update(task, completed=done, total=total)

            try:
                path = download(
                    remote.url,
                    directory / remote.name,
                    remote.md5,
                    progress=show,
                )
            except DownloadInterrupted as exc:
                raise ValueError(str(exc)) from None
        console.print(f"{path}: MD5 {remote.md5} verified", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    data_app.command("fetch")(fetch)
    app.add_typer(data_app, name="data")
