"""Cascade step limits: the step-scale knob of :class:`Cuts`."""

from __future__ import annotations

import numpy as np
import pytest

from caloforge.geometry import get_geometry
from caloforge.simulation.cascade import Cuts, run_cascade
from caloforge.simulation.gun import ParticleGun


def test_step_scale_multiplies_every_step_limit() -> None:
    cuts = Cuts(
        range_fraction=0.2,
        final_range_mm=0.2,
        lambda1_fraction=0.25,
        step_scale=0.5,
    )
    assert cuts.step_limits() == pytest.approx((0.1, 0.1, 0.125))
    # the range fraction is a fraction: capped at 1
    assert Cuts(range_fraction=0.8, step_scale=2.0).step_limits()[0] == 1.0
    with pytest.raises(ValueError, match="step_scale"):
        Cuts(step_scale=0.0)


def test_step_scale_reaches_the_kernel() -> None:
    g = get_geometry("calochallenge-2")
    sample = ParticleGun("electron", energies_mev=(500.0,)).sample(3, g, seed=5)
    a = run_cascade(g, sample, workers=1, cuts=Cuts()).cells
    b = run_cascade(g, sample, workers=1, cuts=Cuts(step_scale=0.5)).cells
    # the same seeds, other steps: other showers
    assert not np.array_equal(a, b)
