"""caloforge: deep generative surrogates for calorimeter showers, and the proof they are faithful.

Stages (each a command and a function of the same name): ``caloforge.simulate``, ``train``,
``generate``, ``evaluate``, ``export`` (:mod:`caloforge.api`; typed results in
:mod:`caloforge.results`), and the ``bench`` command. Core objects:
:class:`caloforge.geometry.Geometry` and :class:`caloforge.showerset.ShowerSet`.

``import caloforge`` loads nothing but this file: the names below are imported from their
modules on first access (so the command line starts without numpy, h5py or torch).
``caloforge.export`` is the export subpackage, which is callable as the export stage (Python
binds a package's submodule to the package attribute of the same name once it is imported, so
a plain function could not keep that name).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from caloforge._version import __version__
from caloforge.lazy import lazy_attributes

if TYPE_CHECKING:
    from caloforge import export
    from caloforge.api import evaluate, generate, simulate, train
    from caloforge.geometry import Geometry, get_geometry
    from caloforge.io import iter_showers, read_showers, write_showers
    from caloforge.showerset import ShowerSet

#: public name -> the module that defines it
_WHERE = {
    "Geometry": "caloforge.geometry",
    "ShowerSet": "caloforge.showerset",
    "evaluate": "caloforge.api",
    "export": "caloforge.export",  # the subpackage itself (see __getattr__)
    "generate": "caloforge.api",
    "get_geometry": "caloforge.geometry",
    "iter_showers": "caloforge.io",
    "read_showers": "caloforge.io",
    "simulate": "caloforge.api",
    "train": "caloforge.api",
    "write_showers": "caloforge.io",
}

__all__ = [
    "Geometry",
    "ShowerSet",
    "__version__",
    "evaluate",
    "export",
    "generate",
    "get_geometry",
    "iter_showers",
    "read_showers",
    "simulate",
    "train",
    "write_showers",
]

_lazy = lazy_attributes(__name__, _WHERE)


def __getattr__(name: str) -> Any:
    if name == "export":  # the callable subpackage (see the module docstring)
        return importlib.import_module("caloforge.export")
    return _lazy(name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
