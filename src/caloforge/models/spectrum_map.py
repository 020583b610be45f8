"""A fitted, monotone map of the cell energies that restores a per-cell energy spectrum.

A generator whose output is smooth in its latent (an auto-encoder's decoder) smears the
spectrum of the cell energies: the peak of the cells crossed by one minimum-ionising particle
(the MIP peak, ~0.9 MIP in 0.5 mm Si) becomes a plateau. Any per-cell map of the cell value,
the incident energy and the depth that is trained to match the sorted cell values (the
spectrum) has one optimum: the monotone map that sends each quantile of the generated cells to
the same quantile of the real cells (the one-dimensional optimal transport). This module
fits that optimum directly instead of by gradient steps:

- cells are grouped by depth (``depth_groups`` contiguous runs of layers) and showers by
  incident energy (``energy_groups`` quantile groups of ln E); in each (energy, depth) group
  the map is a piecewise-linear function through ``knots`` pairs (generated quantile, real
  quantile) of ``u = log1p(E_cell / E_MIP)`` over the non-empty cells (tail probabilities
  1 - p even in 1 - p for the bulk, the MIP region, and even in the logarithm towards both
  ends, the faintest cells and the shower core; :meth:`SpectrumMap.tail_probabilities`);
- between the centres of two energy groups the knots are interpolated linearly in ln E (an
  interpolation of quantile functions, which stays monotone); outside them the nearest
  group's knots;
- below the first knot the map is linear through zero, above the last a shift of ``u``
  (a scale factor on the energy of the hottest cells).

Empty cells: the input may be a *score*, ``u`` for the non-empty cells and a non-positive rank
for the empty ones (the generator's pre-activation: how near the cell came to firing). The
quantiles then run over all cells of a group, so when the generator makes fewer hits than the
data the empty cells nearest to firing become the faintest hits (and when it makes more, its
faintest hits are emptied): the map transports the whole distribution, the atom of empty cells
included. A cell at or below the first knot with a score <= 0 stays empty (inputs without a
rank, all empty cells at 0, keep every empty cell empty).

Evaluation is a binary search over the knots (gathers and comparisons), so the map exports to
ONNX with the generator.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["SpectrumMap"]


class SpectrumMap(nn.Module):
    """``forward(s, e)``: (B, n_cells) cell scores (``u = log1p(E_cell / E_MIP)`` for the
    non-empty cells, <= 0 for the empty ones, see the module), (B,) encoded incident energies
    -> mapped ``u`` (>= 0), the identity on non-empty cells until :meth:`fit` has run (no
    branch on the fitted state: the export traces one graph). ``cell_layer``: each cell's
    layer index."""

    q_in: torch.Tensor
    q_out: torch.Tensor
    centres: torch.Tensor
    group: torch.Tensor
    fitted: torch.Tensor

    def __init__(
        self,
        cell_layer: np.ndarray,
        n_layers: int,
        energy_groups: int,
        depth_groups: int,
        knots: int,
    ) -> None:
        super().__init__()
        if min(energy_groups, depth_groups) < 1 or knots < 2:
            msg = f"SpectrumMap needs >= 1 energy and depth groups and >= 2 knots; got {energy_groups}, {depth_groups}, {knots}"
            raise ValueError(msg)
        depth_groups = min(depth_groups, n_layers)
        layer = torch.as_tensor(np.asarray(cell_layer), dtype=torch.int64)
        self.n_depth = depth_groups
        self.n_energy = energy_groups
        self.n_knots = knots
        self.register_buffer("group", layer * depth_groups // n_layers)
        self.register_buffer("q_in", torch.zeros(energy_groups, depth_groups, knots))
        self.register_buffer("q_out", torch.zeros(energy_groups, depth_groups, knots))
        self.register_buffer("centres", torch.zeros(energy_groups))
        self.register_buffer("fitted", torch.zeros(()))

    @property
    def is_fitted(self) -> bool:
        return bool(self.fitted > 0)

    # ---- fit ---------------------------------------------------------------------------------
    def tail_probabilities(self, start: float, n_values: int) -> np.ndarray:
        """(knots,) tail probabilities 1 - p, descending from ``start`` (the larger non-empty
        fraction of the two samples) over the non-empty cells: a third even in 1 - p (the bulk,
        the MIP region), a third even in ln(1 - p) down to 1 / ``n_values`` (the few hot cells
        of the core), a third even in ln(start - (1 - p)) (the faintest cells)."""
        floor = 1.0 / max(n_values, 2)
        start = min(max(start, 2.0 * floor), 1.0)
        k = self.n_knots
        n_even, n_hot = k - 2 * (k // 3), k // 3
        even = np.linspace(start, floor, n_even)
        hot = np.exp(np.linspace(np.log(start), np.log(floor), n_hot))
        faint = start - np.exp(
            np.linspace(np.log(floor), np.log(start - floor), k - n_even - n_hot)
        )
        return np.sort(np.concatenate([even, hot, faint]))[::-1].copy()

    @torch.no_grad()
    def fit(self, u_generated: torch.Tensor, u_real: torch.Tensor, energy: torch.Tensor) -> None:
        """Knots from generated cell scores and real cells in ``u`` (B, n_cells) at the same
        (B,) encoded incident energies (row i of both at energy[i])."""
        if u_generated.shape != u_real.shape or u_real.shape[0] != energy.shape[0]:
            msg = f"SpectrumMap.fit needs equal (B, n_cells) inputs and (B,) energies; got {tuple(u_generated.shape)}, {tuple(u_real.shape)}, {tuple(energy.shape)}"
            raise ValueError(msg)
        n_e = self.n_energy
        if len(energy) < n_e:
            msg = f"SpectrumMap.fit needs at least {n_e} showers (one per energy group), got {len(energy)}"
            raise ValueError(msg)
        order = torch.argsort(energy)
        for ge, rows in enumerate(torch.tensor_split(order, n_e)):
            self.centres[ge] = energy[rows].median()
            for gz in range(self.n_depth):
                cols = torch.nonzero(self.group == gz).flatten()
                gen = u_generated[rows][:, cols].flatten().double().cpu().numpy()
                real = u_real[rows][:, cols].flatten().double().cpu().numpy()
                fired = float((gen > 0).mean()), float((real > 0).mean())
                tail = self.tail_probabilities(max(fired), real.size)
                # a knot exactly at the smaller non-empty fraction too, so that the map
                # empties or fills exactly up to the data's hit fraction
                if min(fired) < max(fired):
                    near = int(np.argmin(np.abs(tail[1:-1] - min(fired)))) + 1
                    tail[near] = min(fired)
                p = 1.0 - np.sort(tail)[::-1]
                # inverted-CDF quantiles: the atom of empty real cells maps to exactly 0
                q_in = np.quantile(gen, p, method="inverted_cdf")
                q_out = np.quantile(real, p, method="inverted_cdf")
                self.q_in[ge, gz] = torch.as_tensor(q_in).to(self.q_in)
                self.q_out[ge, gz] = torch.as_tensor(q_out).to(self.q_out)
        self.fitted.fill_(1.0)

    # ---- evaluation --------------------------------------------------------------------------
    def knots_at(self, energy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, depth_groups, knots) input and output knots at encoded energies (B,)."""
        c = self.centres
        if self.n_energy == 1:
            b = energy.shape[0]
            return self.q_in.expand(b, -1, -1), self.q_out.expand(b, -1, -1)
        e = torch.minimum(torch.maximum(energy, c[0]), c[-1])
        hi = (e[:, None] > c[None, :-1]).sum(dim=1).clamp(1, self.n_energy - 1)
        lo = hi - 1
        w = ((e - c[lo]) / (c[hi] - c[lo]).clamp_min(1e-12))[:, None, None]
        q_in = self.q_in[lo] * (1 - w) + self.q_in[hi] * w
        q_out = self.q_out[lo] * (1 - w) + self.q_out[hi] * w
        return q_in, q_out

    def forward(self, u: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
        # unfitted, every knot is 0 and the map is the identity (the "above" branch)
        q_in, q_out = self.knots_at(energy)
        b = u.shape[0]
        k = self.n_knots
        # flat (B, depth_groups * knots) tables; a cell's knots start at group * knots
        rows_in, rows_out = q_in.reshape(b, -1), q_out.reshape(b, -1)
        base = (self.group * k)[None, :].expand(b, -1)
        # largest knot index j with q_in[j] <= u (0 when u is below every knot): binary search
        j = torch.zeros_like(base)
        step = 1 << ((k - 1).bit_length() - 1)
        while step >= 1:
            cand = (j + step).clamp_max(k - 1)
            ok = torch.gather(rows_in, 1, base + cand) <= u
            j = torch.where(ok & (j + step <= k - 1), cand, j)
            step //= 2
        j1 = (j + 1).clamp_max(k - 1)
        x0, x1 = torch.gather(rows_in, 1, base + j), torch.gather(rows_in, 1, base + j1)
        y0, y1 = torch.gather(rows_out, 1, base + j), torch.gather(rows_out, 1, base + j1)
        inside = y0 + (y1 - y0) * ((u - x0) / (x1 - x0).clamp_min(1e-12)).clamp(0, 1)
        first_in, first_out = torch.gather(rows_in, 1, base), torch.gather(rows_out, 1, base)
        # at or below the first knot: linear through zero for a non-empty cell, empty otherwise
        below = torch.where(u > 0, u * first_out / first_in.clamp_min(1e-12), torch.zeros_like(u))
        last = base + (k - 1)
        last_in, last_out = torch.gather(rows_in, 1, last), torch.gather(rows_out, 1, last)
        above = u + last_out - last_in
        out = torch.where(u <= first_in, below, torch.where(u > last_in, above, inside))
        # unfitted (all knots 0): non-empty cells pass unchanged, empty ones stay empty
        return out.clamp_min(0)
