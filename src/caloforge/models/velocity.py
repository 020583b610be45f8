"""Velocity networks for conditional flow matching, and fixed-step ODE solvers for them.

A :class:`VelocityField` maps ``(x, t, c)`` -- state (N, dim), time (N, 1) in [0, 1] and
conditions (N, cond_dim) -- to a velocity (N, dim). It is a residual MLP in the style of the
published two-stage calorimeter models (CaloDREAM): the time enters through Gaussian Fourier
features (``sin``/``cos`` of ``2 pi t w`` with fixed random frequencies ``w ~ N(0, scale^2)``),
an input layer maps ``[x, features(t), c]`` to the hidden width, and each block adds
``Linear(SiLU(Linear([h, features(t), c])))`` to ``h``. The last layer of every block and the
output layer start near zero (their default initialisation times ``init_scale``), so each block
starts close to the identity and the initial velocity close to zero.

Published sizes, for orientation (CaloDREAM, CaloChallenge dataset 2): energy network 8 blocks of
width 256 (91k parameters), shape network 2 blocks of width 2000 (3.4M); CPU-sized defaults are
set by the family (:mod:`caloforge.models.flow_matching`).

:func:`integrate` solves ``dx/dt = v(x, t, c)`` from t = 0 to 1 with a fixed number of Euler,
midpoint or classical Runge-Kutta (RK4) steps. The loop is plain Python over a constant number of
steps, so it unrolls when traced to ONNX; no random numbers are drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

__all__ = [
    "SOLVER_EVALUATIONS",
    "Field",
    "FourierTime",
    "ResidualBlock",
    "Solver",
    "VelocityField",
    "integrate",
]

Solver = Literal["euler", "midpoint", "rk4"]

#: a velocity ``v(x, t, c)``: (N, dim), (N, 1), (N, cond_dim) -> (N, dim)
Field = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

#: network evaluations per step of each fixed-step solver
SOLVER_EVALUATIONS: dict[str, int] = {"euler": 1, "midpoint": 2, "rk4": 4}


class FourierTime(nn.Module):
    """(N, 1) time -> (N, 2 n_frequencies) Gaussian Fourier features (Tancik et al. 2020).

    ``frequencies`` is a buffer drawn once from N(0, scale^2) at construction (saved with the
    model): the features do not train."""

    frequencies: torch.Tensor

    def __init__(self, n_frequencies: int, scale: float) -> None:
        super().__init__()
        if n_frequencies < 1 or not scale > 0:
            msg = (
                f"time features need n_frequencies >= 1 and scale > 0, got {n_frequencies}, {scale}"
            )
            raise ValueError(msg)
        self.register_buffer("frequencies", torch.randn(n_frequencies) * scale)

    @property
    def dim(self) -> int:
        return 2 * len(self.frequencies)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angle = (2 * math.pi) * t * self.frequencies[None, :]
        return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


def _shrink(layer: nn.Linear, scale: float) -> None:
    with torch.no_grad():
        layer.weight.mul_(scale)
        if layer.bias is not None:
            layer.bias.zero_()


class ResidualBlock(nn.Module):
    """``h + Linear(SiLU(Linear([h, e])))`` with ``e`` the (time features, conditions) embedding;
    the last Linear starts at ``init_scale`` times its default initialisation."""

    def __init__(self, hidden: int, embed_dim: int, init_scale: float) -> None:
        super().__init__()
        self.inner = nn.Linear(hidden + embed_dim, hidden)
        self.outer = nn.Linear(hidden, hidden)
        _shrink(self.outer, init_scale)

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return h + self.outer(nn.functional.silu(self.inner(torch.cat([h, e], dim=1))))


class VelocityField(nn.Module):
    """Residual MLP velocity ``v(x, t, c)``: (N, dim), (N, 1), (N, cond_dim) -> (N, dim)."""

    def __init__(
        self,
        dim: int,
        cond_dim: int,
        *,
        hidden: int,
        blocks: int,
        time_frequencies: int,
        time_scale: float,
        init_scale: float,
    ) -> None:
        super().__init__()
        if dim < 1 or hidden < 1 or blocks < 1:
            msg = (
                f"a velocity field needs dim, hidden and blocks >= 1, got {dim}, {hidden}, {blocks}"
            )
            raise ValueError(msg)
        if not 0 <= init_scale <= 1:
            msg = f"init_scale must be in [0, 1], got {init_scale}"
            raise ValueError(msg)
        self.dim = int(dim)
        self.time = FourierTime(time_frequencies, time_scale)
        embed = self.time.dim + cond_dim
        self.inp = nn.Linear(dim + embed, hidden)
        self.blocks = nn.ModuleList(ResidualBlock(hidden, embed, init_scale) for _ in range(blocks))
        self.out = nn.Linear(hidden, dim)
        _shrink(self.out, init_scale)

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        e = torch.cat([self.time(t), c], dim=1)
        h = self.inp(torch.cat([x, e], dim=1))
        for block in self.blocks:
            h = block(h, e)
        return self.out(nn.functional.silu(h))


def integrate(
    field: Field, x0: torch.Tensor, c: torch.Tensor, steps: int, method: Solver
) -> torch.Tensor:
    """``x(1)`` for ``dx/dt = field(x, t, c)``, ``x(0) = x0`` (N, dim), with ``steps`` equal
    steps of ``method``; ``steps * SOLVER_EVALUATIONS[method]`` network evaluations."""
    if steps < 1 or method not in SOLVER_EVALUATIONS:
        msg = f"solver needs steps >= 1 and method in {sorted(SOLVER_EVALUATIONS)}, got {steps}, {method!r}"
        raise ValueError(msg)
    h = 1.0 / steps
    ones = torch.ones_like(x0[:, :1])  # time column of the batch's size (traces dynamically)
    x = x0
    for k in range(steps):
        t = k * h
        if method == "euler":
            x = x + h * field(x, ones * t, c)
        elif method == "midpoint":
            k1 = field(x, ones * t, c)
            x = x + h * field(x + (0.5 * h) * k1, ones * (t + 0.5 * h), c)
        else:
            k1 = field(x, ones * t, c)
            k2 = field(x + (0.5 * h) * k1, ones * (t + 0.5 * h), c)
            k3 = field(x + (0.5 * h) * k2, ones * (t + 0.5 * h), c)
            k4 = field(x + h * k3, ones * (t + h), c)
            x = x + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
    return x
