"""``caloforge export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from caloforge.cli._common import console, user_errors


@user_errors
def export(
    model: Annotated[Path, typer.Option("--model", "-m", help="model folder (caloforge train)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output .onnx file")],
    fmt: Annotated[str, typer.Option("--format", help="export format (onnx)")] = "onnx",
    opset: Annotated[int, typer.Option(help="ONNX opset version")] = 17,
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="ONNX Runtime vs PyTorch parity check")
    ] = True,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="replace --out and its sidecar if they exist"),
    ] = False,
) -> None:
    """Export a generator to ONNX (noise and conditions as inputs, cells in MeV out), with its
    metadata in the file and in a JSON sidecar, checked against PyTorch."""
    if fmt != "onnx":
        msg = f"unknown export format {fmt!r}; supported: onnx"
        raise ValueError(msg)
    from caloforge.export import export_onnx

    result = export_onnx(model, out, opset=opset, check=check, overwrite=overwrite)
    console.print(f"wrote {result.path} and {result.sidecar}")
    if check:
        console.print(
            f"parity on {result.n_checked} showers: max |ort - torch| = "
            f"{result.max_abs_diff_mev:.3g} MeV ({result.relative_diff:.2g} of the max cell)"
        )


def register(app: typer.Typer) -> None:
    app.command("export")(export)
