"""``caloforge --version`` and the help pages: no ``<bool>`` type on on/off flags."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from caloforge import __version__
from caloforge.cli import app

runner = CliRunner()
COMMANDS = ["simulate", "train", "generate", "evaluate", "export", "bench", "info", "tune"]


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"caloforge {__version__}"


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_shows_no_bool_type_on_flags(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    assert "<bool>" not in result.output
    if command == ["simulate"]:
        assert "<int>" in result.output  # value types are still shown
