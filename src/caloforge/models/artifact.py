"""Model artifacts: a folder with ``weights.safetensors`` and ``model.json``. Never unpickles.

``model.json`` holds everything needed to rebuild and use the generator: ``family``,
``hyperparameters``, ``geometry`` (full JSON), ``particle``, ``preprocessing``, ``conditions``
(the encoding, including the trained energy range in MeV), ``noise`` (dimension and law),
``seed``, ``provenance`` (versions, time, data file, steps, ...), ``metrics`` and
``weights_sha256`` (the SHA-256 of ``weights.safetensors``, checked on load: a flipped byte is
an error, not garbage showers).
``weights.safetensors`` holds the generator's tensors only (critics and encoders are training
state and live in the checkpoints).
"""

from __future__ import annotations

import hashlib
import json
import math
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

__all__ = [
    "MAX_PARAMETERS",
    "MODEL_JSON",
    "WEIGHTS",
    "Artifact",
    "file_sha256",
    "load_model",
    "save_model",
    "tensor_dict",
]

MODEL_JSON, WEIGHTS = "model.json", "weights.safetensors"
FORMAT, FORMAT_VERSION = "caloforge-model", 1
#: most parameters a generator described by model.json may have (1 GiB of float32); counted
#: on PyTorch's "meta" device before anything is allocated
MAX_PARAMETERS = 1 << 28
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
        digest = file_sha256(tmp)
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
        "weights_sha256": digest,
    }
    atomic_write_text(out / MODEL_JSON, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return out


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _count_parameters(build: Any) -> int | None:
    """Parameters of the module ``build()`` makes, built on the meta device (no memory); None
    when the family cannot be built there."""
    try:
        with torch.device("meta"):
            module = build()
    except (RuntimeError, NotImplementedError, TypeError):
        return None
    return sum(math.prod(p.shape) for p in module.parameters())


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
    stored = doc["hyperparameters"]
    if isinstance(stored, dict):
        stored = family.artifact_defaults | stored
    hparams = family.config_from_mapping(stored, f"{where} 'hyperparameters'")
    preprocessing = from_mapping(Preprocessing, doc["preprocessing"], f"{where} 'preprocessing'")
    encoding = from_mapping(ConditionEncoding, doc["conditions"], f"{where} 'conditions'")
    try:
        geometry = Geometry.from_dict(doc["geometry"])
    except ValueError as exc:
        msg = f"{where} 'geometry': {exc}"
        raise ValueError(msg) from exc

    def build() -> Generator:
        return family.build_generator(geometry, encoding, preprocessing, hparams)

    try:
        n_params = _count_parameters(build)
        if n_params is not None and n_params > MAX_PARAMETERS:
            msg = f"key 'hyperparameters' describes {n_params:.3g} parameters, more than the {MAX_PARAMETERS:.3g} allowed"
            raise ValueError(msg)
        generator = build()
    except ValueError as exc:
        msg = f"{json_path}: cannot build a {family.name!r} generator: {exc}"
        raise ValueError(msg) from exc
    weights = folder / WEIGHTS
    expected = doc.get("weights_sha256")
    if expected is not None and weights.is_file() and file_sha256(weights) != expected:
        msg = f"{weights}: SHA-256 differs from key 'weights_sha256' of {json_path}; the weights are corrupted or were replaced"
        raise ValueError(msg)
    tensors = read_tensors(weights)
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            msg = f"{weights}: tensor {key!r} holds NaN or inf values"
            raise ValueError(msg)
    load_state(generator, tensors, str(weights))
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
