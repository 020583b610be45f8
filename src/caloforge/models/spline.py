"""Conditional rational-quadratic spline coupling flows (Durkan et al. 2019), ONNX-exportable.

:func:`rq_spline` is the monotonic rational-quadratic spline on ``[-bound, bound]`` with
identity tails outside (the "neural spline flow" transform): ``K`` bins whose widths and heights
come from a softmax, and ``K - 1`` inner knot derivatives from a softplus (the two boundary
derivatives are 1, so the map is C1 at the tails). Forward (data -> noise) and inverse
(noise -> data, the root of a quadratic) are both one closed-form pass.

Written here rather than taken from ``zuko`` (the project's environment does not ship it, and a
dependency of this size for ~60 lines was not worth adding). It is also written for the ONNX
exporter: the bin of every input is found by counting the inner knots at or below it (a
comparison and a sum) instead of ``torch.searchsorted`` (which the TorchScript-based exporter
refuses at opset 17: "Exporting the operator 'aten::searchsorted' to ONNX opset version 17 is
not supported"), and the bin's parameters are taken with
``torch.gather`` (ONNX ``GatherElements``). Both directions therefore export and run in ONNX
Runtime (``tests/test_models_flow.py`` checks the parity).

:class:`Coupling` is one affine-free coupling layer: a fixed permutation of the dimensions, the
first half passed through, the second half transformed by splines whose parameters an MLP
computes from the first half and the conditions. :class:`CouplingFlow` stacks them over a
standard-normal base: ``forward(x, c) -> (z, log|det dz/dx|)``, ``inverse(z, c) -> x``,
``log_prob(x, c)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Coupling", "CouplingFlow", "rq_spline"]

#: smallest bin width / height (fraction of the interval) and knot derivative
MIN_BIN = 1e-3
MIN_DERIVATIVE = 1e-3
#: softplus(x + DERIVATIVE_SHIFT) = 1 - MIN_DERIVATIVE at x = 0: zero raw parameters give the
#: identity map
DERIVATIVE_SHIFT = math.log(math.expm1(1.0 - MIN_DERIVATIVE))


def _knots(raw: torch.Tensor, bound: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., K) raw -> knot positions (..., K + 1) from -bound to bound, bin sizes (..., K)."""
    k = raw.shape[-1]
    size = MIN_BIN + (1 - MIN_BIN * k) * torch.softmax(raw, dim=-1)
    cum = torch.cumsum(size, dim=-1)
    zero = torch.zeros_like(cum[..., :1])
    # the last knot is exactly 1 (cumsum rounding must not leave a gap at the upper bound)
    knots = torch.cat([zero, cum[..., :-1], zero + 1.0], dim=-1)
    knots = 2 * bound * knots - bound
    return knots, knots[..., 1:] - knots[..., :-1]


def _bin(value: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
    """(...,) values, (..., K + 1) knots -> (..., 1) index of the bin holding each value: the
    number of inner knots at or below it (no searchsorted: exports to ONNX)."""
    inner = knots[..., 1:-1]
    return (value[..., None] >= inner).to(torch.int64).sum(dim=-1, keepdim=True)


def _take(t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return torch.gather(t, -1, index)[..., 0]


def rq_spline(
    x: torch.Tensor,
    params: torch.Tensor,
    bound: float,
    *,
    inverse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Monotonic rational-quadratic spline, element-wise.

    ``x`` (...,); ``params`` (..., 3K - 1): K raw widths, K raw heights, K - 1 raw inner
    derivatives. Returns ``(y, log|dy/dx|)`` (both (...,)); with ``inverse`` the inverse map
    and the log-derivative of the *forward* map at the returned point, negated (so that the
    two directions' values add to zero). Identity with log-derivative 0 outside
    ``[-bound, bound]``."""
    k = (params.shape[-1] + 1) // 3
    xk, w = _knots(params[..., :k], bound)
    yk, h = _knots(params[..., k : 2 * k], bound)
    raw_d = params[..., 2 * k :]
    inner_d = MIN_DERIVATIVE + nn.functional.softplus(raw_d + DERIVATIVE_SHIFT)
    one = torch.ones_like(inner_d[..., :1])
    d = torch.cat([one, inner_d, one], dim=-1)

    inside = (x >= -bound) & (x <= bound)
    xc = x.clamp(-bound, bound)
    idx = _bin(xc, yk if inverse else xk)
    x0, wk = _take(xk, idx), _take(w, idx)
    y0, hk = _take(yk, idx), _take(h, idx)
    d0, d1 = _take(d, idx), _take(d, idx + 1)
    s = hk / wk
    if inverse:
        dy = xc - y0
        a = hk * (s - d0) + dy * (d1 + d0 - 2 * s)
        b = hk * d0 - dy * (d1 + d0 - 2 * s)
        c = -s * dy
        disc = (b * b - 4 * a * c).clamp_min(0.0)
        theta = ((2 * c) / (-b - torch.sqrt(disc))).clamp(0.0, 1.0)
        out = x0 + theta * wk
    else:
        theta = ((xc - x0) / wk).clamp(0.0, 1.0)
        out = y0 + hk * (s * theta**2 + d0 * theta * (1 - theta)) / (
            s + (d1 + d0 - 2 * s) * theta * (1 - theta)
        )
    t1 = theta * (1 - theta)
    den = s + (d1 + d0 - 2 * s) * t1
    deriv = s**2 * (d1 * theta**2 + 2 * s * t1 + d0 * (1 - theta) ** 2) / den**2
    logdet = torch.log(deriv)
    if inverse:
        logdet = -logdet
    y = torch.where(inside, out, x)
    return y, torch.where(inside, logdet, torch.zeros_like(logdet))


class Coupling(nn.Module):
    """One spline coupling layer on ``dim`` dimensions given ``cond_dim`` conditions.

    ``perm`` (a fixed permutation drawn from ``seed``, rebuilt, not saved) orders the inputs;
    the first ``dim // 2`` of them condition an MLP (``hidden`` wide, ``depth`` hidden layers,
    SiLU) that outputs the spline parameters of the others. The MLP's last layer starts at
    ``init_scale`` times its default initialisation: the layer starts close to the identity
    while every weight still gets a gradient."""

    perm: torch.Tensor
    inv_perm: torch.Tensor

    def __init__(
        self,
        dim: int,
        cond_dim: int,
        *,
        hidden: int,
        depth: int,
        bins: int,
        bound: float,
        seed: int,
        init_scale: float,
    ) -> None:
        super().__init__()
        if dim < 2:
            msg = f"a coupling layer needs >= 2 dimensions, got {dim}"
            raise ValueError(msg)
        self.n_pass, self.n_out = dim // 2, dim - dim // 2
        self.bins, self.bound = bins, bound
        perm = torch.randperm(dim, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("perm", perm, persistent=False)
        self.register_buffer("inv_perm", torch.argsort(perm), persistent=False)
        layers: list[nn.Module] = []
        width = self.n_pass + cond_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        last = nn.Linear(width, self.n_out * (3 * bins - 1))
        with torch.no_grad():
            last.weight.mul_(init_scale)
            last.bias.zero_()
        self.net = nn.Sequential(*layers, last)

    def _params(self, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(torch.cat([a, c], dim=1))
        return out.reshape(-1, self.n_out, 3 * self.bins - 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, dim) data side, (N, cond_dim) -> (N, dim) noise side, (N,) log|det|."""
        xp = x[:, self.perm]
        a, b = xp[:, : self.n_pass], xp[:, self.n_pass :]
        y, logdet = rq_spline(b, self._params(a, c), self.bound)
        return torch.cat([a, y], dim=1)[:, self.inv_perm], logdet.sum(dim=1)

    def inverse(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """(N, dim) noise side, (N, cond_dim) -> (N, dim) data side."""
        zp = z[:, self.perm]
        a, y = zp[:, : self.n_pass], zp[:, self.n_pass :]
        b, _ = rq_spline(y, self._params(a, c), self.bound, inverse=True)
        return torch.cat([a, b], dim=1)[:, self.inv_perm]


class CouplingFlow(nn.Module):
    """``layers`` spline couplings over a standard-normal base, conditional on ``cond_dim``
    inputs; layer ``i`` draws its permutation from ``seed + i``."""

    def __init__(
        self,
        dim: int,
        cond_dim: int,
        *,
        layers: int,
        hidden: int,
        depth: int,
        bins: int,
        bound: float,
        seed: int,
        init_scale: float,
    ) -> None:
        super().__init__()
        if layers < 1 or hidden < 1 or depth < 1 or bins < 2 or not bound > 0:
            msg = f"a coupling flow needs layers, hidden, depth >= 1, bins >= 2, bound > 0; got {layers}, {hidden}, {depth}, {bins}, {bound}"
            raise ValueError(msg)
        self.dim = dim
        self.layers = nn.ModuleList(
            Coupling(
                dim,
                cond_dim,
                hidden=hidden,
                depth=depth,
                bins=bins,
                bound=bound,
                seed=seed + i,
                init_scale=init_scale,
            )
            for i in range(layers)
        )

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, dim) data -> (N, dim) noise and (N,) log|det dz/dx|."""
        total = torch.zeros(len(x), dtype=x.dtype, device=x.device)
        for layer in self.layers:
            x, logdet = layer(x, c)
            total = total + logdet
        return x, total

    def inverse(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """(N, dim) standard-normal noise -> (N, dim) data (one pass per layer)."""
        for layer in reversed(self.layers):
            z = layer.inverse(z, c)  # type: ignore[operator]
        return z

    def log_prob(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """(N,) log density of ``x`` given ``c`` (nats)."""
        z, logdet = self(x, c)
        base = -0.5 * (z**2).sum(dim=1) - 0.5 * self.dim * math.log(2 * math.pi)
        return base + logdet
