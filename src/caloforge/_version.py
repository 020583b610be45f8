"""caloforge's version, read from the installed package metadata (its one source is the
``version`` field of ``pyproject.toml``)."""

from __future__ import annotations

from importlib import metadata

__all__ = ["__version__"]

try:
    __version__ = metadata.version("caloforge")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
