"""Shared CLI plumbing: turning library ValueErrors into clean one-line errors, plain-text
messages, JSON output.

User text (paths, values, messages that quote them) is never interpreted as Rich markup:
``got [nan, 32000.0]`` and ``[/bold]x.h5`` print exactly as written. Print messages with
:func:`print_error`, :func:`print_warning` and :func:`print_text`, not ``console.print`` of an
f-string.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from rich.text import Text

from caloforge._optional import MissingExtraError
from caloforge.progress import stderr_console, warnings_as_lines

__all__ = [
    "check_device",
    "console",
    "print_error",
    "print_json",
    "print_text",
    "print_warning",
    "user_errors",
]

console = stderr_console()  # the progress system's: stderr, long paths never wrapped
P = ParamSpec("P")
R = TypeVar("R")


def _labelled(label: str, style: str, message: object) -> None:
    line = Text.assemble((label, style), " ", str(message))
    console.print(line, highlight=False, soft_wrap=True)


def print_error(message: object) -> None:
    """``error: MESSAGE`` on stderr, one line, the message as plain text."""
    _labelled("error:", "bold red", message)


def print_warning(message: object) -> None:
    """``warning: MESSAGE`` on stderr, one line, the message as plain text."""
    _labelled("warning:", "yellow", message)


def print_text(message: object) -> None:
    """MESSAGE on stderr as plain text (no markup, no highlighting, not wrapped)."""
    console.print(Text(str(message)), highlight=False, soft_wrap=True)


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Report ValueError/FileNotFoundError/MissingExtraError as ``error: ...`` and exit 2 (no traceback); warnings
    raised meanwhile print as ``warning: ...`` lines. Messages are plain text."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with warnings_as_lines(console):
            try:
                return func(*args, **kwargs)
            except (ValueError, FileNotFoundError, MissingExtraError) as exc:
                print_error(exc)
                raise typer.Exit(2) from None

    return wrapper


def check_device(device: str | None, option: str = "--device") -> None:
    """Raise ValueError (one line naming ``option``) unless ``device`` is None, ``cpu``,
    ``cuda`` or ``cuda:N``; call it before any work."""
    if device is not None and re.fullmatch(r"cpu|cuda(:\d+)?", device) is None:
        msg = f"{option}: expected cpu, cuda or cuda:N, got {device!r}"
        raise ValueError(msg)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
