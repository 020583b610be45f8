"""Dense building blocks shared by the families: MLPs and cell-output heads.

Heads map the last hidden layer to the network space of :mod:`caloforge.models.preprocessing`:

- ``"softmax"``: ``softmax(logits) * softplus(s)`` -- cell fractions of the shower times an
  energy scale ``s`` (the predicted E_tot / E_inc); the ATLAS FastCaloGAN output. ``s`` is a
  linear map times the constant :data:`SCALE_GAIN`: with Adam every weight moves by about the
  learning rate per step whatever its gradient, and on the undamped path that random walk alone
  spreads E_tot / E_inc by ~10%, several times a calorimeter's resolution at 50 GeV. The
  families set the bias from the data's mean E_tot / E_inc (:meth:`CellHead.set_mean_scale`).
- ``"softmax-likelihood"``: ``softmax(logits) * r``, where the energy scale ``r`` = E_tot/E_inc
  is not a generator output judged by a critic but a sample of an explicit conditional density,
  :class:`EnergyRatioModel`, fitted to the data by maximum likelihood and driven by the first
  two noise components. The resolution at the trained energies is then what the likelihood fit
  gives, not what an adversarial game happens to settle on (the plain WGAN-GP's known failure).
- ``"relu"``: ``relu(linear)`` -- non-negative cells (times E_inc after the preprocessing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

__all__ = ["CellHead", "EnergyRatioModel", "mlp"]

HeadKind = Literal["softmax", "softmax-likelihood", "relu"]

#: damping of the softmax head's energy-scale path (see the module docstring)
SCALE_GAIN = 0.05


def mlp(
    n_in: int, hidden: Sequence[int], n_out: int, *, slope: float = 0.2, final_bias: bool = True
) -> nn.Sequential:
    """Linear + LeakyReLU blocks, then a final Linear to ``n_out`` (no final activation)."""
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.LeakyReLU(slope)]
        width = h
    layers.append(nn.Linear(width, n_out, bias=final_bias))
    return nn.Sequential(*layers)


class CellHead(nn.Module):
    """(N, n_hidden) -> (N, n_cells) network-space cells; see the module docstring."""

    def __init__(self, n_hidden: int, n_cells: int, kind: HeadKind) -> None:
        super().__init__()
        if kind not in ("softmax", "softmax-likelihood", "relu"):
            msg = f"output head must be 'softmax', 'softmax-likelihood' or 'relu', got {kind!r}"
            raise ValueError(msg)
        self.kind = kind
        self.cells = nn.Linear(n_hidden, n_cells)
        self.scale = nn.Linear(n_hidden, 1) if kind == "softmax" else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Network-space cells; for ``softmax-likelihood`` the fractions (sum 1), which the
        generator multiplies by its :class:`EnergyRatioModel` sample."""
        if self.kind == "softmax-likelihood":
            return torch.softmax(self.cells(h), dim=1)
        if self.scale is None:
            return torch.relu(self.cells(h))
        s = SCALE_GAIN * self.scale(h)
        return torch.softmax(self.cells(h), dim=1) * nn.functional.softplus(s)

    @torch.no_grad()
    def set_mean_scale(self, ratio: float) -> None:
        """Softmax head: start E_tot/E_inc at ``ratio`` (> 0) on average, through the bias."""
        if self.scale is None:
            return
        if not ratio > 0:
            msg = f"mean E_tot/E_inc must be > 0, got {ratio}"
            raise ValueError(msg)
        inv_softplus = ratio + math.log(-math.expm1(-ratio))
        self.scale.bias.fill_(inv_softplus / SCALE_GAIN)


class EnergyRatioModel(nn.Module):
    """Conditional density of r = E_tot/E_inc: a mixture of ``n_components`` Gaussians whose
    weights, means and widths are an MLP of the conditions (a mixture density network, Bishop
    1994). In standardised units u = (r - ref_mean) / ref_std (buffers fitted on data). One
    Gaussian fits the core of a calorimeter's response; the extra components carry its skew
    and the tail of late-converting, leaking showers, which dominates the r.m.s. at high energy
    (atlas-em-barrel photons at 65 GeV: r.m.s. 1.4 x the effective sigma).

    ``sample(z, z_pick, c)`` is a pure function of two standard-normal noise columns: ``z_pick``
    chooses the component (Phi(z_pick) against the cumulative weights), ``z`` is the draw within
    it; ONNX-traceable. ``log_prob(r, c)`` is exact, so the parameters are fitted by maximum
    likelihood (:meth:`nll`)."""

    ref_mean: torch.Tensor
    ref_std: torch.Tensor

    def __init__(
        self, n_cond: int, hidden: Sequence[int] = (32, 32), n_components: int = 3
    ) -> None:
        super().__init__()
        if n_components < 1:
            msg = f"n_components must be >= 1, got {n_components}"
            raise ValueError(msg)
        self.n_components = int(n_components)
        self.net = mlp(n_cond, hidden, 3 * self.n_components)
        last = self.net[-1]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():  # start near N(0, 1) in standardised units, components spread
            last.weight.mul_(0.01)
            last.bias.zero_()
            k = self.n_components
            last.bias[k : 2 * k].copy_(torch.linspace(-0.5, 0.5, k))
        self.register_buffer("ref_mean", torch.tensor(1.0))
        self.register_buffer("ref_std", torch.tensor(0.1))  # until fitted: 1 +- 0.1

    @torch.no_grad()
    def set_reference(self, ratios: torch.Tensor) -> None:
        """Standardise with the mean and std of the data's E_tot/E_inc (B,), all > 0."""
        r = ratios.detach().double().flatten()
        if len(r) < 2 or not bool(torch.isfinite(r).all()) or not bool((r > 0).all()):
            msg = "E_tot/E_inc reference values must be finite, > 0 and at least 2"
            raise ValueError(msg)
        self.ref_mean.fill_(float(r.mean()))
        self.ref_std.fill_(max(float(r.std()), 1e-6 * float(r.mean())))

    def params(self, conditions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(log_weight, mean, log_sigma), each (N, n_components), standardised units."""
        k = self.n_components
        out = self.net(conditions)
        log_w = torch.log_softmax(out[:, :k], dim=1)
        return log_w, out[:, k : 2 * k], out[:, 2 * k :].clamp(-12.0, 5.0)

    def sample(
        self, z: torch.Tensor, z_pick: torch.Tensor, conditions: torch.Tensor
    ) -> torch.Tensor:
        """(N,) standard-normal ``z`` and ``z_pick``, (N, n_cond) -> (N,) E_tot/E_inc, >= 0."""
        log_w, mean, log_sigma = self.params(conditions)
        u_pick = 0.5 * (1.0 + torch.erf(z_pick * 0.7071067811865476))  # uniform in (0, 1)
        upper = torch.cumsum(log_w.exp(), dim=1)
        below_upper = (u_pick[:, None] < upper).float()
        # one-hot of the component whose cumulative interval holds u_pick (the last one if
        # rounding leaves u_pick above the final cumulative weight)
        pick = below_upper - torch.cat([torch.zeros_like(upper[:, :1]), below_upper[:, :-1]], 1)
        pick = torch.cat([pick[:, :-1], 1.0 - pick[:, :-1].sum(dim=1, keepdim=True)], dim=1)
        u = ((mean + log_sigma.exp() * z[:, None]) * pick).sum(dim=1)
        return torch.relu(self.ref_mean + self.ref_std * u)

    def log_prob(self, ratios: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """(N,) log density of E_tot/E_inc in standardised units u (the Jacobian of the
        standardisation is a constant and left out)."""
        log_w, mean, log_sigma = self.params(conditions)
        u = (ratios - self.ref_mean) / self.ref_std
        y = (u[:, None] - mean) * torch.exp(-log_sigma)
        per = log_w - log_sigma - 0.5 * y * y - 0.5 * math.log(2 * math.pi)
        return torch.logsumexp(per, dim=1)

    def nll(self, ratios: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood (the training loss)."""
        return -self.log_prob(ratios, conditions).mean()
