"""3D convolutional building blocks: the cell volume of a geometry, an up-sampling convolutional
generator body and a strided convolutional discriminator with two heads.

The volume of a geometry is ``(n_layers, H, W)`` with ``H`` and ``W`` the largest layer shape
(``segmentation.shape``: ``(ny, nx)`` for Cartesian grids, ``(n_alpha, n_r)`` for polar ones,
``(n_eta, n_phi)`` for eta x phi grids); layer ``i`` fills the ``(h_i, w_i)`` corner
``[i, :h_i, :w_i]`` of its slice and the rest is padding that carries no cell. For the grid
calorimeters the volume is the readout itself (``clic-ecal``: 25 x 25 x 25, no padding); for
geometries with layers of different shapes (``atlas-em-barrel``: 4 x 56 x 7 for 266 cells) it
is an embedding that keeps each layer's own neighbourhoods but not the physical alignment of
cells across layers. :class:`VolumeMap` moves between the flat cell vector and the volume with
one gather (generator side, exported to ONNX) or one index copy (discriminator side).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from caloforge.geometry import Geometry

__all__ = ["ConvDiscriminator", "ConvUpsampler", "VolumeMap", "conv_output_size"]


def conv_output_size(n: int, *, kernel: int = 3, stride: int = 2, padding: int = 1) -> int:
    """Length of one axis after a convolution (PyTorch's formula)."""
    return (n + 2 * padding - kernel) // stride + 1


class VolumeMap(nn.Module):
    """Flat cells (B, n_cells) <-> volume (B, L, H, W) of a geometry (module docstring).

    ``index`` (n_cells,) int64 buffer: the flat volume position of every cell, in the
    geometry's flattening order."""

    index: torch.Tensor

    def __init__(self, geometry: Geometry) -> None:
        super().__init__()
        shapes = [ly.segmentation.shape for ly in geometry.layers]
        if not shapes:
            msg = f"geometry {geometry.name!r} has no layers"
            raise ValueError(msg)
        self.shape = (
            len(shapes),
            max(max(s[0] for s in shapes), 1),
            max(max(s[1] for s in shapes), 1),
        )
        _, h_max, w_max = self.shape
        parts = []
        for i, (h, w) in enumerate(shapes):
            rows = torch.arange(h)[:, None] * w_max + torch.arange(w)[None, :]
            parts.append((i * h_max * w_max + rows).reshape(-1))
        index = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64)
        if len(index) != geometry.n_cells:
            msg = f"geometry {geometry.name!r}: volume map has {len(index)} cells, expected {geometry.n_cells}"
            raise ValueError(msg)
        self.register_buffer("index", index.to(torch.int64))

    @property
    def n_voxels(self) -> int:
        return math.prod(self.shape)

    @property
    def padded(self) -> bool:
        """True when some voxels carry no cell (layers of different shapes)."""
        return self.n_voxels != len(self.index)

    def to_cells(self, volume: torch.Tensor) -> torch.Tensor:
        """(B, ..., L, H, W) or (B, n_voxels) -> (B, n_cells) in the geometry's order."""
        return volume.reshape(volume.shape[0], -1).index_select(1, self.index)

    def to_volume(self, cells: torch.Tensor) -> torch.Tensor:
        """(B, n_cells) -> (B, 1, L, H, W), zeros where no cell is."""
        flat = cells.new_zeros(cells.shape[0], self.n_voxels).index_copy(1, self.index, cells)
        return flat.reshape(cells.shape[0], 1, *self.shape)


class ConvUpsampler(nn.Module):
    """``(B, n_in)`` -> ``(B, n_voxels)`` logits on a volume of ``shape`` (L, H, W).

    A linear map to ``channels[0]`` feature maps of the volume divided by 2^k on every axis
    (rounded up; k = ``len(channels) - 1``), then k blocks of nearest-neighbour up-sampling
    (by about 2: to the volume divided by 2^(k-1), ..., to the volume itself) + 3x3x3
    convolution + LeakyReLU 0.2, and a 3x3x3 convolution to one channel. As in the 3DGAN
    generator (Khattak et al.), minus the batch normalisation; the cost is dominated by the
    full-resolution convolutions (n_voxels x 27 x c_in x c_out multiply-adds each), so the
    last widths are kept small."""

    def __init__(self, n_in: int, shape: tuple[int, int, int], channels: Sequence[int]) -> None:
        super().__init__()
        if not channels:
            msg = "a convolutional generator needs at least one channel width"
            raise ValueError(msg)
        self.shape = shape
        k = len(channels) - 1
        #: the volume's size after each block (the first entry: the coarse maps)
        self.sizes = [
            tuple(max(1, math.ceil(n / 2 ** (k - j))) for n in shape) for j in range(k + 1)
        ]
        self.start = self.sizes[0]
        self.channels = tuple(int(c) for c in channels)
        self.dense = nn.Linear(n_in, self.channels[0] * math.prod(self.start))
        self.blocks = nn.ModuleList(
            nn.Conv3d(c_in, c_out, 3, padding=1)
            for c_in, c_out in zip(self.channels[:-1], self.channels[1:], strict=True)
        )
        self.out = nn.Conv3d(self.channels[-1], 1, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = self.act(self.dense(h)).reshape(h.shape[0], self.channels[0], *self.start)
        for conv, size in zip(self.blocks, self.sizes[1:], strict=True):
            x = nn.functional.interpolate(x, size=size, mode="nearest")
            x = self.act(conv(x))
        return self.out(x).reshape(h.shape[0], -1)


class ConvDiscriminator(nn.Module):
    """``(B, 1, L, H, W)`` standardised volume -> ``(B, 2)``: column 0 the real/fake logit,
    column 1 the regressed (encoded) incident energy -- the 3DGAN auxiliary head.

    ``len(channels)`` 3x3x3 convolutions of stride 2 with LeakyReLU 0.2, a dense layer of
    ``hidden`` units, then the two outputs. Not conditioned on the energy: it has to infer it,
    as in 3DGAN."""

    def __init__(self, shape: tuple[int, int, int], channels: Sequence[int], hidden: int) -> None:
        super().__init__()
        if not channels:
            msg = "a convolutional discriminator needs at least one channel width"
            raise ValueError(msg)
        layers: list[nn.Module] = []
        c_in, size = 1, list(shape)
        for c in channels:
            layers += [nn.Conv3d(c_in, int(c), 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in, size = int(c), [conv_output_size(n) for n in size]
        self.body = nn.Sequential(
            *layers,
            nn.Flatten(),
            nn.Linear(c_in * math.prod(size), hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 2),
        )

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(volume)
        return out
