"""Model artifacts: a folder with ``weights.safetensors`` and ``model.json``. Never unpickles.

``model.json`` holds everything needed to rebuild and use the generator: ``family``,
``hyperparameters``, ``geometry`` (full JSON), ``particle``, ``preprocessing``, ``conditions``
(the encoding, including the trained energy range in MeV), ``noise`` (dimension and law),
``seed``, ``provenance`` (versions, time, data file, steps, ...) and ``metrics``.
``weights.safetensors`` holds the generator's tensors only (critics and encoders are training
state and live in the checkpoints).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from caloforge.geometry import Geometry
from caloforge.io import atomic_path, atomic_write_text
from caloforge.models.base import Generator
from caloforge.models.conditions import ConditionEncoding
from caloforge.models.hparams import from_mapping, to_mapping
from caloforge.models.preprocessing import Preprocessing
from caloforge.models.registry import get_family

__all__ = ["MODEL_JSON", "WEIGHTS", "Artifact", "load_model", "save_model", "tensor_dict"]

MODEL_JSON, WEIGHTS = "model.json", "weights.safetensors"
FORMAT, FORMAT_VERSION = "caloforge-model", 1
REQUIRED_KEYS = (
    "format",
    "format_version",
    "family",
    "hyperparameters",
    "geometry",
    "particle",
    "preprocessing",
    "conditions",
    "seed",
)


@dataclass
class Artifact:
    """A loaded model: the generator (in eval mode) and its model.json description."""

    generator: Generator
    family: str
    hparams: Any
    particle: str
    seed: int
    path: Path
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def geometry(self) -> Geometry:
        return self.generator.geometry

    @property
    def encoding(self) -> ConditionEncoding:
        return self.generator.encoding


def tensor_dict(module: torch.nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """A module's state as contiguous CPU tensors (what safetensors stores)."""
    return {f"{prefix}{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def save_model(
    out_dir: str | Path,
    generator: Generator,
    *,
    family: str,
    hparams: Any,
    particle: str,
    seed: int,
    provenance: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write the artifact folder (each file atomically; model.json last). Returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / WEIGHTS) as tmp:
        save_file(tensor_dict(generator), str(tmp), metadata={"format": FORMAT})
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "family": family,
        "hyperparameters": to_mapping(hparams),
        "geometry": generator.geometry.to_dict(),
        "particle": particle,
        "preprocessing": generator.preprocessing.to_dict(),
        "conditions": to_mapping(generator.encoding),
        "conditions_encoding": "column 0: (ln(E/MeV) - centre) / half_width over the trained "
        "range; then a one-hot of the alignment configuration when n_configs > 1",
        "noise": {"dim": generator.noise_dim, "law": "standard normal, float32"},
        "seed": seed,
        "provenance": provenance or {},
        "metrics": metrics or {},
    }
    atomic_write_text(out / MODEL_JSON, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return out


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        msg = f"{path}: no such file; a model folder holds {MODEL_JSON} and {WEIGHTS}"
        raise ValueError(msg)
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not valid JSON: {exc}"
        raise ValueError(msg) from exc
    if not isinstance(doc, dict):
        msg = f"{path}: expected a JSON object"
        raise ValueError(msg)
    missing = [k for k in REQUIRED_KEYS if k not in doc]
    if missing:
        msg = f"{path}: missing key(s) {', '.join(map(repr, missing))}"
        raise ValueError(msg)
    if doc["format"] != FORMAT or doc["format_version"] != FORMAT_VERSION:
        msg = f"{path}: key 'format' is {doc['format']!r} v{doc['format_version']}; expected {FORMAT!r} v{FORMAT_VERSION}"
        raise ValueError(msg)
    return doc


def load_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """``load_state_dict`` with errors naming ``source`` and the key (missing, extra, shape)."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        msg = f"{source}: tensor keys do not match the model: missing {missing}, unexpected {extra}"
        raise ValueError(msg)
    for key, ref in expected.items():
        if tuple(tensors[key].shape) != tuple(ref.shape) or tensors[key].dtype != ref.dtype:
            msg = f"{source}: tensor {key!r} has shape {tuple(tensors[key].shape)} {tensors[key].dtype}; expected {tuple(ref.shape)} {ref.dtype}"
            raise ValueError(msg)
    module.load_state_dict(tensors, strict=True)


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        msg = f"{path}: no such file"
        raise ValueError(msg)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        msg = f"{path}: not a readable safetensors file: {exc}"
        raise ValueError(msg) from exc


def load_model(model_dir: str | Path, *, device: str | torch.device = "cpu") -> Artifact:
    """Rebuild the generator from ``model_dir``; every inconsistency is a ValueError naming the
    file and key."""
    folder = Path(model_dir)
    if not folder.is_dir():
        msg = f"{folder}: not a model folder (expected a directory with {MODEL_JSON} and {WEIGHTS})"
        raise ValueError(msg)
    json_path = folder / MODEL_JSON
    doc = _read_json(json_path)
    family = get_family(str(doc["family"]))
    where = f"{json_path}: key"
    hparams = family.config_from_mapping(doc["hyperparameters"], f"{where} 'hyperparameters'")
    preprocessing = from_mapping(Preprocessing, doc["preprocessing"], f"{where} 'preprocessing'")
    encoding = from_mapping(ConditionEncoding, doc["conditions"], f"{where} 'conditions'")
    try:
        geometry = Geometry.from_dict(doc["geometry"])
    except ValueError as exc:
        msg = f"{where} 'geometry': {exc}"
        raise ValueError(msg) from exc
    try:
        generator = family.build_generator(geometry, encoding, preprocessing, hparams)
    except ValueError as exc:
        msg = f"{json_path}: cannot build a {family.name!r} generator: {exc}"
        raise ValueError(msg) from exc
    load_state(generator, read_tensors(folder / WEIGHTS), str(folder / WEIGHTS))
    generator.to(device).eval()
    return Artifact(
        generator=generator,
        family=family.name,
        hparams=hparams,
        particle=str(doc["particle"]),
        seed=int(doc["seed"]),
        path=folder,
        provenance=dict(doc.get("provenance", {})),
        metrics=dict(doc.get("metrics", {})),
    )
