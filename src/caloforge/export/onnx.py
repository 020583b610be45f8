"""Export a model artifact's generator to ONNX, with a parity check against PyTorch.

Graph: inputs ``noise`` (batch, noise_dim) and ``conditions`` (batch, cond_dim), output ``cells``
(batch, n_cells) in MeV; the batch axis is dynamic. The graph holds no random-number operator.
Parity: ONNX Runtime and PyTorch outputs on the same seeded noise and conditions must satisfy
``|ort - torch| <= rtol * max|torch|`` element-wise with ``rtol = 1e-5`` (float32); near-zero cells
make a per-element relative test meaningless, so the tolerance is relative to the shower's scale.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from caloforge._optional import require
from caloforge.export.metadata import build_metadata, to_onnx_props
from caloforge.io import atomic_path, atomic_write_text, check_output_path
from caloforge.models.artifact import Artifact, load_model

__all__ = ["ExportResult", "export_onnx", "parity_check", "require_parity", "write_sidecar"]

DEFAULT_OPSET = 17
PARITY_RTOL = 1e-5


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sidecar: Path
    max_abs_diff_mev: float
    scale_mev: float
    n_checked: int

    @property
    def relative_diff(self) -> float:
        return self.max_abs_diff_mev / self.scale_mev if self.scale_mev > 0 else 0.0


def check_inputs(artifact: Artifact, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded noise and conditions spanning the trained energy range and every config."""
    rng = np.random.default_rng(seed)
    enc = artifact.encoding
    energy = np.exp(rng.uniform(np.log(enc.energy_min_mev), np.log(enc.energy_max_mev), n))
    config = rng.integers(0, enc.n_configs, n) if enc.uses_config else None
    gen = torch.Generator().manual_seed(seed)
    noise = artifact.generator.make_noise(n, gen)
    return noise, artifact.generator.encode_conditions(energy, config)


def parity_check(
    artifact: Artifact, onnx_path: Path, *, n: int = 256, seed: int = 12345
) -> tuple[float, float]:
    """(max |ort - torch| in MeV, max |torch| in MeV) on ``n`` seeded showers."""
    ort = require("onnxruntime", "export", "the ONNX parity check")
    noise, cond = check_inputs(artifact, n, seed)
    with torch.no_grad():
        ref = artifact.generator.cpu()(noise, cond).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    out = session.run(["cells"], {"noise": noise.numpy(), "conditions": cond.numpy()})[0]
    return float(np.abs(out - ref).max()), float(np.abs(ref).max())


def export_onnx(
    model_dir: str | Path,
    out: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    check: bool = True,
    n_check: int = 256,
    overwrite: bool = False,
) -> ExportResult:
    """Write ``out`` (ONNX) and ``out.json`` (sidecar), atomically; check parity unless told not.
    Existing files at either path are refused before any work unless ``overwrite``."""
    out = check_output_path(out, overwrite=overwrite)
    sidecar = check_output_path(out.with_name(out.name + ".json"), overwrite=overwrite)
    onnx = require("onnx", "export", "ONNX export")
    if check:
        require("onnxruntime", "export", "the ONNX parity check")
    artifact = load_model(model_dir)
    generator = artifact.generator.cpu().eval()
    if not generator.exportable:
        msg = f"{model_dir}: family {artifact.family!r} cannot be exported to ONNX"
        raise ValueError(msg)
    meta = build_metadata(artifact)
    noise, cond = check_inputs(artifact, 4, seed=0)
    with atomic_path(out, overwrite=overwrite) as tmp:
        with warnings.catch_warnings():
            # the TorchScript-based exporter is deprecated in favour of the dynamo one, which
            # needs onnxscript; for dense/conv generators both give the same graph
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            try:
                torch.onnx.export(
                    generator,
                    (noise, cond),
                    str(tmp),
                    input_names=["noise", "conditions"],
                    output_names=["cells"],
                    dynamic_axes={
                        "noise": {0: "batch"},
                        "conditions": {0: "batch"},
                        "cells": {0: "batch"},
                    },
                    opset_version=opset,
                    dynamo=False,
                )
            except Exception as exc:
                msg = (
                    f"{model_dir}: family {artifact.family!r} could not be exported to ONNX: {exc}"
                )
                raise ValueError(msg) from exc
        model = onnx.load(str(tmp))
        for key, value in to_onnx_props(meta).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        model.producer_name = "caloforge"
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
        diff, scale = (0.0, 0.0)
        if check:
            diff, scale = parity_check(artifact, tmp, n=n_check)
            require_parity(out, "ONNX Runtime", diff, scale)
    return write_sidecar(
        out,
        sidecar,
        meta,
        runtime="ort",
        model_dir=model_dir,
        check=check,
        n_check=n_check,
        diff=diff,
        scale=scale,
        overwrite=overwrite,
    )


def require_parity(out: Path, what: str, diff: float, scale: float) -> None:
    """Refuse an export whose largest difference from PyTorch, ``diff`` (MeV), exceeds
    ``PARITY_RTOL`` of the largest cell ``scale`` (MeV); ``what`` names the exported runtime."""
    if diff > PARITY_RTOL * max(scale, 1e-30):
        msg = (
            f"{out}: {what} differs from PyTorch by {diff:.3g} MeV on showers of "
            f"scale {scale:.3g} MeV (> {PARITY_RTOL:g} relative); not written"
        )
        raise ValueError(msg)


def write_sidecar(
    out: Path,
    sidecar: Path,
    meta: dict[str, Any],
    *,
    runtime: str,
    model_dir: str | Path,
    check: bool,
    n_check: int,
    diff: float,
    scale: float,
    overwrite: bool,
) -> ExportResult:
    """Add the parity record and the source model to ``meta``, write it atomically as the JSON
    ``sidecar`` of ``out`` and return the export's result (``runtime`` names the compared one)."""
    meta["parity"] = {
        "checked": check,
        "n_showers": n_check if check else 0,
        "max_abs_diff_mev": diff,
        "max_abs_cells_mev": scale,
        "criterion": f"max|{runtime} - torch| <= {PARITY_RTOL:g} * max|torch|",
    }
    meta["source_model"] = str(Path(model_dir).resolve())
    atomic_write_text(
        sidecar, json.dumps(meta, indent=2, sort_keys=True) + "\n", overwrite=overwrite
    )
    return ExportResult(out, sidecar, diff, scale, n_check if check else 0)
