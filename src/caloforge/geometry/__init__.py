"""Detector geometries: readout segmentations, slab stacks and named presets.

A newcomer's entry points: :func:`get_geometry` (a preset name or a binning XML path),
:class:`Geometry` (layers, flat cell vector, stack), and :mod:`caloforge.geometry.atlas` for the
ATLAS-like cluster's alignment configurations.
"""

from caloforge.geometry.core import Geometry, Layer
from caloforge.geometry.presets import PRESETS, get_geometry, preset_names
from caloforge.geometry.segmentation import CartesianGrid, EtaPhiGrid, PolarGrid, Segmentation
from caloforge.geometry.stack import (
    Slab,
    mip_loss_mev,
    mip_sampling_fraction,
    mip_weights,
    sampling_stack,
)
from caloforge.geometry.xml import load_binning_xml

__all__ = [
    "PRESETS",
    "CartesianGrid",
    "EtaPhiGrid",
    "Geometry",
    "Layer",
    "PolarGrid",
    "Segmentation",
    "Slab",
    "get_geometry",
    "load_binning_xml",
    "mip_loss_mev",
    "mip_sampling_fraction",
    "mip_weights",
    "preset_names",
    "sampling_stack",
]
