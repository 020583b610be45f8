"""Single-cell slab geometries for the transport tests (not presets).

:func:`one_cell` reads any stack of slabs as one layer of one square cell; :func:`thin_al_si`
is the thin converter the escape and step-count tests share: 1 mm of Al (0.011 X0, passive)
then 0.1 mm of Si (active), 10 mm wide.
"""

from __future__ import annotations

from caloforge.geometry import CartesianGrid, Geometry, Layer, Slab

__all__ = ["one_cell", "thin_al_si"]


def one_cell(name: str, *slabs: Slab, width_mm: float = 1000.0) -> Geometry:
    """One readout layer of one ``width_mm`` × ``width_mm`` cell reading ``slabs`` in order."""
    return Geometry(name, (Layer("l0", CartesianGrid(1, 1, width_mm, width_mm), slabs),))


def thin_al_si() -> Geometry:
    """1 mm Al (passive) + 0.1 mm Si (active), one 10 mm cell."""
    return one_cell("thin", Slab("Al", 1.0, False), Slab("Si", 0.1, True), width_mm=10.0)
