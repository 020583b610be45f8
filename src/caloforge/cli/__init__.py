"""The ``caloforge`` command line (typer). Thin: parse, build the config, call the library.

Every module in this package that defines ``register(app: typer.Typer) -> None`` adds its
commands; modules are found automatically, so a new stage adds a file and touches nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="caloforge",
    help="Generative surrogates for calorimeter showers: simulate, train, generate, evaluate, "
    "export, bench.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


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
