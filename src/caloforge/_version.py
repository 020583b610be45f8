"""caloforge's version: its one source (``pyproject.toml`` reads it from here through
``[tool.hatch.version]``; the installed metadata and provenance records carry it)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
