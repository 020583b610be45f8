"""``caloforge export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from caloforge.cli._common import print_text, user_errors

FORMATS = ("onnx", "aoti")


@user_errors
def export(
    model: Annotated[Path, typer.Option("--model", "-m", help="model folder (caloforge train)")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="output file: .onnx, or .pt2 for --format aoti")
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="onnx (ONNX Runtime) or aoti (AOTInductor .pt2 package for LibTorch/C++)",
        ),
    ] = "onnx",
    opset: Annotated[int, typer.Option(help="ONNX opset version (onnx only)")] = 17,
    check: Annotated[
        bool,
        typer.Option("--check/--no-check", help="parity check of the exported file vs PyTorch"),
    ] = True,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="replace --out and its sidecar if they exist"),
    ] = False,
) -> None:
    """Export a generator (noise and conditions as inputs, cells in MeV out) to ONNX or to an
    AOTInductor package for C++, with its metadata in the file and in a JSON sidecar, checked
    against PyTorch."""
    if fmt not in FORMATS:
        msg = f"unknown export format {fmt!r}; supported: {', '.join(FORMATS)}"
        raise ValueError(msg)
    if fmt == "onnx":
        from caloforge.export import export_onnx

        result = export_onnx(model, out, opset=opset, check=check, overwrite=overwrite)
        runtime = "ort"
    else:
        from caloforge.export.aoti import export_aoti

        result = export_aoti(model, out, check=check, overwrite=overwrite)
        runtime = "aoti"
    print_text(f"wrote {result.path} and {result.sidecar}")
    if check:
        print_text(
            f"parity on {result.n_checked} showers: max |{runtime} - torch| = "
            f"{result.max_abs_diff_mev:.3g} MeV ({result.relative_diff:.2g} of the max cell)"
        )


def register(app: typer.Typer) -> None:
    app.command("export")(export)
