"""Geometry: readout layers (segmentation + slabs) and the flat cell vector.

Flattening order of the whole geometry: layer by layer in depth order; inside a layer, the
segmentation's own order (see :mod:`caloforge.geometry.segmentation`). ``geometry.layer_slice(i)``
gives layer ``i``'s cells in the flat vector ``cells[:, geometry.layer_slice(i)]``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from caloforge.geometry.segmentation import Segmentation, segmentation_from_dict
from caloforge.geometry.stack import Slab

__all__ = ["Geometry", "Layer"]


@dataclass(frozen=True)
class Layer:
    """One readout layer: its segmentation and the slabs whose active deposits it reads."""

    name: str
    segmentation: Segmentation
    slabs: tuple[Slab, ...] = ()

    @property
    def n_cells(self) -> int:
        return self.segmentation.n_cells

    @property
    def thickness_mm(self) -> float:
        return float(sum(s.thickness_mm for s in self.slabs))

    @property
    def x0(self) -> float:
        """Depth of this layer's slabs in radiation lengths."""
        return float(sum(s.x0 for s in self.slabs))


@dataclass(frozen=True)
class Geometry:
    """A calorimeter: dead material in front (``front``), then readout ``layers`` in depth order.

    ``has_stack`` is False for readout-only geometries (e.g. a binning XML without a stack):
    those can be read, written and evaluated, but not simulated.
    """

    name: str
    layers: tuple[Layer, ...]
    front: tuple[Slab, ...] = ()
    description: str = ""
    alignment_configs: int = 1
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    # ---- cells -------------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @cached_property
    def layer_offsets(self) -> np.ndarray:
        """(n_layers + 1,) start index of each layer in the flat vector, then n_cells."""
        return np.concatenate([[0], np.cumsum([ly.n_cells for ly in self.layers])]).astype(int)

    @property
    def n_cells(self) -> int:
        return int(self.layer_offsets[-1])

    def layer_slice(self, i: int) -> slice:
        return slice(int(self.layer_offsets[i]), int(self.layer_offsets[i + 1]))

    @cached_property
    def cell_layer(self) -> np.ndarray:
        """(n_cells,) layer index of every cell."""
        return np.repeat(np.arange(self.n_layers), [ly.n_cells for ly in self.layers])

    def layer_energies(self, cells: np.ndarray, *, dtype: npt.DTypeLike = np.float64) -> np.ndarray:
        """Energy per readout layer: ``cells`` (..., n_cells) -> (..., n_layers), in the cells'
        unit (MeV for shower files). Each layer's cells are summed with accumulator and result
        type ``dtype`` (float64 by default; ``cells.dtype`` reproduces a plain ``.sum``). A
        layer without cells gets 0."""
        c = np.asarray(cells)
        if c.ndim == 0 or c.shape[-1] != self.n_cells:
            msg = (
                f"geometry {self.name!r}: cells of shape {c.shape}; expected (..., {self.n_cells})"
                f" with one value per cell"
            )
            raise ValueError(msg)
        out = np.zeros((*c.shape[:-1], self.n_layers), dtype=dtype)
        for i in range(self.n_layers):
            out[..., i] = c[..., self.layer_slice(i)].sum(axis=-1, dtype=dtype)
        return out

    def layer_images(self, cells: np.ndarray, i: int) -> np.ndarray:
        """Layer ``i`` of ``cells`` (N, n_cells) reshaped to (N, *segmentation.shape)."""
        seg = self.layers[i].segmentation
        return np.asarray(cells)[..., self.layer_slice(i)].reshape(*cells.shape[:-1], *seg.shape)

    def cell_centres(self) -> np.ndarray:
        """(n_cells, 2) centres in each layer's natural coordinates (see segmentation)."""
        parts = [ly.segmentation.centres() for ly in self.layers]
        return np.concatenate(parts) if parts else np.zeros((0, 2))

    def cell_centres_mm(self) -> np.ndarray:
        """(n_cells, 2) lateral centres in mm."""
        parts = [ly.segmentation.centres_mm() for ly in self.layers]
        return np.concatenate(parts) if parts else np.zeros((0, 2))

    def cell_sizes(self) -> np.ndarray:
        parts = [ly.segmentation.sizes() for ly in self.layers]
        return np.concatenate(parts) if parts else np.zeros((0, 2))

    def cell_sizes_mm(self) -> np.ndarray:
        parts = [ly.segmentation.sizes_mm() for ly in self.layers]
        return np.concatenate(parts) if parts else np.zeros((0, 2))

    # ---- stack -------------------------------------------------------------------------------
    @property
    def has_stack(self) -> bool:
        return any(ly.slabs for ly in self.layers)

    @property
    def front_x0(self) -> float:
        return float(sum(s.x0 for s in self.front))

    @property
    def total_x0(self) -> float:
        return self.front_x0 + float(sum(ly.x0 for ly in self.layers))

    def layer_depth_x0(self) -> np.ndarray:
        """(n_layers,) depth of each layer's centre in X0, counted from the front of the stack."""
        start = self.front_x0 + np.concatenate([[0.0], np.cumsum([ly.x0 for ly in self.layers])])
        return 0.5 * (start[1:] + start[:-1])

    def slabs(self) -> tuple[list[Slab], np.ndarray]:
        """All slabs front to back and, per slab, its readout layer index (-1 for ``front``)."""
        slabs = list(self.front)
        owner = [-1] * len(self.front)
        for i, ly in enumerate(self.layers):
            slabs += ly.slabs
            owner += [i] * len(ly.slabs)
        return slabs, np.asarray(owner, dtype=int)

    # ---- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "alignment_configs": self.alignment_configs,
            "front": [asdict(s) for s in self.front],
            "layers": [
                {
                    "name": ly.name,
                    "segmentation": asdict(ly.segmentation),
                    "slabs": [asdict(s) for s in ly.slabs],
                }
                for ly in self.layers
            ],
            "extra": self.extra,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> Geometry:
        try:
            return cls(
                name=d["name"],
                description=d.get("description", ""),
                alignment_configs=int(d.get("alignment_configs", 1)),
                front=tuple(Slab(**s) for s in d.get("front", [])),
                layers=tuple(
                    Layer(
                        name=ly["name"],
                        segmentation=segmentation_from_dict(ly["segmentation"]),
                        slabs=tuple(Slab(**s) for s in ly.get("slabs", [])),
                    )
                    for ly in d["layers"]
                ),
                extra=dict(d.get("extra", {})),
            )
        except (KeyError, TypeError) as exc:
            msg = f"malformed geometry description: {exc!r}"
            raise ValueError(msg) from exc

    @classmethod
    def from_json(cls, text: str) -> Geometry:
        return cls.from_dict(json.loads(text))

    def same_readout(self, other: Geometry) -> bool:
        """True when both geometries have the same layers and segmentations (cell by cell)."""
        return [ly.segmentation for ly in self.layers] == [ly.segmentation for ly in other.layers]

    def readout_difference(self, other: Geometry) -> str | None:
        """The first difference between this readout and ``other``'s, e.g. ``layer 1
        ('middle'): CartesianGrid(...) here, CartesianGrid(...) there``; None when they are the
        same (:meth:`same_readout`)."""
        if len(self.layers) != len(other.layers):
            return f"{len(self.layers)} layers here, {len(other.layers)} there"
        for i, (a, b) in enumerate(zip(self.layers, other.layers, strict=True)):
            if a.segmentation != b.segmentation:
                return f"layer {i} ({a.name!r}): {a.segmentation} here, {b.segmentation} there"
        return None
