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
import warnings
from collections.abc import Callable
from typing import Any, ParamSpec, TextIO, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from caloforge._optional import MissingExtraError

__all__ = [
    "check_device",
    "console",
    "print_error",
    "print_json",
    "print_text",
    "print_warning",
    "user_errors",
]

console = Console(stderr=True)
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


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    print_warning(message)


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Report ValueError/FileNotFoundError/MissingExtraError as ``error: ...`` and exit 2 (no traceback); warnings
    raised meanwhile print as ``warning: ...`` lines. Messages are plain text."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
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
