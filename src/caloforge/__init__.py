"""caloforge: deep generative surrogates for calorimeter showers, and the proof they are faithful.

Stages (each a command and a function of the same name): simulate, train, generate, evaluate,
export, bench. Core objects: :class:`caloforge.geometry.Geometry` and
:class:`caloforge.showerset.ShowerSet`.
"""

from caloforge.geometry import Geometry, get_geometry
from caloforge.io import iter_showers, read_showers, write_showers
from caloforge.showerset import ShowerSet

__version__ = "0.1.0"
__all__ = [
    "Geometry",
    "ShowerSet",
    "__version__",
    "get_geometry",
    "iter_showers",
    "read_showers",
    "write_showers",
]
