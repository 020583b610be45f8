"""One progress and message system (``caloforge.progress``): showers counted like training
steps, plain lines outside a terminal (a log file, CI), one-line warnings."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings

from rich.console import Console

from caloforge.progress import progress_bar, warnings_as_lines


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=terminal, width=100), buffer


def test_showers_in_batches_give_plain_lines_outside_a_terminal() -> None:
    console, buffer = _console(terminal=False)
    with progress_bar("simulate", 1000, console=console) as advance:
        for _ in range(4):
            advance(250)  # batches larger than the 50-shower interval: one line per batch
    text = buffer.getvalue()
    assert "\r" not in text
    assert [ln.split(" (")[0] for ln in text.splitlines()] == [
        f"simulate: {k}/1000 showers" for k in (250, 500, 750, 1000)
    ]
    assert text.splitlines()[-1].split(", ")[1].endswith("showers/s")


def test_nothing_when_hidden_and_a_bar_in_a_terminal() -> None:
    console, buffer = _console(terminal=False)
    with progress_bar("generate", 10, show=False, console=console) as advance:
        advance(10)
    assert buffer.getvalue() == ""
    console, buffer = _console(terminal=True)
    with progress_bar("generate", 10, console=console) as advance:
        advance(10)
    assert "10/10" in buffer.getvalue()
    assert "generate: 10/10 showers" not in buffer.getvalue()


def test_warnings_are_one_line() -> None:
    console, buffer = _console(terminal=False)
    with warnings_as_lines(console), warnings.catch_warnings():
        warnings.simplefilter("always")  # the suite turns warnings into errors
        warnings.warn("only [12] showers, fewer than 5000", UserWarning, stacklevel=1)
    assert buffer.getvalue() == "warning: only [12] showers, fewer than 5000\n"


def test_simulate_in_a_log_file_prints_progress_lines(tmp_path: object) -> None:
    code = (
        "from caloforge.simulation import simulate; from caloforge.simulation.gun import "
        "ParticleGun; simulate('atlas-em-barrel', ParticleGun(energies_mev=(4000.0,)), 40, "
        "engine='gflash', workers=1)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    lines = res.stderr.strip().splitlines()
    assert lines, res.stderr
    assert lines[-1].startswith("simulate: 40/40 showers (100%)"), res.stderr
    assert all(ln.startswith("simulate: ") for ln in lines), res.stderr
