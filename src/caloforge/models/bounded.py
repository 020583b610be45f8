"""Cell outputs whose total is a bounded share of the incident energy (the grid GANs' head).

A head that gives each cell its energy on its own has no bound on the shower's total: a ReLU
in the ``log`` network space (cell = E_inc x alpha x expm1(x)) let ``gan-mbd`` and ``wgan-lo``
on ``ild-ecal`` end at a mean E_vis/E_inc anywhere from 0.0025 to 92 against the data's 0.022
(``benchmarks/results/ild_cpu-*.md``, before this head). Here the cells are built as

    f_i = r x w_i / sum_j w_j,    0 <= r <= MAX_RATIO,

``w_i >= 0`` a pattern (softmax weights, or a ReLU map with exact zeros) and ``r`` the shower's
E_tot/E_inc (:func:`share`). ``MAX_RATIO`` = 2: a shower deposits at most its energy, and what
calorimeters record stays below twice that (the cells of a sampling calorimeter add up to a
few per cent of it, a homogeneous one's to about 1, noise and calibration move that by a few
per cent; the synthetic atlas-em-barrel photons of the tests reach 1.07). So for any noise and
any weights the cells add up to at most 2 E_inc.

:class:`RatioHead` is the ``r`` of the grid GANs: ``MAX_RATIO x sigmoid(offset + g x mlp(h))``,
the offset set from the data's mean E_tot/E_inc before the first update (:meth:`RatioHead.fit`),
the MLP's last layer started near zero (every shower at that mean) and its path damped by
``g`` = :data:`RATIO_GAIN` against Adam's random walk (as the dense softmax head's
``SCALE_GAIN``). For the small sampling fractions of Si-W calorimeters (r ~ 0.02) the sigmoid is
in its exponential tail, so the network moves ln r. ``gan3d`` draws ``r`` from its likelihood model,
clips it with the same :func:`bounded_ratio` and multiplies its softmax by it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from caloforge.models.dense import mlp

__all__ = ["MAX_RATIO", "RATIO_GAIN", "RatioHead", "bounded_ratio", "share"]

#: largest E_tot/E_inc a generated shower may have (module docstring)
MAX_RATIO = 2.0
#: damping of the ratio head's network path. The 60-step runs of
#: ``tests/test_training_improves.py`` (score: lower is better; frozen: fitted, not trained)
#: gave gan-mbd / wgan-lo 1.49 / 1.37 at 0.1 (frozen 1.76), 1.22 / 1.77 at 0.2 (frozen 1.75)
#: and wgan-lo 1.81 at 0.05 (frozen 1.78): wgan-lo's short runs swing widely with it
RATIO_GAIN = 0.1
#: the smallest pattern sum divided by (all-zero patterns give all-zero showers)
_TINY = 1e-30


def bounded_ratio(ratio: torch.Tensor) -> torch.Tensor:
    """E_tot/E_inc clipped to ``[0, MAX_RATIO]``."""
    return ratio.clamp(0.0, MAX_RATIO)


def share(weights: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """(B, n) weights >= 0 and (B,) E_tot/E_inc -> (B, n) fractions of E_inc: the weights
    normalised to the ratio clipped by :func:`bounded_ratio`; they add up to that ratio (to 0
    for an all-zero pattern), never to more than ``MAX_RATIO``. (Weights that already add up
    to 1, a softmax, need only ``weights * bounded_ratio(ratio)[:, None]``.)"""
    r = bounded_ratio(ratio)[:, None]
    return weights * (r / weights.sum(dim=1, keepdim=True).clamp_min(_TINY))


class RatioHead(nn.Module):
    """``(B, n_in) -> (B,)`` E_tot/E_inc in ``(0, MAX_RATIO)`` (module docstring)."""

    offset: torch.Tensor
    fitted: torch.Tensor

    def __init__(self, n_in: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.net = mlp(n_in, hidden, 1)
        last = self.net[-1]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():  # start at the fitted mean for every shower: a spread is learnt
            last.weight.mul_(0.01)
            last.bias.zero_()
        self.register_buffer("offset", torch.zeros(()))
        self.register_buffer("fitted", torch.zeros(()))

    @property
    def is_fitted(self) -> bool:
        return bool(self.fitted > 0)

    @torch.no_grad()
    def fit(self, ratios: torch.Tensor) -> None:
        """Start at the mean of the data's E_tot/E_inc (B,), which must be in (0, MAX_RATIO)."""
        mean = float(ratios.detach().double().mean()) / MAX_RATIO
        if not 0 < mean < 1:
            msg = f"mean E_tot/E_inc must be in (0, {MAX_RATIO}), got {mean * MAX_RATIO}"
            raise ValueError(msg)
        self.offset.fill_(math.log(mean / (1 - mean)))
        self.fitted.fill_(1.0)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return MAX_RATIO * torch.sigmoid(self.offset + RATIO_GAIN * self.net(h)[:, 0])
