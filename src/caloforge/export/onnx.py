"""Export a model artifact's generator to ONNX, with a parity check against PyTorch.

Graph: inputs ``noise`` (batch, noise_dim) and ``conditions`` (batch, cond_dim), output ``cells``
(batch, n_cells) in MeV; the batch axis is dynamic. The graph holds no random-number operator.
Parity: ONNX Runtime and PyTorch outputs on the same seeded noise and conditions must satisfy
``|ort - torch| <= tolerance`` element-wise, where the tolerance is ``rtol = 1e-5`` (float32) of
the largest cell -- near-zero cells make a per-element relative test meaningless, so it is
relative to the shower's scale -- or, where larger, twice PyTorch's own float32 rounding error
(its largest difference from the same generator evaluated in float64). A deep flow with logit
preprocessing is ill-conditioned enough that float32 PyTorch itself misses the exact result by
more than 1e-5 of the largest cell (a trained calochallenge-1 flow: 3.5 MeV on a 1.4 GeV cell,
while ONNX Runtime differed from PyTorch by 0.28 MeV on showers of 27.7 GeV); a runtime closer
to PyTorch than twice that is as exact as PyTorch is.
"""

from __future__ import annotations

import copy
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

__all__ = [
    "ExportResult",
    "ParityCheck",
    "compare",
    "export_onnx",
    "parity_check",
    "require_parity",
    "write_sidecar",
]

DEFAULT_OPSET = 17
PARITY_RTOL = 1e-5


def _expm1(g: Any, x: Any) -> Any:
    """Kahan's expm1: with u = exp(x), (u - 1) x / ln u, and x itself where u rounds to 1."""
    one = g.op("Constant", value_t=torch.tensor(1.0))
    u = g.op("Exp", x)
    log_u = g.op("Log", u)
    exact = g.op("Div", g.op("Mul", g.op("Sub", u, one), x), log_u)
    zero = g.op("Constant", value_t=torch.tensor(0.0))
    return g.op("Where", g.op("Equal", log_u, zero), x, exact)


def _log1p(g: Any, x: Any) -> Any:
    """Goldberg's log1p: with u = 1 + x, ln(u) x / (u - 1), and x itself where u rounds to 1."""
    one = g.op("Constant", value_t=torch.tensor(1.0))
    u = g.op("Add", x, one)
    d = g.op("Sub", u, one)
    exact = g.op("Div", g.op("Mul", g.op("Log", u), x), d)
    zero = g.op("Constant", value_t=torch.tensor(0.0))
    return g.op("Where", g.op("Equal", d, zero), x, exact)


def _register_symbolics(opset: int) -> None:
    """``expm1`` and ``log1p`` for the TorchScript exporter, which has no ONNX symbolic for
    either at opset 17 (ONNX has no such operators). The ``log`` preprocessing's inverse
    (cell = E_inc alpha expm1(x)) and the ``bib-ae`` post-processor's MIP units (log1p) need
    them. Plain ``exp(x) - 1`` and ``log(1 + x)`` lose the relative precision of x << 1 in
    float32 (1e-6 MIP cells: ~10%), which the BIB-AE's spectrum map, a round trip through
    log1p and expm1 with slopes above 1, carried up to 2.7e-4 of the largest cell; Kahan's and
    Goldberg's forms keep float32 precision at every x."""
    torch.onnx.register_custom_op_symbolic("aten::expm1", _expm1, opset)
    torch.onnx.register_custom_op_symbolic("aten::log1p", _log1p, opset)


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


@dataclass(frozen=True)
class ParityCheck:
    """An exported runtime against PyTorch on the same seeded showers (MeV): its largest
    difference, the largest cell, and PyTorch's own float32 rounding error (the largest
    difference of the float32 generator from a float64 copy of it; None where the generator
    does not run in float64)."""

    diff_mev: float
    scale_mev: float
    float32_error_mev: float | None = None

    @property
    def tolerance_mev(self) -> float:
        """``PARITY_RTOL`` of the largest cell or, where larger, twice PyTorch's float32 error."""
        own = 2.0 * self.float32_error_mev if self.float32_error_mev is not None else 0.0
        return max(PARITY_RTOL * self.scale_mev, own)


def float64_output(
    artifact: Artifact, noise: torch.Tensor, cond: torch.Tensor
) -> np.ndarray | None:
    """The generator's output computed by a float64 copy of it (None where it does not run in
    float64: a generator that makes float32 tensors of its own)."""
    generator = copy.deepcopy(artifact.generator).cpu().double().eval()
    try:
        with torch.no_grad():
            out = generator(noise.double(), cond.double())
    except (RuntimeError, TypeError):
        return None
    return out.numpy() if out.dtype == torch.float64 else None


def compare(
    artifact: Artifact, noise: torch.Tensor, cond: torch.Tensor, out: np.ndarray
) -> ParityCheck:
    """``out``, a runtime's cells for ``noise`` and ``cond``, against the artifact's generator."""
    with torch.no_grad():
        ref = artifact.generator.cpu()(noise, cond).numpy()
    exact = float64_output(artifact, noise, cond)
    own = float(np.abs(ref - exact).max()) if exact is not None else None
    return ParityCheck(float(np.abs(out - ref).max()), float(np.abs(ref).max()), own)


def parity_check(
    artifact: Artifact, onnx_path: Path, *, n: int = 256, seed: int = 12345
) -> ParityCheck:
    """ONNX Runtime against PyTorch on ``n`` seeded showers."""
    ort = require("onnxruntime", "export", "the ONNX parity check")
    noise, cond = check_inputs(artifact, n, seed)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    out = session.run(["cells"], {"noise": noise.numpy(), "conditions": cond.numpy()})[0]
    return compare(artifact, noise, cond, out)


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
                _register_symbolics(opset)
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
        parity = ParityCheck(0.0, 0.0)
        if check:
            parity = parity_check(artifact, tmp, n=n_check)
            require_parity(out, "ONNX Runtime", parity)
    return write_sidecar(
        out,
        sidecar,
        meta,
        runtime="ort",
        model_dir=model_dir,
        check=check,
        n_check=n_check,
        parity=parity,
        overwrite=overwrite,
    )


def require_parity(out: Path, what: str, parity: ParityCheck) -> None:
    """Refuse an export whose largest difference from PyTorch exceeds its tolerance
    (:attr:`ParityCheck.tolerance_mev`); ``what`` names the exported runtime."""
    if parity.diff_mev > max(parity.tolerance_mev, 1e-30):
        own = (
            f", PyTorch's own float32 error {parity.float32_error_mev:.3g} MeV"
            if parity.float32_error_mev is not None
            else ""
        )
        msg = (
            f"{out}: {what} differs from PyTorch by {parity.diff_mev:.3g} MeV on showers of "
            f"scale {parity.scale_mev:.3g} MeV (> {PARITY_RTOL:g} relative{own}); not written"
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
    parity: ParityCheck,
    overwrite: bool,
) -> ExportResult:
    """Add the parity record and the source model to ``meta``, write it atomically as the JSON
    ``sidecar`` of ``out`` and return the export's result (``runtime`` names the compared one)."""
    meta["parity"] = {
        "checked": check,
        "n_showers": n_check if check else 0,
        "max_abs_diff_mev": parity.diff_mev,
        "max_abs_cells_mev": parity.scale_mev,
        "torch_float32_error_mev": parity.float32_error_mev,
        "criterion": (
            f"max|{runtime} - torch| <= max({PARITY_RTOL:g} * max|torch|, "
            "2 * max|torch float32 - torch float64|)"
        ),
    }
    meta["source_model"] = str(Path(model_dir).resolve())
    atomic_write_text(
        sidecar, json.dumps(meta, indent=2, sort_keys=True) + "\n", overwrite=overwrite
    )
    return ExportResult(out, sidecar, parity.diff_mev, parity.scale_mev, n_check if check else 0)
