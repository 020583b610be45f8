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
  noise component. The resolution at the trained energies is then what the likelihood fit
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


def _asinh(x: torch.Tensor) -> torch.Tensor:
    """asinh from elementary functions (the legacy ONNX exporter has no aten::asinh/sinh)."""
    a = x.abs()
    return torch.sign(x) * torch.log(a + torch.sqrt(a * a + 1.0))


class EnergyRatioModel(nn.Module):
    """Conditional density of r = E_tot/E_inc: a sinh-arcsinh distribution (Jones & Pewsey,
    Biometrika 96 (2009) 761) whose location, scale, skewness and tail weight are an MLP of the
    conditions. In standardised units u = (r - ref_mean) / ref_std (buffers fitted on data),
    u = mu + sigma sinh((asinh(z) + eps) / delta) for standard-normal z: eps = 0, delta = 1 is
    the Gaussian N(mu, sigma^2); eps skews (a leakage tail), delta < 1 widens the tails.
    ``sample(z, c)`` is a pure function of the noise (ONNX-traceable); ``log_prob(r, c)`` is
    exact, so the parameters are fitted by maximum likelihood (:meth:`nll`)."""

    ref_mean: torch.Tensor
    ref_std: torch.Tensor

    #: |eps| <= MAX_SKEW and delta in [exp(-MAX_LOG_TAIL), exp(MAX_LOG_TAIL)]: bounded skew and
    #: tails, so a sample 5 sigma out in z lands at most ~13 scale units away
    MAX_SKEW = 2.0
    MAX_LOG_TAIL = 0.4

    def __init__(self, n_cond: int, hidden: Sequence[int] = (32, 32)) -> None:
        super().__init__()
        self.net = mlp(n_cond, hidden, 4)
        with torch.no_grad():  # start close to N(0, 1) in standardised units
            self.net[-1].weight.mul_(0.01)
            self.net[-1].bias.zero_()
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

    def params(self, conditions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(mu, log_sigma, eps, log_delta), each (N,), in standardised units."""
        out = self.net(conditions)
        mu = out[:, 0]
        log_sigma = out[:, 1].clamp(-12.0, 5.0)
        eps = self.MAX_SKEW * torch.tanh(out[:, 2])
        log_delta = self.MAX_LOG_TAIL * torch.tanh(out[:, 3])
        return mu, log_sigma, eps, log_delta

    def sample(self, z: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """(N,) standard-normal z, (N, n_cond) -> (N,) E_tot/E_inc, clipped at 0."""
        mu, log_sigma, eps, log_delta = self.params(conditions)
        w = (_asinh(z) + eps) * torch.exp(-log_delta)
        u = mu + log_sigma.exp() * 0.5 * (torch.exp(w) - torch.exp(-w))  # sinh, exportable
        return torch.relu(self.ref_mean + self.ref_std * u)

    def log_prob(self, ratios: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """(N,) log density of E_tot/E_inc (in standardised units u; the Jacobian of the
        standardisation is a constant and left out)."""
        mu, log_sigma, eps, log_delta = self.params(conditions)
        y = ((ratios - self.ref_mean) / self.ref_std - mu) * torch.exp(-log_sigma)
        w = log_delta.exp() * torch.asinh(y) - eps
        z = torch.sinh(w)
        log_cosh = w.abs() + torch.log1p(torch.exp(-2 * w.abs())) - math.log(2.0)
        return (
            log_delta
            + log_cosh
            - 0.5 * torch.log1p(y * y)
            - log_sigma
            - 0.5 * z * z
            - 0.5 * math.log(2 * math.pi)
        )

    def nll(self, ratios: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood (the training loss)."""
        return -self.log_prob(ratios, conditions).mean()
