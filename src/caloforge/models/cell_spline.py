"""A per-cell monotone spline whose knots depend only on the conditions: the cheap multi-modal
transform of a fast student.

An affine coupling flow maps its Gaussian base smoothly, so it cannot give a cell the two modes
of the data (empty: the dequantisation noise far down in logit space; hit) without putting mass
in the gap between them -- faint cells that the cut removes. A spline coupling can, but its
bin search and gathers on (N, cells, bins) tensors of per-row parameters dominate its
sampling time. :class:`CellSpline` is a rational-quadratic spline per cell (Durkan et al. 2019,
:func:`caloforge.models.spline.rq_bin`) whose parameters are a *table* per alignment
configuration and energy node -- not a network output per row -- and whose bins on the
**noise side are a fixed uniform grid** on ``[-bound, bound]`` (identity outside, C1 at the
ends). Sampling (noise -> data, :meth:`CellSpline.inverse`) therefore needs no search: the bin
is ``floor((u + bound) / width)``, and the bin's four numbers (its two output knots and their
derivatives) are one gather from a table of ``n_groups x cells x bins`` rows (small enough to
stay in cache) -- a handful of element-wise operations on (N, cells), like an affine layer.
The data side's knots are learned (softmax heights, softplus derivatives, as the coupling
spline's).

Conditions: the group (alignment configuration) is the one-hot in columns ``1 : 1 + n_groups``
of the conditions (any number of further columns may follow); with ``energy_nodes = 2`` the
tables at the two ends of the trained energy range are interpolated linearly in the encoded
``ln E`` (column 0, in [-1, 1]) -- a convex combination of increasing knots with positive
derivatives, so still monotone.

Initialisation (:meth:`CellSpline.fit`): the per-cell, per-group quantile map from the standard
normal to the data, so a near-identity flow underneath already draws every cell's marginal,
both modes included. :class:`CellSplineFlow` is a :class:`~caloforge.models.spline.CouplingFlow`
with a :class:`CellSpline` at its data end (the same interface).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from caloforge.models.spline import (
    DERIVATIVE_SHIFT,
    MIN_DERIVATIVE,
    CouplingFlow,
    bin_index,
    rq_bin,
    spline_knots,
)

__all__ = ["CellSpline", "CellSplineFlow"]

#: smallest bin height (fraction of the interval): finer than the coupling spline's, so that a
#: narrow mode (a cell's single-spot energy) can take many bins of the uniform noise-side grid
MIN_BIN = 1e-5
#: largest knot derivative the quantile initialisation sets (a nearly empty bin next to a
#: crowded one would otherwise ask for a cliff)
MAX_FITTED_DERIVATIVE = 50.0


def _inverse_softplus(v: torch.Tensor) -> torch.Tensor:
    return v + torch.log(-torch.expm1(-v))


class CellSpline(nn.Module):
    """Element-wise monotone rational-quadratic spline on ``dim`` cells, ``bins`` uniform bins
    on the noise side over ``[-bound, bound]``, knots per group and energy node.

    ``forward(x, c)``: data side -> noise side and ``log|det du/dx|`` (N,); ``inverse(u, c)``:
    noise side -> data side (the gather-light sampling direction). Zero parameters give the
    identity."""

    fitted: torch.Tensor
    cell_offset: torch.Tensor

    def __init__(
        self,
        dim: int,
        n_groups: int,
        *,
        bins: int,
        bound: float,
        energy_nodes: int = 1,
        covariates: torch.Tensor | None = None,
        covariate_start: int = 0,
    ) -> None:
        super().__init__()
        if bins < 2 or not bound > 0 or n_groups < 1 or energy_nodes not in (1, 2):
            msg = f"a cell spline needs bins >= 2, bound > 0, n_groups >= 1 and 1 or 2 energy nodes; got {bins}, {bound}, {n_groups}, {energy_nodes}"
            raise ValueError(msg)
        self.dim, self.n_groups, self.bins, self.bound = dim, n_groups, bins, bound
        self.energy_nodes = energy_nodes
        self.width = 2 * bound / bins
        self.raw_heights = nn.Parameter(torch.zeros(energy_nodes, n_groups, dim, bins))
        self.raw_derivatives = nn.Parameter(torch.zeros(energy_nodes, n_groups, dim, bins - 1))
        self.register_buffer("fitted", torch.tensor(0.0))
        self.register_buffer("cell_offset", torch.arange(dim) * bins, persistent=False)
        #: the conditional shift (``covariates``): per-cell covariates ``c[:, start : start + n]
        #: @ covariates`` ((n, dim), e.g. the cells' layer membership of the standardised log
        #: layer energies) times a learned scale per group and cell
        self.covariate_start = covariate_start
        self.covariates: torch.Tensor | None
        self.shift_scale: nn.Parameter | None
        if covariates is None:
            self.covariates, self.shift_scale = None, None
        else:
            self.register_buffer("covariates", covariates.clone().float(), persistent=False)
            self.shift_scale = nn.Parameter(torch.zeros(n_groups, dim))

    @property
    def is_fitted(self) -> bool:
        return bool(self.fitted > 0)

    # ---- the tables --------------------------------------------------------------------------
    def knots(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Data-side knots and knot derivatives, both (energy_nodes, n_groups, dim, bins + 1)."""
        yk, _ = spline_knots(self.raw_heights, self.bound, MIN_BIN)
        inner = MIN_DERIVATIVE + nn.functional.softplus(self.raw_derivatives + DERIVATIVE_SHIFT)
        one = torch.ones_like(inner[..., :1])
        return yk, torch.cat([one, inner, one], dim=-1)

    def groups(self, c: torch.Tensor) -> torch.Tensor:
        """(N, n_groups) one-hot group of every row (a column of ones with one group)."""
        if self.n_groups == 1:
            return torch.ones_like(c[:, :1])
        return c[:, 1 : 1 + self.n_groups]

    def node_weights(self, c: torch.Tensor) -> torch.Tensor:
        """(N, energy_nodes) interpolation weights of the energy nodes (sum 1)."""
        if self.energy_nodes == 1:
            return torch.ones_like(c[:, :1])
        high = ((c[:, :1] + 1) / 2).clamp(0.0, 1.0)
        return torch.cat([1 - high, high], dim=1)

    def row_weights(self, c: torch.Tensor) -> torch.Tensor:
        """(N, energy_nodes * n_groups): every row's weight of every table (node-major)."""
        w = self.node_weights(c)[:, :, None] * self.groups(c)[:, None, :]
        return w.flatten(1)

    def shift(self, c: torch.Tensor) -> torch.Tensor | None:
        """(N, dim) the conditional shift added to the data side before the spline (None
        without covariates): ``(groups @ shift_scale) * (covariates of c @ covariates)``,
        computed as one matmul."""
        if self.covariates is None or self.shift_scale is None:
            return None
        cov = c[:, self.covariate_start : self.covariate_start + self.covariates.shape[0]]
        # one matmul: (group x covariate) products against scale x covariate map per cell
        pairs = (self.groups(c)[:, :, None] * cov[:, None, :]).flatten(1)
        weights = self.shift_scale[:, None, :] * self.covariates[None, :, :]
        return pairs @ weights.reshape(pairs.shape[1], self.dim)

    # ---- the two directions ------------------------------------------------------------------
    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, dim) data side, (N, cond) -> (N, dim) noise side, (N,) log|det du/dx|."""
        k = self.bins
        shift = self.shift(c)
        if shift is not None:
            x = x + shift
        yk, d = self.knots()
        w = self.row_weights(c)
        yk_rows = (w @ yk.reshape(w.shape[1], -1)).reshape(-1, self.dim, k + 1)
        d_rows = (w @ d.reshape(w.shape[1], -1)).reshape(-1, self.dim, k + 1)
        inside = (x >= -self.bound) & (x <= self.bound)
        xc = x.clamp(-self.bound, self.bound)
        idx = bin_index(xc, yk_rows)
        y0 = torch.gather(yk_rows, -1, idx)[..., 0]
        y1 = torch.gather(yk_rows, -1, idx + 1)[..., 0]
        d0 = torch.gather(d_rows, -1, idx)[..., 0]
        d1 = torch.gather(d_rows, -1, idx + 1)[..., 0]
        u0 = idx[..., 0].to(x.dtype) * self.width - self.bound
        u, logdet = rq_bin(xc, u0, self.width, y0, y1 - y0, d0, d1, inverse=True)
        u = torch.where(inside, u, x)
        return u, torch.where(inside, logdet, torch.zeros_like(logdet)).sum(dim=1)

    def inverse(self, u: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """(N, dim) noise side, (N, cond) -> (N, dim) data side: the bin from the uniform grid,
        its knots by one gather per energy node from the (group, cell, bin) table."""
        k = self.bins
        yk, d = self.knots()
        # one table, rows (node, group, cell, bin) of the bin's two output knots and their
        # derivatives: one gather of four numbers per element (ONNX Runtime's Gather copies
        # rows; four gathers of single numbers, or one along the second axis, took 3x longer)
        table = torch.stack([yk[..., :-1], yk[..., 1:], d[..., :-1], d[..., 1:]], dim=-1)
        table = table.reshape(-1, 4)
        uc = u.clamp(-self.bound, self.bound)
        b = torch.floor((uc + self.bound) / self.width).clamp(0, k - 1)
        row = self.cell_offset[None, :] + b.to(torch.int64)
        row = row + torch.argmax(self.groups(c), dim=1, keepdim=True) * (self.dim * k)
        p = table[row]  # (N, dim, 4), energy node 0
        if self.energy_nodes == 2:
            high = self.node_weights(c)[:, 1:, None]
            p = p + high * (table[row + self.n_groups * self.dim * k] - p)
        y0, y1, d0, d1 = p.unbind(dim=-1)
        x, _ = rq_bin(uc, b * self.width - self.bound, self.width, y0, y1 - y0, d0, d1)
        # identity outside the interval: there the spline gives its end knot (+-bound) and the
        # clamp's offset is added back (two operations instead of a mask and a select)
        x = x + (u - uc)
        shift = self.shift(c)
        return x if shift is None else x - shift

    # ---- initialisation ----------------------------------------------------------------------
    @torch.no_grad()
    def fit(
        self, x: torch.Tensor, c: torch.Tensor, shift_scale: torch.Tensor | None = None
    ) -> None:
        """Set every group's spline to the quantile map from the standard normal to the data
        ``x`` (N, dim) of that group (given by ``c``): the data-side knot over noise-side knot
        ``u_k`` is the data's ``Phi(u_k)`` quantile (clipped to the interval, bins at least
        twice the smallest size), each inner derivative the smaller of its two bins' slopes (a
        bin that crosses the gap between two modes then keeps its mass at the modes' edges). A group with fewer than ``4 bins`` rows keeps its spline; every energy
        node gets the same. With covariates, the shift's scale is first set to ``shift_scale``
        ((n_groups, dim); zero if not given) and the quantiles are those of the shifted data."""
        k, bound = self.bins, self.bound
        if self.shift_scale is not None:
            self.shift_scale.zero_()
            if shift_scale is not None:
                self.shift_scale.copy_(shift_scale)
            shift = self.shift(c)
            assert shift is not None
            x = x + shift
        grid = -bound + self.width * torch.arange(1, k, dtype=torch.float64)
        probs = 0.5 * (1 + torch.erf(grid / math.sqrt(2)))
        groups = self.groups(c)
        for g in range(self.n_groups):
            rows = x[groups[:, g] > 0.5].to(torch.float64)
            if len(rows) < 4 * k:
                continue
            q = torch.quantile(rows, probs, dim=0).T.clamp(-bound, bound)  # (dim, k - 1)
            edge = torch.full((self.dim, 1), bound, dtype=torch.float64)
            heights = torch.diff(torch.cat([-edge, q, edge], dim=1), dim=1) / (2 * bound)
            heights = heights.clamp_min(2 * MIN_BIN)
            heights = heights / heights.sum(dim=1, keepdim=True)
            share = (heights - MIN_BIN) / (1 - MIN_BIN * k)
            slopes = heights * 2 * bound / self.width
            inner = torch.minimum(slopes[:, :-1], slopes[:, 1:])
            inner = inner.clamp(2 * MIN_DERIVATIVE, MAX_FITTED_DERIVATIVE)
            raw_d = _inverse_softplus(inner - MIN_DERIVATIVE) - DERIVATIVE_SHIFT
            self.raw_heights[:, g] = torch.log(share).to(self.raw_heights.dtype)
            self.raw_derivatives[:, g] = raw_d.to(self.raw_derivatives.dtype)
        self.fitted.fill_(1.0)


class CellSplineFlow(CouplingFlow):
    """A :class:`~caloforge.models.spline.CouplingFlow` with a :class:`CellSpline` at its data
    end: ``forward`` (data -> noise) applies the cell spline first, ``inverse`` last."""

    def __init__(
        self,
        dim: int,
        cond_dim: int,
        *,
        n_groups: int,
        energy_nodes: int,
        cell_bins: int,
        cell_bound: float,
        layers: int,
        hidden: int,
        depth: int,
        bins: int,
        bound: float,
        seed: int,
        init_scale: float,
        transform: str = "spline",
        covariates: torch.Tensor | None = None,
        covariate_start: int = 0,
    ) -> None:
        super().__init__(
            dim,
            cond_dim,
            layers=layers,
            hidden=hidden,
            depth=depth,
            bins=bins,
            bound=bound,
            seed=seed,
            init_scale=init_scale,
            transform=transform,
        )
        self.cell = CellSpline(
            dim,
            n_groups,
            bins=cell_bins,
            bound=cell_bound,
            energy_nodes=energy_nodes,
            covariates=covariates,
            covariate_start=covariate_start,
        )

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u, logdet = self.cell(x, c)
        z, rest = super().forward(u, c)
        return z, logdet + rest

    def inverse(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.cell.inverse(super().inverse(z, c), c)
