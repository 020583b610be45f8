"""Optional dependencies: import one, or fail with a message naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingExtraError", "missing_extra_message", "require"]


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""


def missing_extra_message(module: str, extra: str, purpose: str) -> str:
    """One line: what needs ``module`` and the ``pip install`` that provides it."""
    return (
        f"{purpose} needs the optional package {module!r}, which is not installed; "
        f"install the extra: pip install 'caloforge[{extra}]'"
    )


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import and return ``module`` (e.g. ``"onnxruntime"``), or raise
    :class:`MissingExtraError` naming ``extra`` (a key of ``[project.optional-dependencies]``)
    and ``purpose`` (what needed it, e.g. ``"caloforge export"``)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module != exc.name and not module.startswith(f"{exc.name}."):
            raise  # the package is there but one of its own dependencies is missing
        raise MissingExtraError(missing_extra_message(module, extra, purpose)) from exc
