"""Named geometry presets (docs/geometry.md).

Stacks are our own approximations of the detectors they are named after, documented here:

- ``atlas-em-barrel``: ~2 X0 of aluminium-equivalent dead material (cryostat, solenoid), an
  11 mm LAr presampler, then Pb/LAr sampling (1.5 mm Pb, 4.2 mm LAr gap) with strips ~4.2 X0,
  middle ~16 X0, back ~2 X0. Cells are eta x phi at each layer's mean radius, for a cluster at
  eta ~ 0.225.
- ``calogan``: 2 mm Pb / 4 mm LAr sampling, layer depths 90, 347, 43 mm (CaloGAN).
- ``calochallenge-*``: readout equal to the CaloChallenge binning XML; dataset 1 uses the ATLAS
  barrel EM stack for layers 0-3 and an Fe/scintillator tile stack for layers 12-14 (the other
  layers have no voxels); datasets 2 and 3 are the Geant4 Par04 Si-W stack: per readout layer
  two units of 1.4 mm W + 0.3 mm Si.
- ``ild-ecal``: 20 layers of 2.1 mm W then 10 of 4.2 mm W, 0.5 mm Si each (~24 X0), 5 x 5 mm cells.
- ``clic-ecal``: 17 layers of 2.4 mm W then 8 of 4.8 mm W, 0.5 mm Si each, 5.1 x 5.1 mm cells.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from caloforge.geometry.atlas import LAYER_NAMES, MIDDLE_DETA, MIDDLE_DPHI, N_CONFIGS
from caloforge.geometry.core import Geometry, Layer
from caloforge.geometry.segmentation import CartesianGrid, EtaPhiGrid, PolarGrid
from caloforge.geometry.stack import Slab, sampling_stack

__all__ = ["PRESETS", "get_geometry", "preset_names"]

ATLAS_ETA0 = 0.225
# Pb/LAr sampling unit of the barrel accordion, unfolded
_PB_MM, _LAR_MM = 1.5, 4.2


def _atlas_layer_stacks() -> tuple[tuple[Slab, ...], tuple[tuple[Slab, ...], ...]]:
    front = (Slab("Al", 150.0, False),)
    presampler = (Slab("LAr", 11.0, True), Slab("Al", 30.0, False))
    strips = sampling_stack("Pb", _PB_MM, "LAr", _LAR_MM, n_units=14)
    middle = sampling_stack("Pb", _PB_MM, "LAr", _LAR_MM, n_units=54)
    back = sampling_stack("Pb", _PB_MM, "LAr", _LAR_MM, n_units=7)
    return front, (presampler, strips, middle, back)


def atlas_em_barrel() -> Geometry:
    front, stacks = _atlas_layer_stacks()
    strip_dphi = 4 * MIDDLE_DPHI
    grids = (
        EtaPhiGrid(7, 3, MIDDLE_DETA, strip_dphi, radius_mm=1440.0, eta0=ATLAS_ETA0),
        EtaPhiGrid(56, 3, MIDDLE_DETA / 8, strip_dphi, radius_mm=1540.0, eta0=ATLAS_ETA0),
        EtaPhiGrid(7, 7, MIDDLE_DETA, MIDDLE_DPHI, radius_mm=1700.0, eta0=ATLAS_ETA0),
        EtaPhiGrid(4, 7, 2 * MIDDLE_DETA, MIDDLE_DPHI, radius_mm=1900.0, eta0=ATLAS_ETA0),
    )
    return Geometry(
        name="atlas-em-barrel",
        layers=tuple(Layer(n, g, s) for n, g, s in zip(LAYER_NAMES, grids, stacks, strict=True)),
        front=front,
        description="ATLAS-like LAr barrel cluster at 0.20<|eta|<0.25: presampler, strips, "
        "middle, back (266 cells, 8 alignment configurations)",
        alignment_configs=N_CONFIGS,
    )


def calogan() -> Geometry:
    return Geometry(
        name="calogan",
        layers=(
            Layer(
                "layer0",
                CartesianGrid(96, 3, 5.0, 160.0),
                sampling_stack("Pb", 2.0, "LAr", 4.0, total_mm=90.0),
            ),
            Layer(
                "layer1",
                CartesianGrid(12, 12, 40.0, 40.0),
                sampling_stack("Pb", 2.0, "LAr", 4.0, total_mm=347.0),
            ),
            Layer(
                "layer2",
                CartesianGrid(6, 12, 80.0, 40.0),
                sampling_stack("Pb", 2.0, "LAr", 4.0, total_mm=43.0),
            ),
        ),
        description="CaloGAN Pb/LAr calorimeter: 3x96, 12x12, 12x6 cells (504)",
    )


# CaloChallenge dataset 1 radial edges (mm) and alpha bins per layer, as in the binning XML
_DS1_PHOTONS: dict[int, tuple[tuple[float, ...], int]] = {
    0: ((0, 5, 10, 30, 50, 100, 200, 400, 600), 1),
    1: ((0, 2, 4, 6, 8, 10, 12, 15, 20, 30, 40, 50, 70, 90, 120, 150, 200), 10),
    2: ((0, 2, 5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 130, 160, 200, 250, 300, 350, 400), 10),
    3: ((0, 50, 100, 200, 400, 600), 1),
    12: ((0, 100, 200, 400, 1000, 2000), 1),
}
_DS1_PIONS: dict[int, tuple[tuple[float, ...], int]] = {
    0: ((0, 5, 10, 30, 50, 100, 200, 400, 600), 1),
    1: ((0, 1, 4, 7, 10, 15, 30, 50, 90, 150, 200), 10),
    2: ((0, 5, 10, 20, 30, 50, 80, 130, 200, 300, 400), 10),
    3: ((0, 50, 100, 200, 400, 600), 1),
    12: ((0, 10, 20, 30, 50, 80, 100, 130, 160, 200, 250, 300, 350, 400, 1000, 2000), 10),
    13: ((0, 10, 20, 30, 50, 80, 100, 130, 160, 200, 250, 300, 350, 400, 600, 1000, 2000), 10),
    14: ((0, 50, 100, 150, 200, 250, 300, 400, 600, 1000, 2000), 1),
}


def _tile_stack(total_mm: float) -> tuple[Slab, ...]:
    # ATLAS TileCal: 14 mm steel / 3 mm scintillator periods (approximate)
    return sampling_stack("Fe", 14.0, "Scintillator", 3.0, total_mm=total_mm)


def _calochallenge_1(name: str, bins: dict[int, tuple[tuple[float, ...], int]]) -> Geometry:
    front, em = _atlas_layer_stacks()
    stacks: dict[int, tuple[Slab, ...]] = dict(enumerate(em))
    stacks.update({12: _tile_stack(300.0), 13: _tile_stack(840.0), 14: _tile_stack(420.0)})
    layers = []
    for i in range(24):
        edges, n_alpha = bins.get(i, ((0,), 1))
        seg = PolarGrid(tuple(float(e) for e in edges), n_alpha)
        layers.append(Layer(f"layer{i}", seg, stacks.get(i, ()) if seg.n_cells else ()))
    return Geometry(
        name=name,
        layers=tuple(layers),
        front=front,
        description="CaloChallenge dataset 1 (ATLAS-like), binning as in its XML",
    )


def _par04(name: str, n_r: int, n_alpha: int) -> Geometry:
    width = 4.65 * 9 / n_r
    edges = tuple(round(i * width, 6) for i in range(n_r + 1))
    unit = sampling_stack("W", 1.4, "Si", 0.3, n_units=2)
    return Geometry(
        name=name,
        layers=tuple(Layer(f"layer{i}", PolarGrid(edges, n_alpha), unit) for i in range(45)),
        description=f"CaloChallenge dataset (Geant4 Par04 Si-W): 45 x {n_alpha} alpha x {n_r} r",
    )


def _grid_ecal(
    name: str, n: int, pitch: float, w_mm: list[float], si_mm: float, description: str
) -> Geometry:
    layers = tuple(
        Layer(
            f"layer{i}",
            CartesianGrid(n, n, pitch, pitch),
            (Slab("W", w, False), Slab("Si", si_mm, True)),
        )
        for i, w in enumerate(w_mm)
    )
    return Geometry(name=name, layers=layers, description=description)


PRESETS: dict[str, Callable[[], Geometry]] = {
    "atlas-em-barrel": atlas_em_barrel,
    "calogan": calogan,
    "calochallenge-1-photons": lambda: _calochallenge_1("calochallenge-1-photons", _DS1_PHOTONS),
    "calochallenge-1-pions": lambda: _calochallenge_1("calochallenge-1-pions", _DS1_PIONS),
    "calochallenge-2": lambda: _par04("calochallenge-2", 9, 16),
    "calochallenge-3": lambda: _par04("calochallenge-3", 18, 50),
    "ild-ecal": lambda: _grid_ecal(
        "ild-ecal",
        30,
        5.0,
        [2.1] * 20 + [4.2] * 10,
        0.5,
        "ILD-like Si-W ECAL: 30 layers of 30x30 cells, 5x5 mm (~24 X0)",
    ),
    "clic-ecal": lambda: _grid_ecal(
        "clic-ecal",
        25,
        5.1,
        [2.4] * 17 + [4.8] * 8,
        0.5,
        "CLIC-like Si-W ECAL (3DGAN): 25 layers of 25x25 cells, 5.1x5.1 mm",
    ),
}


def preset_names() -> list[str]:
    return list(PRESETS)


def get_geometry(name_or_path: str | Path) -> Geometry:
    """A preset by name, or the readout of a CaloChallenge binning XML file by path."""
    key = str(name_or_path)
    if key in PRESETS:
        return PRESETS[key]()
    if key.endswith(".xml"):
        from caloforge.geometry.xml import load_binning_xml

        return load_binning_xml(key)
    msg = f"unknown geometry {key!r}; known presets: {', '.join(PRESETS)} (or a binning .xml file)"
    raise ValueError(msg)
