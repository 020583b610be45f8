"""Cascade step limits: the step-scale knob of :class:`Cuts`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result

from caloforge.geometry import Geometry, Slab, get_geometry
from caloforge.simulation.cascade import Cuts, run_cascade
from caloforge.simulation.gun import ParticleGun
from slabs import one_cell, thin_al_si


def test_step_scale_multiplies_every_step_limit() -> None:
    cuts = Cuts(
        range_fraction=0.2,
        final_range_mm=0.2,
        lambda1_fraction=0.25,
        safety_fraction=0.5,
        step_scale=0.5,
    )
    assert cuts.step_limits() == pytest.approx((0.1, 0.1, 0.125, 0.25))
    # the range and safety fractions are fractions: capped at 1
    limits = Cuts(range_fraction=0.8, safety_fraction=0.8, step_scale=2.0).step_limits()
    assert limits[0] == 1.0
    assert limits[3] == 1.0
    with pytest.raises(ValueError, match="safety_fraction"):
        Cuts(safety_fraction=1.5)
    with pytest.raises(ValueError, match="step_scale"):
        Cuts(step_scale=0.0)


@pytest.mark.slow
def test_step_scale_reaches_the_kernel() -> None:
    g = get_geometry("calochallenge-2")
    sample = ParticleGun("electron", energies_mev=(500.0,)).sample(12, g, seed=5)
    a = run_cascade(g, sample, workers=1, cuts=Cuts()).cells
    b = run_cascade(g, sample, workers=1, cuts=Cuts(step_scale=0.5)).cells
    assert not np.array_equal(a, b)
    # the showers differ (sampling fluctuations of ~25% each at 500 MeV here), their mean
    # visible energy (~7% statistical error over 12) stays
    assert b.sum() == pytest.approx(a.sum(), rel=0.3)


def test_step_scale_is_recorded_with_the_transport_version() -> None:
    from caloforge.simulation import provenance
    from caloforge.simulation.cascade import TRANSPORT_VERSION

    g = get_geometry("calochallenge-2")
    gun = ParticleGun("electron", energies_mev=(500.0,))
    attrs = provenance(g, gun, 3, 5, "cascade", Cuts(step_scale=0.25))
    assert attrs["cuts"]["step_scale"] == 0.25
    assert attrs["transport_version"] == TRANSPORT_VERSION
    assert "transport_version" not in provenance(g, gun, 3, 5, "gflash", None)


def test_cli_step_scale_is_for_the_cascade_only(tmp_path: Path, cli: Callable[..., Result]) -> None:
    args = ["simulate", "-g", "calochallenge-2", "--energy", "5GeV", "-n", "2"]
    res = cli([*args, "--engine", "gflash", "--step-scale", "0.5", "-o", str(tmp_path / "a.h5")])
    assert res.exit_code == 2
    assert "applies to the cascade engine only" in res.output
    res = cli([*args, "--step-scale", "0", "-o", str(tmp_path / "b.h5")])
    assert res.exit_code == 2
    assert not (tmp_path / "a.h5").exists()


def _block(material: str, mm: float, active: bool) -> Geometry:
    return one_cell(f"{material}-block", Slab(material, mm, active))


@pytest.mark.slow
def test_step_counts_follow_the_transport() -> None:
    # a photon crossing 1 mm of Al untouched (p = 0.99) makes no e± and takes no e± step
    thin = thin_al_si()
    sample = ParticleGun("photon", energies_mev=(1000.0,)).sample(200, thin, seed=1)
    out = run_cascade(thin, sample, workers=1)
    assert out.charged_steps is not None
    assert out.passive_steps is not None
    untouched = np.isclose(out.escaped_mev, 1000.0)
    assert 150 < untouched.sum() < 200
    assert (out.charged_steps[untouched] == 0).all()
    assert (out.charged_steps[~untouched] > 0).all()
    assert (out.passive_steps <= out.charged_steps).all()
    # an all-active block has no passive step
    block = _block("LAr", 2000.0, True)
    gun = ParticleGun("electron", energies_mev=(10.0,))
    sample = gun.sample(20, block, seed=2)
    a = run_cascade(block, sample, workers=1)
    assert a.charged_steps is not None
    assert (a.charged_steps > 0).all()
    assert a.passive_steps is not None
    assert (a.passive_steps == 0).all()
    # deep in LAr a 10 MeV electron's steps are mostly 0.1 of its residual range: about
    # ln(R(10 MeV) / 0.1 mm) / 0.1 ~ 60 of them, twice as many at half the step limits
    # (fewer than twice: the steps ended by a discrete interaction stay)
    b = run_cascade(block, sample, workers=1, cuts=Cuts(step_scale=0.5))
    assert b.charged_steps is not None
    ratio = b.charged_steps.sum() / a.charged_steps.sum()
    assert 1.6 < ratio < 2.05
    passive = run_cascade(_block("Pb", 200.0, False), gun.sample(5, block, seed=3), workers=1)
    assert passive.passive_steps is not None
    np.testing.assert_array_equal(passive.passive_steps, passive.charged_steps)
