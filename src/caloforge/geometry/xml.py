"""Loader for CaloChallenge binning XML files (``<Bins><Bin><Layer r_edges n_bin_alpha>``).

Voxel order in the CaloChallenge files: radial bins fastest, then alpha, then layer, which is
:class:`~caloforge.geometry.segmentation.PolarGrid`'s order. Layers with a single radial edge
(``r_edges="0"``) have no voxels and are kept as empty layers so that layer ids match the XML.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path

from caloforge.geometry.core import Geometry, Layer
from caloforge.geometry.segmentation import PolarGrid

__all__ = ["load_binning_xml"]


def load_binning_xml(path: str | Path, *, name: str | None = None) -> Geometry:
    """Readout geometry (no slab stack) from a CaloChallenge binning XML file."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        msg = f"{path}: cannot read as a CaloChallenge binning XML file ({exc})"
        raise ValueError(msg) from exc
    bins = root.findall("Bin")
    if len(bins) != 1:
        msg = f"{path}: expected exactly one <Bin> element under <Bins>, found {len(bins)}"
        raise ValueError(msg)
    layers: list[Layer] = []
    for el in bins[0].findall("Layer"):
        try:
            lid = int(el.attrib["id"])
            edges = tuple(float(r) for r in el.attrib["r_edges"].split(","))
            n_alpha = int(el.attrib["n_bin_alpha"])
        except (KeyError, ValueError) as exc:
            msg = f"{path}: <Layer> needs integer 'id', 'n_bin_alpha' and comma-separated 'r_edges' ({exc})"
            raise ValueError(msg) from exc
        if any(b <= a for a, b in itertools.pairwise(edges)) or n_alpha < 1:
            msg = f"{path}: layer {lid}: r_edges must increase and n_bin_alpha be >= 1"
            raise ValueError(msg)
        if lid != len(layers):
            msg = f"{path}: layer ids must be 0, 1, 2, ... in order; found {lid} at {len(layers)}"
            raise ValueError(msg)
        layers.append(Layer(name=f"layer{lid}", segmentation=PolarGrid(edges, n_alpha)))
    if not layers:
        msg = f"{path}: no <Layer> elements"
        raise ValueError(msg)
    meta = {"pid": bins[0].attrib.get("pid"), "particle": bins[0].attrib.get("name")}
    return Geometry(
        name=name or path.stem,
        layers=tuple(layers),
        description=f"readout from binning XML {path.name}",
        extra={k: v for k, v in meta.items() if v is not None},
    )
