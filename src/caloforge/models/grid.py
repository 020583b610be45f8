"""Layer images on a common grid, and the layer-wise convolutional networks built on it.

:class:`CellGrid` places each layer's cells, in the geometry's flattening order, on an
``(n_layers, H, W)`` grid, ``H`` x ``W`` the largest layer image (smaller layers zero-padded at the
bottom right; empty layers all padding). For a regular calorimeter such as ``ild-ecal`` (30 layers
of 30 x 30 cells) the grid is the detector itself and both maps are permutations; for
``atlas-em-barrel`` (7x3, 56x3, 7x7, 4x7) it is 4 x 56 x 7 with 266 real positions.

:class:`GridDecoder` ((latent, conditions) -> cells) and :class:`GridEncoder` ((cells,
conditions) -> features) are the image networks of the ``gan-mbd``, ``wgan-lo`` and ``bib-ae``
families: layer-wise 2D convolutions (each layer image a sample of the same 2D network, the
layers told apart by the dense part) -- a CPU-sized stand-in for the 3D convolutions of the
"Getting High" models (Buhmann et al., Comput. Softw. Big Sci. 5 (2021) 13), which cost
~30 x more per shower on a 30 x 30 x 30 grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from caloforge.geometry import Geometry
from caloforge.models.dense import mlp

__all__ = ["CellGrid", "GridDecoder", "GridEncoder"]


class CellGrid(nn.Module):
    """Flat cells (B, n_cells) <-> padded layer images (B, n_layers, H, W).

    ``index`` (buffer, (n_cells,)): each cell's position in the flattened grid."""

    index: torch.Tensor

    def __init__(self, geometry: Geometry) -> None:
        super().__init__()
        shapes = [layer.segmentation.shape for layer in geometry.layers]
        self.n_layers = geometry.n_layers
        self.height = max((s[0] for s in shapes), default=1) or 1
        self.width = max((s[1] for s in shapes), default=1) or 1
        self.n_cells = geometry.n_cells
        index = np.empty(geometry.n_cells, dtype=np.int64)
        for i, (h, w) in enumerate(shapes):
            rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
            flat = (i * self.height + rows) * self.width + cols
            index[geometry.layer_slice(i)] = flat.reshape(-1)
        self.register_buffer("index", torch.as_tensor(index))

    @property
    def size(self) -> int:
        """Positions of the grid, padding included."""
        return self.n_layers * self.height * self.width

    def to_grid(self, cells: torch.Tensor) -> torch.Tensor:
        """(B, n_cells) -> (B, n_layers, H, W), zeros at the padding."""
        out = cells.new_zeros(cells.shape[0], self.size)
        out = out.index_copy(1, self.index, cells)
        return out.reshape(-1, self.n_layers, self.height, self.width)

    def from_grid(self, grid: torch.Tensor) -> torch.Tensor:
        """(B, n_layers, H, W) -> (B, n_cells): the real cells, in the geometry's order."""
        return grid.reshape(grid.shape[0], -1).index_select(1, self.index)


#: side of the square patches the decoder paints and the encoder reads (stride = kernel)
PATCH = 3


def _patches(n: int, size: int) -> int:
    return -(-n // size)


def to_patches(img: torch.Tensor, size: int) -> torch.Tensor:
    """(N, H, W, C) -> (N, H / size, W / size, size * size * C): non-overlapping patches."""
    n, h, w, c = img.shape
    x = img.reshape(n, h // size, size, w // size, size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h // size, w // size, size * size * c)


def from_patches(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, h, w, size * size * C) -> (N, h * size, w * size, C): the inverse of :func:`to_patches`."""
    n, h, w, k = x.shape
    c = k // (size * size)
    x = x.reshape(n, h, w, size, size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h * size, w * size, c)


class GridDecoder(nn.Module):
    """(B, n_in) -> (B, n_cells) non-negative network-space cells.

    An MLP (``hidden``) then a linear map to ``channels[0]`` feature maps per layer at 1/3 of the
    image size; per layer image a transposed convolution with kernel = stride = 3 (each coarse
    position paints a 3 x 3 patch of ``channels[1]`` maps), a 1 x 1 convolution to one map,
    cropped to H x W, ReLU (exact zeros). The convolutions are written as the matrix products
    they are (non-overlapping kernels): torch's CPU convolutions at these channel counts made
    75% of a training step (measured), the products a small part."""

    def __init__(
        self, n_in: int, grid: CellGrid, hidden: Sequence[int], channels: tuple[int, int]
    ) -> None:
        super().__init__()
        self.grid = grid
        c0, c1 = channels
        self.c0 = c0
        self.h0, self.w0 = _patches(grid.height, PATCH), _patches(grid.width, PATCH)
        self.dense = nn.Sequential(
            mlp(n_in, hidden, grid.n_layers * self.h0 * self.w0 * c0), nn.LeakyReLU(0.2)
        )
        self.paint = nn.Linear(c0, PATCH * PATCH * c1)
        self.mix = nn.Linear(c1, 1)
        # a zero output bias: with a random one (up to +-1/sqrt(c1)) every cell of a geometry can
        # start below the ReLU, and the generator gets no gradient at all
        nn.init.zeros_(self.mix.bias)

    def images(self, h: torch.Tensor) -> torch.Tensor:
        """(B, n_in) -> (B, n_layers, H, W) before the ReLU."""
        g = self.grid
        feats = self.dense(h).reshape(-1, self.h0, self.w0, self.c0)
        maps = from_patches(nn.functional.leaky_relu(self.paint(feats), 0.2), PATCH)
        img = self.mix(maps)[:, : g.height, : g.width, 0]
        return img.reshape(-1, g.n_layers, g.height, g.width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.grid.from_grid(self.images(h)))


class GridEncoder(nn.Module):
    """(B, n_cells) cells and (B, n_extra) features -> (B, n_out).

    Per layer image (zero-padded to multiples of 6) a convolution with kernel = stride = 3 to
    ``channels[0]`` maps, then one with kernel = stride = 2 to ``channels[1]`` (LeakyReLU 0.2;
    written as matrix products, see :class:`GridDecoder`), the maps of all layers flattened,
    concatenated with ``extra`` (conditions, energy features) and an MLP (``hidden``) to
    ``n_out``. ``features`` gives the last hidden layer (for a minibatch discrimination head);
    ``n_out=0``: no output layer, ``forward`` is ``features``."""

    def __init__(
        self,
        grid: CellGrid,
        n_extra: int,
        hidden: Sequence[int],
        channels: tuple[int, int],
        n_out: int,
        *,
        final_bias: bool = True,
    ) -> None:
        super().__init__()
        if not hidden:
            msg = "a grid encoder needs at least one hidden layer"
            raise ValueError(msg)
        self.grid = grid
        c1, c2 = channels
        self.read = nn.Linear(PATCH * PATCH, c1)
        self.pool = nn.Linear(4 * c1, c2)
        step = 2 * PATCH
        self.pad = (
            0,
            _patches(grid.width, step) * step - grid.width,
            0,
            _patches(grid.height, step) * step - grid.height,
        )
        n_flat = grid.n_layers * c2 * _patches(grid.height, step) * _patches(grid.width, step)
        self.body = nn.Sequential(mlp(n_flat + n_extra, hidden[:-1], hidden[-1]), nn.LeakyReLU(0.2))
        self.out: nn.Module = (
            nn.Linear(hidden[-1], n_out, bias=final_bias) if n_out > 0 else nn.Identity()
        )
        self.n_features = hidden[-1]

    def features(self, cells: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        g = self.grid
        img = nn.functional.pad(g.to_grid(cells).reshape(-1, g.height, g.width), self.pad)
        x = nn.functional.leaky_relu(self.read(to_patches(img[..., None], PATCH)), 0.2)
        x = nn.functional.leaky_relu(self.pool(to_patches(x, 2)), 0.2)
        return self.body(torch.cat([x.reshape(cells.shape[0], -1), extra], dim=1))

    def forward(self, cells: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(cells, extra))
