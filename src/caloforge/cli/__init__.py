"""The ``caloforge`` command line (typer). Thin: parse, build the config, call the library.

Every module in this package that defines ``register(app: typer.Typer) -> None`` adds its
commands; modules are found automatically, so a new stage adds a file and touches nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated, Any

import typer
import typer.core

__all__ = ["app", "main"]

app = typer.Typer(
    name="caloforge",
    help="Generative surrogates for calorimeter showers: simulate, train, generate, evaluate, "
    "export, bench.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _no_flag_type(cls: type) -> None:
    """Typer's help shows a ``<bool>`` type column for on/off flags (``--help``, ``--per-config``),
    which take no value; show no type for them, as click does."""
    shown = getattr(cls, "display_type_rich", None)
    if shown is None or getattr(shown, "_caloforge", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    display_type_rich._caloforge = True  # type: ignore[attr-defined]
    cls.display_type_rich = display_type_rich  # type: ignore[attr-defined]


_no_flag_type(typer.core.TyperOption)


def _version(value: bool) -> None:
    if value:
        from caloforge._version import __version__

        typer.echo(f"caloforge {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="print the version and exit", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Generative surrogates for calorimeter showers: simulate, train, generate, evaluate,
    export, bench."""


def _register_all() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()


def main() -> None:
    app()
