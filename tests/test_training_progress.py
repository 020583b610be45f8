"""Training progress (caloforge.progress): plain periodic lines outside a terminal, a rich bar in one,
or nothing."""

from __future__ import annotations

import io

from rich.console import Console

from caloforge.progress import TrainingProgress


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=terminal, width=120), buffer


def test_plain_lines_outside_a_terminal() -> None:
    console, buffer = _console(terminal=False)
    with TrainingProgress(10, description="vae seed 0", console=console, every=4) as bar:
        for step in range(10):
            bar.advance({"vae": 1.5 / (step + 1), "kl": 0.25, "energy": 2.0, "extra": 9.0})
    lines = buffer.getvalue().splitlines()
    assert "\r" not in buffer.getvalue()
    # every 4 steps and the last one
    assert [line.split(",")[0] for line in lines] == [
        "vae seed 0: step 4/10 (40%)",
        "vae seed 0: step 8/10 (80%)",
        "vae seed 0: step 10/10 (100%)",
    ]
    assert lines[-1].endswith("vae=0.15 kl=0.25 energy=2")  # the first three losses
    assert "steps/s" in lines[0]


def test_default_interval_and_resumed_start() -> None:
    console, buffer = _console(terminal=False)
    bar = TrainingProgress(100, initial=60, description="d", console=console)
    for _ in range(40):
        bar.advance()
    bar.close()
    steps = [line.split(":")[1].split("/")[0].strip() for line in buffer.getvalue().splitlines()]
    assert steps == [f"step {s}" for s in range(65, 101, 5)]


def test_disabled_prints_nothing_and_terminal_gets_a_bar() -> None:
    console, buffer = _console(terminal=False)
    bar = TrainingProgress(5, console=console, enabled=False, every=1)
    for _ in range(5):
        bar.advance({"x": 1.0})
    bar.close()
    assert buffer.getvalue() == ""
    console, buffer = _console(terminal=True)
    with TrainingProgress(5, console=console, description="bar") as bar:
        for _ in range(5):
            bar.advance({"x": 1.0})
    out = buffer.getvalue()
    assert "bar" in out
    assert "5/5" in out
    assert "bar: step" not in out  # no plain lines in a terminal
