"""Export a model artifact's generator as an AOTInductor package (``.pt2``) for C++ callers.

The generator's ``forward(noise, conditions) -> cells`` is captured with :func:`torch.export.export`
(batch axis dynamic, from 1 up) and compiled ahead of time by Inductor into a shared library
inside a ``.pt2`` archive, which LibTorch loads with ``torch::inductor::AOTIModelPackageLoader``
(no Python). Inputs ``noise`` (batch, noise_dim) and ``conditions`` (batch, cond_dim) float32,
output ``cells`` (batch, n_cells) float32 in MeV, in that order; no random-number operator.

Metadata: the dictionary of :func:`caloforge.export.metadata.build_metadata` is stored inside the
package (AOTInductor's string map: nested values as JSON, as in the ONNX ``metadata_props``), plus
flat keys under ``cpp.`` that a caller without a JSON parser reads directly (see :data:`FLAT_KEYS`),
and in a JSON sidecar ``<out>.json`` with the parity result.

Parity: the package loaded back in Python and the PyTorch generator on the same seeded noise and
conditions agree to ``|aoti - torch| <= 1e-5 * max|torch|`` element-wise (as for ONNX).
Compiling needs a C++ compiler (Inductor calls ``g++``, or ``$CXX``); it takes tens of seconds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from caloforge.export.metadata import build_metadata, to_onnx_props
from caloforge.export.onnx import (
    ExportResult,
    ParityCheck,
    check_inputs,
    compare,
    require_parity,
    write_sidecar,
)
from caloforge.io import atomic_path, check_output_path
from caloforge.models.artifact import Artifact, load_model

__all__ = ["AOTI_FORMAT", "FLAT_KEYS", "export_aoti", "package_metadata", "parity_check_aoti"]

AOTI_FORMAT = "caloforge-aoti-generator/1"

#: flat metadata keys (decimal strings) inside the package, for callers without a JSON parser
FLAT_KEYS = (
    "cpp.noise_dim",
    "cpp.cond_dim",
    "cpp.n_cells",
    "cpp.n_configs",
    "cpp.centre",
    "cpp.half_width",
    "cpp.energy_min_mev",
    "cpp.energy_max_mev",
)


def package_metadata(artifact: Artifact) -> dict[str, Any]:
    """The export metadata with this format's name (the ONNX export's keys, same values)."""
    meta = build_metadata(artifact)
    meta["caloforge_format"] = AOTI_FORMAT
    return meta


def _flat(artifact: Artifact) -> dict[str, str]:
    enc, gen = artifact.encoding, artifact.generator
    values: dict[str, int | float] = {
        "cpp.noise_dim": gen.noise_dim,
        "cpp.cond_dim": enc.dim,
        "cpp.n_cells": artifact.geometry.n_cells,
        "cpp.n_configs": enc.n_configs,
        "cpp.centre": enc.centre,
        "cpp.half_width": enc.half_width,
        "cpp.energy_min_mev": enc.energy_min_mev,
        "cpp.energy_max_mev": enc.energy_max_mev,
    }
    # repr gives the shortest decimal that reads back to the same double (strtod in C++)
    return {k: repr(v) for k, v in values.items()}


def _compile(artifact: Artifact, meta: dict[str, Any], path: Path) -> None:
    """torch.export + AOTInductor into ``path`` (must end in .pt2)."""
    from torch._inductor import aoti_compile_and_package

    generator = artifact.generator.cpu().eval()
    noise, cond = check_inputs(artifact, 4, seed=0)
    batch = torch.export.Dim("batch", min=1)
    with torch.no_grad(), warnings.catch_warnings():
        # torch.export and the packager emit deprecation notices about their own internals
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        program = torch.export.export(
            generator,
            (noise, cond),
            dynamic_shapes={"noise": {0: batch}, "conditions": {0: batch}},
        )
        options = {
            "aot_inductor.metadata": to_onnx_props(meta) | _flat(artifact),
            # kernels ask OpenMP for the thread count at run time, not fixed at compile time
            "cpp.dynamic_threads": True,
        }
        aoti_compile_and_package(program, package_path=str(path), inductor_configs=options)


def parity_check_aoti(
    artifact: Artifact, package: Path, *, n: int = 256, seed: int = 12345
) -> ParityCheck:
    """The AOTInductor package against PyTorch on ``n`` seeded showers."""
    from torch._inductor import aoti_load_package

    noise, cond = check_inputs(artifact, n, seed)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        out = aoti_load_package(str(package))(noise, cond).numpy()
    return compare(artifact, noise, cond, out)


@contextlib.contextmanager
def _staged(out: Path, *, overwrite: bool) -> Iterator[Path]:
    """A path named like ``out`` in a temporary folder beside it, which replaces ``out`` on
    success (the packager wants the ``.pt2`` suffix and names the archive's root folder after
    the file, so :func:`caloforge.io.atomic_path`'s temporary name will not do)."""
    with (
        atomic_path(out, overwrite=overwrite) as tmp,
        tempfile.TemporaryDirectory(dir=tmp.parent) as folder,
    ):
        staged = Path(folder) / out.name
        yield staged
        os.replace(staged, tmp)


def export_aoti(
    model_dir: str | Path,
    out: str | Path,
    *,
    check: bool = True,
    n_check: int = 256,
    overwrite: bool = False,
) -> ExportResult:
    """Write ``out`` (``.pt2``) and ``out.json`` (sidecar), atomically; check parity unless told
    not. Needs a C++ compiler on PATH (``g++`` or ``$CXX``). Existing files at either path are
    refused before any work unless ``overwrite``."""
    out = Path(out)
    if out.suffix != ".pt2":
        msg = f"{out}: an AOTInductor package must be named *.pt2"
        raise ValueError(msg)
    out = check_output_path(out, overwrite=overwrite)
    check_output_path(out.with_name(out.name + ".json"), overwrite=overwrite)
    compiler = os.environ.get("CXX", "g++")
    if shutil.which(compiler) is None:
        msg = f"AOTInductor export needs a C++ compiler: {compiler!r} not found on PATH (set CXX)"
        raise ValueError(msg)
    artifact = load_model(model_dir)
    if not artifact.generator.exportable:
        msg = f"{model_dir}: family {artifact.family!r} cannot be exported"
        raise ValueError(msg)
    meta = package_metadata(artifact)
    parity = ParityCheck(0.0, 0.0)
    with _staged(out, overwrite=overwrite) as staged:
        try:
            _compile(artifact, meta, staged)
        except Exception as exc:
            msg = f"{model_dir}: family {artifact.family!r} could not be compiled by AOTInductor: {exc}"
            raise ValueError(msg) from exc
        if check:
            parity = parity_check_aoti(artifact, staged, n=n_check)
            require_parity(out, "the AOTInductor package", parity)
    sidecar = out.with_name(out.name + ".json")
    meta["package"] = {
        "format": "AOTInductor .pt2 (torch.export + torch._inductor.aoti_compile_and_package)",
        "torch_version": torch.__version__,
        "model_name": "model",
        "inputs_in_order": ["noise", "conditions"],
        "flat_keys": dict(sorted(_flat(artifact).items())),
    }
    return write_sidecar(
        out,
        sidecar,
        meta,
        runtime="aoti",
        model_dir=model_dir,
        check=check,
        n_check=n_check,
        parity=parity,
        overwrite=overwrite,
    )
