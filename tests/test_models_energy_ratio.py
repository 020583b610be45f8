"""The likelihood model of E_tot/E_inc behind the ``softmax-likelihood`` head: an exact density,
samples that follow it, and a maximum-likelihood fit that recovers known means and widths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from caloforge.models.dense import EnergyRatioModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _set(
    m: EnergyRatioModel, weights: list[float], means: list[float], sigmas: list[float]
) -> None:
    """Constant mixture (independent of the conditions) in standardised units."""
    with torch.no_grad():
        m.net[-1].weight.zero_()
        m.net[-1].bias.copy_(
            torch.tensor([*np.log(weights), *means, *np.log(sigmas)], dtype=torch.float32)
        )


MIX = ([0.7, 0.2, 0.1], [0.3, -0.4, -2.5], [0.8, 1.2, 2.0])


def _mixture(ref: tuple[float, float] = (0.2, 0.01)) -> EnergyRatioModel:
    m = EnergyRatioModel(3, hidden=(8,))
    _set(m, *MIX)
    m.ref_mean.fill_(ref[0])
    m.ref_std.fill_(ref[1])
    return m


def _mixture_cdf(r: np.ndarray, ref: tuple[float, float] = (0.2, 0.01)) -> np.ndarray:
    u = (r - ref[0]) / ref[1]
    w, mu, sig = (np.asarray(a) for a in MIX)
    return (w * stats.norm.cdf((u[:, None] - mu) / sig)).sum(axis=1)


def test_log_prob_is_the_mixture_density() -> None:
    m = _mixture()
    r = torch.tensor([0.17, 0.19, 0.2, 0.205, 0.23], dtype=torch.float32)
    u = (r.double().numpy() - 0.2) / 0.01
    w, mu, sig = (np.asarray(a) for a in MIX)
    expected = np.log((w * stats.norm.pdf(u[:, None], mu, sig)).sum(axis=1))
    got = m.log_prob(r, torch.zeros(5, 3)).detach().double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_density_integrates_to_one_for_any_conditions() -> None:
    torch.manual_seed(0)
    m = EnergyRatioModel(3, hidden=(8,))
    with torch.no_grad():
        m.net[-1].weight.normal_(0, 0.5)
    m.set_reference(torch.tensor([0.20, 0.22, 0.21, 0.19], dtype=torch.float64))
    for seed in range(3):
        cond = torch.randn(1, 3, generator=torch.Generator().manual_seed(seed)).expand(20_001, 3)
        r = torch.linspace(float(m.ref_mean - 1.0), float(m.ref_mean + 1.0), 20_001)
        with torch.no_grad():
            p = m.log_prob(r, cond).exp() / m.ref_std  # density in r
        assert float(torch.trapezoid(p, r)) == pytest.approx(1.0, abs=1e-3)


def test_samples_follow_the_density() -> None:
    """KS test of samples drawn through ``sample`` against the analytic mixture CDF, and the
    component weights reproduced by ``z_pick``."""
    m = _mixture()
    g = torch.Generator().manual_seed(5)
    z, z_pick = torch.randn(40_000, generator=g), torch.randn(40_000, generator=g)
    with torch.no_grad():
        x = m.sample(z, z_pick, torch.zeros(len(z), 3)).double().numpy()
    assert stats.kstest(x, _mixture_cdf).pvalue > 0.01
    # the far tail component (10%, 2.5 sigma low) is there in the right amount
    tail = float((x < 0.2 - 0.01 * 2.5).mean())
    expected = float(_mixture_cdf(np.array([0.2 - 0.01 * 2.5]))[0])
    assert tail == pytest.approx(expected, abs=0.006)


def test_one_component_is_a_gaussian() -> None:
    m = EnergyRatioModel(2, hidden=(4,), n_components=1)
    _set(m, [1.0], [0.5], [2.0])
    m.set_reference(torch.tensor([1.0, 3.0], dtype=torch.float64))  # mean 2, std sqrt(2)
    z = torch.tensor([-0.5, 0.0, 2.0])
    with torch.no_grad():
        s = m.sample(z, torch.zeros(3), torch.zeros(3, 2)).double().numpy()
    np.testing.assert_allclose(s, 2.0 + np.sqrt(2.0) * (0.5 + 2.0 * z.numpy()), rtol=1e-5)


def test_maximum_likelihood_recovers_a_tailed_response_per_condition() -> None:
    """Condition A: 90% N(0.22, 0.002) + 10% N(0.205, 0.006) (a leakage tail: r.m.s. 1.9 x the
    core width); condition B: N(0.20, 0.004). The fit recovers each mean to 0.1 core sigma and
    each r.m.s. and effective width to 6%."""
    g = torch.Generator().manual_seed(0)
    n = 6000
    cond = torch.zeros(2 * n, 2)
    cond[:n, 0], cond[n:, 1] = 1.0, 1.0
    tail = torch.rand(n, generator=g) < 0.1
    a = torch.where(
        tail,
        0.205 + 0.006 * torch.randn(n, generator=g),
        0.22 + 0.002 * torch.randn(n, generator=g),
    )
    r = torch.cat([a, 0.20 + 0.004 * torch.randn(n, generator=g)])
    torch.manual_seed(1)
    m = EnergyRatioModel(2)
    m.set_reference(r)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for step in range(1500):
        if step == 1000:
            opt.param_groups[0]["lr"] = 1e-3
        idx = torch.randint(0, 2 * n, (256,), generator=g)
        opt.zero_grad()
        m.nll(r[idx], cond[idx]).backward()
        opt.step()
    z, z_pick = torch.randn(40_000, generator=g), torch.randn(40_000, generator=g)

    def sigma_eff(v: np.ndarray) -> float:
        x = np.sort(v)
        k = int(np.ceil(0.683 * len(x)))
        return float(0.5 * (x[k - 1 :] - x[: len(x) - k + 1]).min())

    with torch.no_grad():
        for row, data in enumerate((r[:n], r[n:])):
            c = torch.zeros(len(z), 2)
            c[:, row] = 1.0
            s = m.sample(z, z_pick, c).double().numpy()
            d = data.double().numpy()
            assert abs(s.mean() - d.mean()) < 0.1 * sigma_eff(d)
            assert s.std() == pytest.approx(d.std(), rel=0.06)
            assert sigma_eff(s) == pytest.approx(sigma_eff(d), rel=0.06)


def test_reference_rejects_bad_values() -> None:
    m = EnergyRatioModel(2)
    with pytest.raises(ValueError, match="E_tot/E_inc"):
        m.set_reference(torch.tensor([0.2, float("nan")]))
    with pytest.raises(ValueError, match="E_tot/E_inc"):
        m.set_reference(torch.tensor([0.2]))
    with pytest.raises(ValueError, match="n_components"):
        EnergyRatioModel(2, n_components=0)
