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

A coupling may instead be **affine** (``transform="affine"``, RealNVP, Dinh et al. 2017):
``y = x exp(s) + t`` with ``s = SCALE_CLAMP tanh(raw / SCALE_CLAMP)``, two parameters per
dimension instead of ``3K - 1`` and a handful of element-wise operations instead of the
spline's bin search and gathers. It is the cheap transform of a distilled student
(:mod:`caloforge.models.flow_student`): the spline's cost at batch 10 000 is memory traffic
on (N, dim, K + 1) tensors, not its MLP.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["TRANSFORMS", "Coupling", "CouplingFlow", "affine", "rq_bin", "rq_spline"]

#: the element-wise transforms of a coupling
TRANSFORMS = ("spline", "affine")
#: |log scale| bound of one affine coupling (a soft clamp: tanh)
SCALE_CLAMP = 3.0

#: smallest bin width / height (fraction of the interval) and knot derivative
MIN_BIN = 1e-3
MIN_DERIVATIVE = 1e-3
#: softplus(x + DERIVATIVE_SHIFT) = 1 - MIN_DERIVATIVE at x = 0: zero raw parameters give the
#: identity map
DERIVATIVE_SHIFT = math.log(math.expm1(1.0 - MIN_DERIVATIVE))


def spline_knots(
    raw: torch.Tensor, bound: float, min_bin: float = MIN_BIN
) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., K) raw -> knot positions (..., K + 1) from -bound to bound, bin sizes (..., K) of
    at least ``min_bin`` of the interval."""
    k = raw.shape[-1]
    size = min_bin + (1 - min_bin * k) * torch.softmax(raw, dim=-1)
    cum = torch.cumsum(size, dim=-1)
    zero = torch.zeros_like(cum[..., :1])
    # the last knot is exactly 1 (cumsum rounding must not leave a gap at the upper bound)
    knots = torch.cat([zero, cum[..., :-1], zero + 1.0], dim=-1)
    knots = 2 * bound * knots - bound
    return knots, knots[..., 1:] - knots[..., :-1]


def bin_index(value: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
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
    min_bin: float = MIN_BIN,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Monotonic rational-quadratic spline, element-wise.

    ``x`` (...,); ``params`` (..., 3K - 1): K raw widths, K raw heights, K - 1 raw inner
    derivatives. Returns ``(y, log|dy/dx|)`` (both (...,)); with ``inverse`` the inverse map
    and the log-derivative of the *forward* map at the returned point, negated (so that the
    two directions' values add to zero). Identity with log-derivative 0 outside
    ``[-bound, bound]``; every bin at least ``min_bin`` of the interval."""
    k = (params.shape[-1] + 1) // 3
    xk, w = spline_knots(params[..., :k], bound, min_bin)
    yk, h = spline_knots(params[..., k : 2 * k], bound, min_bin)
    raw_d = params[..., 2 * k :]
    inner_d = MIN_DERIVATIVE + nn.functional.softplus(raw_d + DERIVATIVE_SHIFT)
    one = torch.ones_like(inner_d[..., :1])
    d = torch.cat([one, inner_d, one], dim=-1)

    inside = (x >= -bound) & (x <= bound)
    xc = x.clamp(-bound, bound)
    idx = bin_index(xc, yk if inverse else xk)
    out, logdet = rq_bin(
        xc,
        _take(xk, idx),
        _take(w, idx),
        _take(yk, idx),
        _take(h, idx),
        _take(d, idx),
        _take(d, idx + 1),
        inverse=inverse,
    )
    y = torch.where(inside, out, x)
    return y, torch.where(inside, logdet, torch.zeros_like(logdet))


def rq_bin(
    x: torch.Tensor,
    x0: torch.Tensor,
    wk: torch.Tensor | float,
    y0: torch.Tensor,
    hk: torch.Tensor,
    d0: torch.Tensor,
    d1: torch.Tensor,
    *,
    inverse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The rational-quadratic map of one bin, element-wise: the bin starts at ``(x0, y0)``, is
    ``wk`` wide and ``hk`` high, with knot derivatives ``d0`` and ``d1`` at its two ends (all
    the shape of ``x``, which lies in the bin: on its input side, or with ``inverse`` its output
    side; ``wk`` may be one number for all). Returns ``(y, log|dy/dx|)`` as :func:`rq_spline` (with ``inverse``: the inverse map
    and the negated log-derivative of the forward map at the returned point)."""
    s = hk / wk
    if inverse:
        dy = x - y0
        a = hk * (s - d0) + dy * (d1 + d0 - 2 * s)
        b = hk * d0 - dy * (d1 + d0 - 2 * s)
        c = -s * dy
        disc = (b * b - 4 * a * c).clamp_min(0.0)
        theta = ((2 * c) / (-b - torch.sqrt(disc))).clamp(0.0, 1.0)
        out = x0 + theta * wk
    else:
        theta = ((x - x0) / wk).clamp(0.0, 1.0)
        out = y0 + hk * (s * theta**2 + d0 * theta * (1 - theta)) / (
            s + (d1 + d0 - 2 * s) * theta * (1 - theta)
        )
    t1 = theta * (1 - theta)
    den = s + (d1 + d0 - 2 * s) * t1
    deriv = s**2 * (d1 * theta**2 + 2 * s * t1 + d0 * (1 - theta) ** 2) / den**2
    logdet = torch.log(deriv)
    return out, -logdet if inverse else logdet


def affine(
    x: torch.Tensor, raw_scale: torch.Tensor, shift: torch.Tensor, *, inverse: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Element-wise affine map ``y = x exp(s) + t`` with ``s = SCALE_CLAMP tanh(raw_scale /
    SCALE_CLAMP)`` (all three the same shape). Returns ``(y, log|dy/dx|)``; with ``inverse``
    the inverse map and the negated log-derivative, as :func:`rq_spline`. Zero parameters give
    the identity."""
    log_scale = SCALE_CLAMP * torch.tanh(raw_scale / SCALE_CLAMP)
    if inverse:
        return (x - shift) * torch.exp(-log_scale), -log_scale
    return x * torch.exp(log_scale) + shift, log_scale


class Coupling(nn.Module):
    """One coupling layer on ``dim`` dimensions given ``cond_dim`` conditions.

    ``perm`` (a fixed permutation drawn from ``seed``, rebuilt, not saved) chooses the
    ``dim // 2`` inputs that pass unchanged and condition an MLP (``hidden`` wide, ``depth``
    hidden layers, SiLU); the MLP outputs the transform's parameters for the others. The MLP's
    last layer starts at ``init_scale`` times its default initialisation: the layer starts close
    to the identity while every weight still gets a gradient.

    - ``transform="spline"``: the inputs are reordered by ``perm`` (a gather), the second half
      goes through :func:`rq_spline` (``3 bins - 1`` parameters each);
    - ``transform="affine"``: no reordering at all (gathers along the cell axis dominated an
      affine flow's ONNX Runtime time): the passed inputs are selected by a fixed 0/1 ``mask``,
      the MLP sees ``x * mask`` and outputs a log scale and a shift for every dimension, which
      the mask zeroes on the passed ones (the same family of maps as the reordered layout).
    """

    perm: torch.Tensor
    inv_perm: torch.Tensor
    mask: torch.Tensor
    in_mask: torch.Tensor

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
        transform: str = "spline",
    ) -> None:
        super().__init__()
        if dim < 2:
            msg = f"a coupling layer needs >= 2 dimensions, got {dim}"
            raise ValueError(msg)
        if transform not in TRANSFORMS:
            msg = (
                f"a coupling's transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}"
            )
            raise ValueError(msg)
        self.dim, self.n_pass, self.n_out = dim, dim // 2, dim - dim // 2
        self.bins, self.bound, self.transform = bins, bound, transform
        perm = torch.randperm(dim, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("perm", perm, persistent=False)
        self.register_buffer("inv_perm", torch.argsort(perm), persistent=False)
        mask = torch.zeros(dim)
        mask[perm[: self.n_pass]] = 1.0
        self.register_buffer("mask", mask, persistent=False)
        #: the first layer's input mask: the passed dimensions and every condition
        self.register_buffer("in_mask", torch.cat([mask, torch.ones(cond_dim)]), persistent=False)
        if transform == "spline":
            width, n_outputs = self.n_pass + cond_dim, self.n_out * (3 * bins - 1)
        else:
            width, n_outputs = dim + cond_dim, 2 * dim
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        last = nn.Linear(width, n_outputs)
        with torch.no_grad():
            last.weight.mul_(init_scale)
            last.bias.zero_()
        self.net = nn.Sequential(*layers, last)

    def _spline(
        self, x: torch.Tensor, c: torch.Tensor, inverse: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        xp = x[:, self.perm]
        a, b = xp[:, : self.n_pass], xp[:, self.n_pass :]
        params = self.net(torch.cat([a, c], dim=1)).reshape(-1, self.n_out, 3 * self.bins - 1)
        y, logdet = rq_spline(b, params, self.bound, inverse=inverse)
        return torch.cat([a, y], dim=1)[:, self.inv_perm], logdet.sum(dim=1)

    def _affine(
        self, x: torch.Tensor, c: torch.Tensor, inverse: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`affine` with the MLP's output on ``x * mask`` and ``c``, zeroed on the passed
        dimensions; the masks (and the soft clamp's divisor, and the inverse's sign) are applied
        to the first and last layers' weights -- constants in an export -- instead of to
        (N, dim) activations (the masked products and the output's split took a quarter of an
        affine student's ONNX Runtime time)."""
        first, last = self.net[0], self.net[-1]
        assert isinstance(first, nn.Linear)
        assert isinstance(last, nn.Linear)
        linear = nn.functional.linear
        h = self.net[1:-1](
            linear(torch.cat([x, c], dim=1), first.weight * self.in_mask, first.bias)
        )
        d, free = self.dim, 1.0 - self.mask
        sign = -1.0 if inverse else 1.0
        factor = free * (sign / SCALE_CLAMP)
        raw = linear(h, last.weight[:d] * factor[:, None], last.bias[:d] * factor)
        shift = linear(h, last.weight[d:] * free[:, None], last.bias[d:] * free)
        log_scale = SCALE_CLAMP * torch.tanh(raw)  # the forward map's log scale times sign
        if inverse:
            return (x - shift) * torch.exp(log_scale), log_scale.sum(dim=1)
        return x * torch.exp(log_scale) + shift, log_scale.sum(dim=1)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, dim) data side, (N, cond_dim) -> (N, dim) noise side, (N,) log|det|."""
        if self.transform == "affine":
            return self._affine(x, c, False)
        return self._spline(x, c, False)

    def inverse(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """(N, dim) noise side, (N, cond_dim) -> (N, dim) data side."""
        if self.transform == "affine":
            return self._affine(z, c, True)[0]
        return self._spline(z, c, True)[0]


class CouplingFlow(nn.Module):
    """``layers`` couplings (``transform``: spline or affine) over a standard-normal base,
    conditional on ``cond_dim`` inputs; layer ``i`` draws its permutation from ``seed + i``."""

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
        transform: str = "spline",
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
                transform=transform,
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
