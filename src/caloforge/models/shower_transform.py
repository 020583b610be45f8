"""The two-stage invertible preprocessing of the flow-matching family: energies and shapes.

A shower's cells ``f`` (N, n_cells), as fractions of the incident energy E_inc, split into

- **energy variables** u (N, n_layers): ``u_0 = s0 * E_tot / E_inc`` and, for each layer l but
  the last, ``u_{l+1} = E_l / sum_{j >= l} E_j`` (the share of the energy still to come that
  layer l takes). Every u lies in [0, 1] (``s0 = 1 / (headroom x the largest E_tot/E_inc of
  the fitting data)``), and any u in [0, 1] gives valid layer energies: the u's are clipped on
  the way back, so no generated layer is negative or takes more than what is left.
- **shape variables** (N, n_cells): each layer's cells divided by the layer's sum, after
  dequantisation: a uniform noise ``U(0, noise_mev)`` (MeV, fresh in every training batch) is
  added to every cell first, so that empty cells become small positive values instead of a
  point mass at zero.

Both are mapped through ``logit(u (1 - 2 alpha) + alpha)`` and standardised: the energy
variables per dimension, the shape variables with one global mean and standard deviation over
the cells that carry energy in the data (a cell that is never hit has no spread of its own).
Statistics are buffers fitted once on training data (:meth:`ShowerTransform.fit`) and saved with
the model (safetensors).

On the way back (:meth:`ShowerTransform.shape_inverse`): the shape is renormalised to unit sum
per layer and multiplied by the layer energy rebuilt from the clipped u's; cells at or below
``cut_mev`` (at least the dequantisation width) are cut to zero, and each layer is renormalised again
so that it adds up exactly to its layer energy (energy conservation; a layer whose cells are all
cut stays empty).
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import nn

from caloforge.evaluation.observables import DEFAULT_HIT_THRESHOLD_MEV
from caloforge.geometry import Geometry

__all__ = ["DEFAULT_CUT_MEV", "DEFAULT_NOISE_MEV", "GroupScaling", "ShowerTransform"]

#: default cut of generated cells, MeV: the evaluation's hit threshold (15 keV), so every cell
#: the evaluation counts as a hit is learned, not cut (a 0.5 MeV cut, set on GFlash data,
#: removed 34.8 of the 144.5 hits per 50 GeV cascade shower: high-level classifier AUC 0.9995
#: against 0.626 at 15 keV, benchmarks/results/pareto_cut15-diagnostic.md)
DEFAULT_CUT_MEV = DEFAULT_HIT_THRESHOLD_MEV
#: default dequantisation width, MeV: a third of the cut, so the empty cells lie below it (with
#: uniform noise the empty cells crowd the top of their range in logit space: a cut at the noise
#: width leaks spurious faint hits)
DEFAULT_NOISE_MEV = DEFAULT_CUT_MEV / 3

#: floor (fraction of E_inc) inside the log of the layer energies the shape model is given
LOG_ENERGY_FLOOR = 1e-7
#: smallest denominator of a normalisation (an all-zero layer stays zero)
TINY = 1e-30


class ShowerTransform(nn.Module):
    """Cells (fractions of E_inc) <-> standardised logit energy and shape variables.

    Shapes: ``f`` (N, n_cells) fractions of E_inc; ``e`` (N, n_layers) layer energies as
    fractions of E_inc; ``energy_mev`` (N, 1) E_inc in MeV; ``noise_u`` (N, n_cells) uniform in
    [0, 1) (the dequantisation draw, scaled here to ``U(0, noise_mev)`` MeV).
    """

    layers: torch.Tensor
    to_come: torch.Tensor
    u0_scale: torch.Tensor
    energy_mean: torch.Tensor
    energy_std: torch.Tensor
    log_energy_mean: torch.Tensor
    log_energy_std: torch.Tensor
    shape_mean: torch.Tensor
    shape_std: torch.Tensor
    fitted: torch.Tensor

    def __init__(
        self,
        geometry: Geometry,
        *,
        alpha: float,
        noise_mev: float,
        cut_mev: float,
        u0_headroom: float,
    ) -> None:
        super().__init__()
        if not 0 < alpha < 0.5:
            msg = f"logit alpha must be in (0, 0.5), got {alpha}"
            raise ValueError(msg)
        if not noise_mev > 0:
            msg = f"dequantisation width noise_mev must be > 0 MeV, got {noise_mev}"
            raise ValueError(msg)
        if not cut_mev >= noise_mev:
            msg = f"cut_mev must be >= noise_mev (the dequantised empty cells must be cut), got {cut_mev} < {noise_mev}"
            raise ValueError(msg)
        if not u0_headroom >= 1:
            msg = f"u0_headroom must be >= 1, got {u0_headroom}"
            raise ValueError(msg)
        self.alpha, self.noise_mev, self.cut_mev = alpha, noise_mev, cut_mev
        self.u0_headroom = u0_headroom
        n_layers = geometry.n_layers
        self.n_layers = n_layers
        membership = torch.zeros(geometry.n_cells, n_layers)
        membership[torch.arange(geometry.n_cells), torch.as_tensor(geometry.cell_layer)] = 1.0
        # constants of the geometry (rebuilt, not saved): cells -> layers, layers -> energy to come
        self.register_buffer("layers", membership, persistent=False)
        self.register_buffer(
            "to_come", torch.tril(torch.ones(n_layers, n_layers)), persistent=False
        )
        # statistics fitted on data (saved)
        self.register_buffer("u0_scale", torch.tensor(1.0))
        self.register_buffer("energy_mean", torch.zeros(n_layers))
        self.register_buffer("energy_std", torch.ones(n_layers))
        self.register_buffer("log_energy_mean", torch.zeros(n_layers))
        self.register_buffer("log_energy_std", torch.ones(n_layers))
        self.register_buffer("shape_mean", torch.tensor(0.0))
        self.register_buffer("shape_std", torch.tensor(1.0))
        self.register_buffer("fitted", torch.tensor(0.0))

    @property
    def is_fitted(self) -> bool:
        return bool(self.fitted > 0)

    # ---- elementary maps -----------------------------------------------------------------
    def logit(self, u: torch.Tensor) -> torch.Tensor:
        p = u * (1 - 2 * self.alpha) + self.alpha
        return torch.log(p) - torch.log1p(-p)

    def expit(self, y: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`logit`, clipped to [0, 1].

        The logistic is written ``1 / (1 + exp(-y))``, not ``sigmoid``: ONNX Runtime's
        ``Sigmoid`` kernel approximates to ~1e-7 absolute, which the subtraction of ``alpha``
        (1e-6) turns into a per-cent error on nearly empty layers (a trained model missed the
        1e-5 export parity); ``Exp`` is accurate to a few ulp in both back-ends."""
        logistic = 1.0 / (1.0 + torch.exp(-y))
        return ((logistic - self.alpha) / (1 - 2 * self.alpha)).clamp(0.0, 1.0)

    def clamp(self, y: torch.Tensor, stage: str) -> torch.Tensor:
        """``y``, standardised ``"energy"`` or ``"shape"`` variables, clamped to the images of
        u = 0 and u = 1 (``logit`` of alpha and 1 - alpha, standardised). The inverse maps clip
        u to [0, 1], so a clamped value makes exactly the shower the unclamped one makes; what a
        model puts beyond them (a flow-matching teacher's ODE can run off to 1e5) carries no
        information and is not a target to learn."""
        edge = math.log((1 - self.alpha) / self.alpha)
        mean, std = (
            (self.energy_mean, self.energy_std)
            if stage == "energy"
            else (self.shape_mean, self.shape_std)
        )
        return torch.maximum(torch.minimum(y, (edge - mean) / std), (-edge - mean) / std)

    def layer_energies(self, f: torch.Tensor) -> torch.Tensor:
        """(N, n_cells) -> (N, n_layers) layer sums."""
        return f @ self.layers

    def per_cell(self, e: torch.Tensor) -> torch.Tensor:
        """(N, n_layers) -> (N, n_cells): each cell gets its layer's value."""
        return e @ self.layers.T

    def u_from_layers(self, e: torch.Tensor) -> torch.Tensor:
        """(N, n_layers) layer energies (fractions of E_inc) -> (N, n_layers) u variables."""
        remaining = e @ self.to_come  # remaining[:, l] = sum_{j >= l} e_j
        head = remaining[:, :-1]
        ratios = torch.where(head > 0, e[:, :-1] / head.clamp_min(TINY), torch.zeros_like(head))
        return torch.cat([remaining[:, :1] * self.u0_scale, ratios], dim=1)

    def layers_from_u(self, u: torch.Tensor) -> torch.Tensor:
        """(N, n_layers) u variables in [0, 1] -> (N, n_layers) layer energies (>= 0)."""
        remaining = u[:, :1] / self.u0_scale
        out = []
        for layer in range(self.n_layers - 1):
            share = u[:, layer + 1 : layer + 2]
            out.append(share * remaining)
            remaining = remaining * (1 - share)
        out.append(remaining)
        return torch.cat(out, dim=1)

    # ---- energy stage ----------------------------------------------------------------------
    def energy_forward(self, e: torch.Tensor) -> torch.Tensor:
        """(N, n_layers) layer energies -> (N, n_layers) standardised logit u's."""
        return (self.logit(self.u_from_layers(e)) - self.energy_mean) / self.energy_std

    def energy_inverse(self, y: torch.Tensor) -> torch.Tensor:
        """(N, n_layers) standardised logit u's -> (N, n_layers) layer energies (clipped u's)."""
        return self.layers_from_u(self.expit(y * self.energy_std + self.energy_mean))

    def shape_condition(self, e: torch.Tensor) -> torch.Tensor:
        """(N, n_layers) layer energies -> (N, 2 n_layers): what the shape model is given, the
        standardised u's and the standardised log layer energies."""
        log_e = (torch.log(e + LOG_ENERGY_FLOOR) - self.log_energy_mean) / self.log_energy_std
        return torch.cat([self.energy_forward(e), log_e], dim=1)

    # ---- shape stage -----------------------------------------------------------------------
    def dequantised_shape(
        self, f: torch.Tensor, energy_mev: torch.Tensor, noise_u: torch.Tensor
    ) -> torch.Tensor:
        """(N, n_cells) per-layer shares of the dequantised cells (each layer sums to 1)."""
        d = f + noise_u * (self.noise_mev / energy_mev)
        return d / self.per_cell(self.layer_energies(d))

    def shape_forward(
        self, f: torch.Tensor, energy_mev: torch.Tensor, noise_u: torch.Tensor
    ) -> torch.Tensor:
        """(N, n_cells) cells -> (N, n_cells) standardised logit shape variables."""
        s = self.dequantised_shape(f, energy_mev, noise_u)
        return (self.logit(s) - self.shape_mean) / self.shape_std

    def shape_inverse(
        self, y: torch.Tensor, e: torch.Tensor, energy_mev: torch.Tensor
    ) -> torch.Tensor:
        """(N, n_cells) shape variables, (N, n_layers) layer energies, (N, 1) MeV -> (N, n_cells)
        cells as fractions of E_inc: renormalised, cut at ``cut_mev``, each layer summing to
        its energy in ``e``."""
        s = self.expit(y * self.shape_std + self.shape_mean)
        target = self.per_cell(e)
        cells = s / self.per_cell(self.layer_energies(s)).clamp_min(TINY) * target
        kept = torch.where(cells * energy_mev > self.cut_mev, cells, torch.zeros_like(cells))
        return kept * (target / self.per_cell(self.layer_energies(kept)).clamp_min(TINY))

    # ---- fitting ---------------------------------------------------------------------------
    @torch.no_grad()
    def fit(self, f: torch.Tensor, energy_mev: torch.Tensor, noise_u: torch.Tensor) -> None:
        """Fit every statistic on training cells ``f`` (fractions of E_inc), E_inc (N, 1) MeV and
        a dequantisation draw ``noise_u``; under ``torchrun`` rank 0's statistics are shared."""
        if not bool(torch.isfinite(f).all()):
            msg = "flow matching: fitting the preprocessing needs finite showers"
            raise ValueError(msg)
        self._fit_energy(self.layer_energies(f))
        ys = self.logit(self.dequantised_shape(f, energy_mev, noise_u))[f > 0]
        if len(ys) >= 2:
            self.shape_mean.fill_(float(ys.mean()))
            self.shape_std.fill_(float(_spread(ys.std())))
        self.fitted.fill_(1.0)
        if dist.is_available() and dist.is_initialized():
            for buffer in self.buffers(recurse=False):
                dist.broadcast(buffer, src=0)

    @torch.no_grad()
    def fit_energy(self, e: torch.Tensor) -> None:
        """Fit the energy stage's statistics alone on layer energies ``e`` (N, n_layers),
        fractions of E_inc (a model that takes the shapes elsewhere); under ``torchrun`` rank
        0's are shared."""
        self._fit_energy(e)
        self.fitted.fill_(1.0)
        if dist.is_available() and dist.is_initialized():
            for buffer in self.buffers(recurse=False):
                dist.broadcast(buffer, src=0)

    def _fit_energy(self, e: torch.Tensor) -> None:
        top = float(e.sum(dim=1).max()) if len(e) else 0.0
        if not (len(e) >= 2 and top > 0 and bool(torch.isfinite(e).all())):
            msg = "fitting the energy preprocessing needs >= 2 finite showers with energy"
            raise ValueError(msg)
        self.u0_scale.fill_(1.0 / (self.u0_headroom * top))
        y = self.logit(self.u_from_layers(e))
        self.energy_mean.copy_(y.mean(dim=0))
        self.energy_std.copy_(_spread(y.std(dim=0)))
        log_e = torch.log(e + LOG_ENERGY_FLOOR)
        self.log_energy_mean.copy_(log_e.mean(dim=0))
        self.log_energy_std.copy_(_spread(log_e.std(dim=0)))


def _spread(std: torch.Tensor) -> torch.Tensor:
    """Standard deviations with constant dimensions (std ~ 0) mapped to 1."""
    return torch.where(std > 1e-6, std, torch.ones_like(std))


class GroupScaling(nn.Module):
    """A fitted per-dimension, per-group standardisation ``(y - mean[g]) / std[g]``.

    ``y`` (N, dim); ``groups`` (N, n_groups) one-hot rows (the alignment configuration columns
    of the conditions, or a column of ones): the group's statistics are ``groups @ mean`` --
    a matmul, so it exports to ONNX. Fitted on data (:meth:`fit`), saved as buffers. On top of
    :class:`ShowerTransform`'s one global shape standardisation, it gives every cell of every
    configuration mean 0 and width 1, so a flow that starts near the identity already draws
    each cell's marginal location and spread per configuration -- including which cells a
    configuration leaves empty (their dequantisation noise sits far below the hit cells)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, n_groups: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_groups, dim))
        self.register_buffer("std", torch.ones(n_groups, dim))

    def forward(self, y: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        return (y - groups @ self.mean) / (groups @ self.std)

    def inverse(self, z: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        return z * (groups @ self.std) + groups @ self.mean

    @torch.no_grad()
    def fit(self, y: torch.Tensor, groups: torch.Tensor) -> None:
        """Mean and standard deviation of ``y`` per group (a group with < 2 rows keeps the
        pooled statistics; constant dimensions keep width 1); under ``torchrun`` rank 0's are
        shared."""
        pooled_mean, pooled_std = y.mean(dim=0), _spread(y.std(dim=0))
        for g in range(self.mean.shape[0]):
            rows = y[groups[:, g] > 0.5]
            if len(rows) >= 2:
                self.mean[g] = rows.mean(dim=0)
                self.std[g] = _spread(rows.std(dim=0))
            else:
                self.mean[g], self.std[g] = pooled_mean, pooled_std
        if dist.is_available() and dist.is_initialized():
            for buffer in self.buffers(recurse=False):
                dist.broadcast(buffer, src=0)
