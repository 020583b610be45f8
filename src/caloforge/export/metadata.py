"""What a C++ user needs to call an exported generator without reading our code.

Reading it back needs no torch (:func:`read_metadata`). The same dictionary is written into the ONNX file's ``metadata_props`` (string values, nested
ones as JSON) and into a JSON sidecar ``<model>.onnx.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caloforge.geometry import Geometry

if TYPE_CHECKING:
    from caloforge.models.artifact import Artifact

__all__ = ["FORMAT", "build_metadata", "flattening_order", "read_metadata"]

FORMAT = "caloforge-onnx-generator/1"


def flattening_order(geometry: Geometry) -> str:
    """Human-readable flattening order of the output cells for ``geometry``."""
    parts = []
    for i, layer in enumerate(geometry.layers):
        seg = layer.segmentation
        s = geometry.layer_slice(i)
        if seg.kind == "cartesian":
            order = f"(y row {seg.ny}) x (x column {seg.nx}), x fastest"
        elif seg.kind == "polar":
            order = f"(alpha {seg.n_alpha}) x (r {seg.n_r}), r fastest"
        else:
            order = f"(eta {seg.n_eta}) x (phi {seg.n_phi}), phi fastest"
        parts.append(f"cells[{s.start}:{s.stop}] = layer {i} '{layer.name}': {order}")
    return "; ".join(parts)


def build_metadata(artifact: Artifact) -> dict[str, Any]:
    g, enc = artifact.geometry, artifact.encoding
    return {
        "caloforge_format": FORMAT,
        "family": artifact.family,
        "particle": artifact.particle,
        "seed": artifact.seed,
        "inputs": {
            "noise": {
                "shape": ["batch", artifact.generator.noise_dim],
                "dtype": "float32",
                "law": "independent standard normal; drawn by the caller, never inside the graph",
            },
            "conditions": {
                "shape": ["batch", enc.dim],
                "dtype": "float32",
                "column_0": "(ln(E_inc / MeV) - centre) / half_width",
                "centre": enc.centre,
                "half_width": enc.half_width,
                "trained_energy_range_mev": [enc.energy_min_mev, enc.energy_max_mev],
                "config_one_hot": (
                    f"columns 1..{enc.n_configs}: one-hot of the alignment configuration"
                    if enc.uses_config
                    else "none"
                ),
                "n_configs": enc.n_configs,
            },
        },
        "output": {
            "name": "cells",
            "shape": ["batch", g.n_cells],
            "dtype": "float32",
            "unit": "MeV (visible energy per cell, no further scaling)",
            "flattening_order": flattening_order(g),
        },
        "geometry_name": g.name,
        "geometry": g.to_dict(),
    }


def to_onnx_props(meta: dict[str, Any]) -> dict[str, str]:
    """Flatten to the string -> string map ONNX metadata_props holds."""
    return {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in meta.items()}


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Our metadata from an ONNX file; a clear error for files exported elsewhere."""
    import onnx

    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        msg = f"{path}: not a readable ONNX file: {exc}"
        raise ValueError(msg) from exc
    external = [
        t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL
    ]
    if external:
        msg = f"{path}: tensor {external[0]!r} keeps its data in another file (ONNX external data); refusing to read files outside the model, export it again as one file"
        raise ValueError(msg)
    props = {p.key: p.value for p in model.metadata_props}
    if props.get("caloforge_format") is None:
        msg = (
            f"{path}: no caloforge metadata (metadata_props key 'caloforge_format' missing); "
            "export the model with `caloforge export` so inputs, units and geometry are known"
        )
        raise ValueError(msg)
    return {
        k: v
        if k == "caloforge_format" or k in ("family", "particle", "geometry_name")
        else json.loads(v)
        for k, v in props.items()
    }
