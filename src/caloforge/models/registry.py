"""Model families by name: ``get_family("wgan-gp")``."""

from __future__ import annotations

from typing import TypeVar

from caloforge.models.base import Family

__all__ = ["FAMILIES", "get_family", "register_family"]

FAMILIES: dict[str, type[Family]] = {}
F = TypeVar("F", bound=type[Family])


def register_family(cls: F) -> F:
    """Class decorator adding a :class:`Family` subclass under ``cls.name``."""
    FAMILIES[cls.name] = cls
    return cls


def get_family(name: str) -> type[Family]:
    try:
        return FAMILIES[name]
    except KeyError:
        msg = f"unknown model family {name!r}; known: {', '.join(sorted(FAMILIES))}"
        raise ValueError(msg) from None
