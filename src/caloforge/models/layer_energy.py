"""The energy stage of the two-stage recipe as a part any generator can hold: the layer
energies given the conditions, from a conditional normalising flow fitted by maximum
likelihood.

The variables are :class:`~caloforge.models.shower_transform.ShowerTransform`'s energy stage
(``u_0`` the scaled E_tot/E_inc, ``u_l`` each layer's share of the energy still to come,
logit and standardised), the flow the spline coupling flow of the ``flow`` family
(:class:`~caloforge.models.spline.CouplingFlow`). A generator that draws its layer energies
here gets their joint distribution -- the total, the depth of the shower and their correlation
-- from a likelihood fit, and is left to make the shape within each layer (CaloFlow's flow 1,
CaloDREAM's energy network). ``sample`` is a pure function of explicit standard-normal noise,
so it exports to ONNX.
"""

from __future__ import annotations

import torch
from torch import nn

from caloforge.geometry import Geometry
from caloforge.models.shower_transform import DEFAULT_CUT_MEV, DEFAULT_NOISE_MEV, ShowerTransform
from caloforge.models.spline import CouplingFlow

__all__ = ["LayerEnergyFlow"]


class LayerEnergyFlow(nn.Module):
    """p(layer energies | conditions): ``(N, n_layers)`` fractions of E_inc.

    ``fit(e)`` fits the preprocessing on data, ``nll(e, c)`` is the training loss (nats per
    dimension), ``sample(z, c)`` maps ``(N, n_layers)`` standard-normal noise to ``(e, y)``:
    the layer energies and their standardised variables (what a shape network is best
    conditioned on: bounded, each of unit spread in the data)."""

    def __init__(
        self,
        geometry: Geometry,
        cond_dim: int,
        *,
        layers: int = 6,
        hidden: int = 64,
        depth: int = 2,
        bins: int = 8,
        bound: float = 8.0,
        alpha: float = 1e-6,
        u0_headroom: float = 1.5,
        init_scale: float = 0.01,
    ) -> None:
        super().__init__()
        self.n_layers = geometry.n_layers
        # the shape-stage settings of the transform are unused here (defaults)
        self.transform = ShowerTransform(
            geometry,
            alpha=alpha,
            noise_mev=DEFAULT_NOISE_MEV,
            cut_mev=DEFAULT_CUT_MEV,
            u0_headroom=u0_headroom,
        )
        self.flow = CouplingFlow(
            self.n_layers,
            cond_dim,
            layers=layers,
            hidden=hidden,
            depth=depth,
            bins=bins,
            bound=bound,
            seed=0,
            init_scale=init_scale,
        )

    @property
    def is_fitted(self) -> bool:
        return self.transform.is_fitted

    def layer_energies(self, x: torch.Tensor) -> torch.Tensor:
        """(N, n_cells) cells (fractions of E_inc) -> (N, n_layers) layer sums."""
        return self.transform.layer_energies(x)

    def per_cell(self, e: torch.Tensor) -> torch.Tensor:
        """(N, n_layers) -> (N, n_cells): each cell gets its layer's value."""
        return self.transform.per_cell(e)

    @torch.no_grad()
    def fit(self, e: torch.Tensor) -> None:
        """Preprocessing statistics from real layer energies ``e`` (N >= 2, n_layers)."""
        if e.ndim != 2 or e.shape[1] != self.n_layers:
            msg = f"LayerEnergyFlow.fit needs (N, {self.n_layers}) layer energies, got {tuple(e.shape)}"
            raise ValueError(msg)
        self.transform.fit_energy(e.float())

    def variables(self, e: torch.Tensor) -> torch.Tensor:
        """(N, n_layers) layer energies -> their standardised logit u variables, clamped to
        the images of u = 0 and 1 (the values the inverse gives back)."""
        return self.transform.clamp(self.transform.energy_forward(e), "energy")

    def nll(self, e: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of real layer energies ``e``, nats per dimension."""
        return -self.flow.log_prob(self.variables(e), conditions).mean() / self.n_layers

    def sample(
        self, z: torch.Tensor, conditions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, n_layers) standard-normal ``z``, (N, cond_dim) -> layer energies (N, n_layers,
        >= 0) and their standardised variables (clamped where the inverse clips, so both say
        the same shower)."""
        t = self.transform
        y = t.clamp(self.flow.inverse(z, conditions), "energy")
        return t.energy_inverse(y), y
