"""caloforge: deep generative surrogates for calorimeter showers, and the proof they are faithful.

Stages (each a command and a function of the same name): simulate, train, generate, evaluate,
export, bench. Core objects: :class:`caloforge.geometry.Geometry` and
:class:`caloforge.showerset.ShowerSet`.

``import caloforge`` loads nothing but this file: the names below are imported from their
modules on first access (so the command line starts without numpy, h5py or torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from caloforge._version import __version__
from caloforge.lazy import lazy_attributes

if TYPE_CHECKING:
    from caloforge.geometry import Geometry, get_geometry
    from caloforge.io import iter_showers, read_showers, write_showers
    from caloforge.showerset import ShowerSet

#: public name -> the module that defines it
_WHERE = {
    "Geometry": "caloforge.geometry",
    "ShowerSet": "caloforge.showerset",
    "get_geometry": "caloforge.geometry",
    "iter_showers": "caloforge.io",
    "read_showers": "caloforge.io",
    "write_showers": "caloforge.io",
}

__all__ = [
    "Geometry",
    "ShowerSet",
    "__version__",
    "get_geometry",
    "iter_showers",
    "read_showers",
    "write_showers",
]


__getattr__ = lazy_attributes(__name__, _WHERE)


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
