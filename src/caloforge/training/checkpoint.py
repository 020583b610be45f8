"""Training checkpoints: one safetensors file, written atomically, never pickled.

Tensors: every module's state (``module.<name>.<key>``), every optimiser's per-parameter state
(``optim.<name>.<param index>.<key>``), the RNG states (``rng.<name>``, uint8), the data
stream's current permutation and any further training state (``extra.<name>``: the averaged
weights of :mod:`caloforge.training.schedule`). The safetensors metadata holds one JSON document
(``caloforge_checkpoint``) with the step, the best validation score, the data stream position,
the optimisers' param groups (learning rates, betas, ...) and a fingerprint of the run's
configuration, checked on resume.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from caloforge.io import atomic_path
from caloforge.models.artifact import load_state, tensor_dict
from caloforge.models.base import Family
from caloforge.training.data import BatchStream

__all__ = ["CheckpointState", "data_fingerprint", "load_checkpoint", "save_checkpoint"]

META_KEY = "caloforge_checkpoint"
FORMAT_VERSION = 1
#: rows of the training data hashed into its fingerprint (evenly spaced, first and last included)
FINGERPRINT_ROWS = 256


def data_fingerprint(
    energy_mev: np.ndarray, cells: np.ndarray, config: np.ndarray | None, source: str
) -> dict[str, Any]:
    """What identifies a run's data on resume: ``source`` (the file's resolved path), the cells'
    shape and the SHA-256 of up to :data:`FINGERPRINT_ROWS` evenly spaced rows (energies in
    MeV, cells, configurations), so other data of the same size are told apart cheaply."""
    n = len(energy_mev)
    rows = np.unique(np.linspace(0, n - 1, min(n, FINGERPRINT_ROWS)).round().astype(np.int64))
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(energy_mev[rows], dtype="<f8").tobytes())
    digest.update(np.ascontiguousarray(cells[rows], dtype="<f4").tobytes())
    if config is not None:
        digest.update(np.ascontiguousarray(config[rows], dtype="<i8").tobytes())
    return {"source": source, "shape": list(cells.shape), "sha256_of_rows": digest.hexdigest()}


def _describe_data(d: dict[str, Any] | None) -> str:
    if not d:
        return "data not recorded (an older checkpoint)"
    return f"{d['source']} (shape {d['shape']}, rows sha256 {str(d['sha256_of_rows'])[:12]})"


@dataclass
class CheckpointState:
    """The loop's own scalars, restored on resume."""

    step: int = 0
    best_score: float | None = None
    best_step: int | None = None
    fingerprint: dict[str, Any] = field(default_factory=dict)
    #: further training state by name (e.g. the averaged weights), saved as ``extra.<name>``
    extra: dict[str, torch.Tensor] = field(default_factory=dict)


def save_checkpoint(
    path: Path,
    family: Family,
    optimisers: dict[str, torch.optim.Optimizer],
    stream: BatchStream,
    rngs: dict[str, torch.Generator],
    state: CheckpointState,
) -> None:
    tensors: dict[str, torch.Tensor] = {}
    for name, module in family.modules().items():
        tensors |= tensor_dict(module, f"module.{name}.")
    groups: dict[str, Any] = {}
    for name, opt in optimisers.items():
        sd = opt.state_dict()
        groups[name] = sd["param_groups"]
        for index, per_param in sd["state"].items():
            for key, value in per_param.items():
                if not isinstance(value, torch.Tensor):
                    msg = f"optimiser {name!r} holds non-tensor state {key!r}; cannot checkpoint"
                    raise TypeError(msg)
                tensors[f"optim.{name}.{index}.{key}"] = value.detach().cpu().contiguous()
    tensors |= {f"rng.{k}": g.get_state() for k, g in rngs.items()}
    tensors |= {f"extra.{k}": v.detach().cpu().contiguous() for k, v in state.extra.items()}
    if stream.perm is not None:
        tensors["data.perm"] = stream.perm.contiguous()
    meta = {
        "format_version": FORMAT_VERSION,
        "step": state.step,
        "best_score": state.best_score,
        "best_step": state.best_step,
        "fingerprint": state.fingerprint,
        "data": {"epoch": stream.epoch, "position": stream.position},
        "param_groups": groups,
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta)})


def load_checkpoint(
    path: Path,
    family: Family,
    optimisers: dict[str, torch.optim.Optimizer],
    stream: BatchStream,
    rngs: dict[str, torch.Generator],
    fingerprint: dict[str, Any],
) -> CheckpointState:
    """Restore everything :func:`save_checkpoint` wrote; errors name the file and key.

    ``fingerprint`` must equal the one saved: resuming with other data (its ``"data"`` entry,
    :func:`data_fingerprint`) or settings is an error naming what differs.
    """
    if not path.is_file():
        msg = f"{path}: no checkpoint to resume from"
        raise ValueError(msg)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta_text = (f.metadata() or {}).get(META_KEY)
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open API)
    except (SafetensorError, OSError) as exc:
        msg = f"{path}: not a readable checkpoint: {exc}"
        raise ValueError(msg) from exc
    if meta_text is None:
        msg = f"{path}: metadata key {META_KEY!r} missing; not a caloforge checkpoint"
        raise ValueError(msg)
    meta = json.loads(meta_text)
    saved = meta.get("fingerprint") or {}
    if saved.get("data") != fingerprint.get("data"):
        msg = (
            f"{path}: the checkpoint was trained on other data: {_describe_data(saved.get('data'))}"
            f", resuming with {_describe_data(fingerprint.get('data'))}; resume with the same file"
        )
        raise ValueError(msg)
    if saved != fingerprint:
        msg = f"{path}: the checkpoint was written by a run with another configuration or data; resume with the same data, family and [train]/[model]/[preprocessing] settings"
        raise ValueError(msg)
    for name, module in family.modules().items():
        prefix = f"module.{name}."
        part = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        load_state(module, part, f"{path} (module {name!r})")
    device = next(family.generator.parameters()).device
    for name, opt in optimisers.items():
        prefix = f"optim.{name}."
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, sub = key[len(prefix) :].split(".", 1)
                # Adam keeps 'step' on the CPU; moments live with the parameters
                state.setdefault(int(index), {})[sub] = value if sub == "step" else value.to(device)
        groups = meta["param_groups"].get(name)
        if groups is None:
            msg = f"{path}: no optimiser state for {name!r}"
            raise ValueError(msg)
        for g in groups:
            if "betas" in g:
                g["betas"] = tuple(g["betas"])
        opt.load_state_dict({"state": state, "param_groups": groups})
    for name, g in rngs.items():
        g.set_state(tensors[f"rng.{name}"])
    stream.epoch, stream.position = meta["data"]["epoch"], meta["data"]["position"]
    stream.perm = tensors.get("data.perm")
    return CheckpointState(
        step=int(meta["step"]),
        best_score=meta["best_score"],
        best_step=meta["best_step"],
        fingerprint=meta["fingerprint"],
        extra={k[len("extra.") :]: v for k, v in tensors.items() if k.startswith("extra.")},
    )
