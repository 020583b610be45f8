"""``caloforge geometry list|show``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from caloforge.cli._common import print_json, user_errors

geometry_app = typer.Typer(
    help="Detector geometries: presets and binning XML files.", no_args_is_help=True
)


@geometry_app.command("list")
def list_() -> None:
    """List the named presets with their cell counts."""
    from caloforge.geometry import PRESETS, get_geometry

    table = Table("preset", "cells", "layers", "X0", "description")
    for name in PRESETS:
        g = get_geometry(name)
        table.add_row(name, str(g.n_cells), str(g.n_layers), f"{g.total_x0:.1f}", g.description)
    Console(width=160).print(table)


@geometry_app.command("show")
@user_errors
def show(
    name: Annotated[str, typer.Argument(help="preset name or CaloChallenge binning XML file")],
    as_json: Annotated[
        bool, typer.Option("--json", help="print the full geometry as JSON")
    ] = False,
) -> None:
    """Layers, cells, segmentation, slab stack and X0 per layer."""
    from caloforge.geometry import get_geometry

    g = get_geometry(name)
    if as_json:
        print_json(g.to_dict())
        return
    con = Console(width=160)
    con.print(f"[bold]{g.name}[/]: {g.description}")
    con.print(
        f"cells: {g.n_cells}   layers: {g.n_layers}   alignment configurations: "
        f"{g.alignment_configs}   front dead material: {g.front_x0:.2f} X0   "
        f"total depth: {g.total_x0:.2f} X0"
    )
    table = Table(
        "layer", "name", "segmentation", "cells", "cell size", "slabs", "mm", "X0", "depth X0"
    )
    depth = g.layer_depth_x0()
    for i, ly in enumerate(g.layers):
        seg = ly.segmentation
        if seg.kind == "cartesian":
            desc, size = f"{seg.ny}x{seg.nx} xy", f"{seg.pitch_x_mm:g}x{seg.pitch_y_mm:g} mm"
        elif seg.kind == "polar":
            desc, size = f"{seg.n_alpha}a x {seg.n_r}r", f"r≤{seg.r_edges_mm[-1]:g} mm"
        else:
            desc, size = f"{seg.n_eta}η x {seg.n_phi}φ", f"{seg.d_eta:g}x{seg.d_phi:.4f}"
        mats = sorted({s.material for s in ly.slabs})
        slabs = f"{len(ly.slabs)} ({'/'.join(mats)})" if ly.slabs else "-"
        table.add_row(
            str(i),
            ly.name,
            desc,
            str(ly.n_cells),
            size,
            slabs,
            f"{ly.thickness_mm:.1f}",
            f"{ly.x0:.2f}",
            f"{depth[i]:.2f}",
        )
    con.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(geometry_app, name="geometry")
