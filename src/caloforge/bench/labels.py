"""How a bench result names what it timed (light: no torch, so evaluation can read it)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["model_label"]


def model_label(family: str, model_dir: str | Path) -> str:
    """The ``what`` of a timed model's rows: its family and folder name."""
    return f"{family} ({Path(model_dir).name})"
