"""Typed configuration objects from mappings (TOML tables, model.json): unknown keys rejected.

Every configuration in the package is a frozen dataclass whose field defaults are the single
place defaults live. :func:`from_mapping` builds one from a mapping, checking names and types and
naming ``where`` (file and table) in every error; :func:`to_mapping` goes back (tuples as lists).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["MAX_DEPTH", "MAX_WIDTH", "check_sizes", "from_mapping", "to_mapping"]

T = TypeVar("T")

#: largest layer width, noise or latent dimension a configuration may ask for (units)
MAX_WIDTH = 16384
#: most hidden layers a configuration may ask for
MAX_DEPTH = 64


def check_sizes(**sizes: int | tuple[int, ...]) -> None:
    """Raise ValueError (naming the key) unless each size is in ``1..MAX_WIDTH`` and each tuple
    of widths has at most ``MAX_DEPTH`` entries; checked before anything is allocated."""
    for key, value in sizes.items():
        widths = value if isinstance(value, tuple) else (value,)
        if len(widths) > MAX_DEPTH:
            msg = f"{key}: at most {MAX_DEPTH} layers, got {len(widths)}"
            raise ValueError(msg)
        for w in widths:
            if not 1 <= w <= MAX_WIDTH:
                msg = f"{key}: sizes must be between 1 and {MAX_WIDTH}, got {w}"
                raise ValueError(msg)


def check_counts(**counts: int) -> None:
    """Raise ValueError ``"<key> must be >= 1, got <value>"`` for the first count below 1
    (steps, batches, layers: the integers of a config that must be positive)."""
    for key, value in counts.items():
        if value < 1:
            msg = f"{key} must be >= 1, got {value}"
            raise ValueError(msg)


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0])
    if origin is tuple:
        if not isinstance(value, list | tuple):
            msg = f"{where}: expected a list, got {value!r}"
            raise ValueError(msg)
        item = args[0] if args else Any
        return tuple(_coerce(v, item, where) for v in value)
    if origin is typing.Literal:
        if value not in args:
            msg = f"{where}: {value!r} is not one of {', '.join(map(repr, args))}"
            raise ValueError(msg)
        return value
    if annotation is Any:
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            msg = f"{where}: expected true or false, got {value!r}"
            raise ValueError(msg)
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            msg = f"{where}: expected an integer, got {value!r}"
            raise ValueError(msg)
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"{where}: expected a number, got {value!r}"
            raise ValueError(msg)
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            msg = f"{where}: expected a string, got {value!r}"
            raise ValueError(msg)
        return value
    msg = f"{where}: unsupported field type {annotation!r}"
    raise ValueError(msg)


def from_mapping(cls: type[T], mapping: Mapping[str, Any], where: str) -> T:
    """Build dataclass ``cls`` from ``mapping``; unknown keys and wrong types are ValueErrors."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        msg = f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; known keys: {', '.join(fields)}"
        raise ValueError(msg)
    hints = typing.get_type_hints(cls)
    kwargs = {k: _coerce(v, hints[k], f"{where}: key {k!r}") for k, v in mapping.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        msg = f"{where}: {exc}"
        raise ValueError(msg) from exc


def to_mapping(obj: Any) -> dict[str, Any]:
    """Dataclass -> plain dict of JSON/TOML values (tuples become lists)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out
