"""User text in CLI messages is printed as plain text, never parsed as Rich markup."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import typer
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.cli._common import user_errors

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _probe_app() -> typer.Typer:
    probe = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @probe.command()
    @user_errors
    def run(what: str) -> None:
        if what == "warn":
            warnings.warn("section [train] has [bold]no[/bold] seed", UserWarning, stacklevel=1)
            return
        if what == "long":
            raise ValueError("x" * 300 + " [end]")
        raise ValueError("energy range: got [nan, 32000.0] in [train] of [/bold]cfg.toml")

    return probe


def test_brackets_in_errors_print_as_written() -> None:
    result = CliRunner().invoke(_probe_app(), ["boom"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: energy range: got [nan, 32000.0] in [train] of [/bold]cfg.toml"
    )
    assert "Traceback" not in result.output


def test_long_error_stays_on_one_line() -> None:
    result = CliRunner().invoke(_probe_app(), ["long"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.rstrip().endswith(" [end]")


def test_warnings_print_as_one_plain_line() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # the test suite turns warnings into errors
        result = CliRunner().invoke(_probe_app(), ["warn"])
    assert result.exit_code == 0
    assert result.stderr.strip() == "warning: section [train] has [bold]no[/bold] seed"


def test_info_with_markup_in_the_file_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["info", str(tmp_path / "[/bold]x.h5")])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path}/[/bold]x.h5: no such file"
    assert "Traceback" not in result.output
    assert "MarkupError" not in result.output


def test_info_with_markup_in_the_file_name_subprocess(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from caloforge.cli import main; main()", "info", "[/bold]x.h5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": SRC, "COLUMNS": "40"},
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "error: [/bold]x.h5: no such file"
