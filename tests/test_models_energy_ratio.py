"""The likelihood model of E_tot/E_inc behind the ``softmax-likelihood`` head: an exact density,
samples that follow it, and a maximum-likelihood fit that recovers known means and widths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from caloforge.models.dense import EnergyRatioModel


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _skewed_model(seed: int) -> tuple[EnergyRatioModel, torch.Tensor]:
    torch.manual_seed(seed)
    m = EnergyRatioModel(3, hidden=(8,))
    with torch.no_grad():
        m.net[-1].weight.normal_(0, 1.0)
        m.net[-1].bias.copy_(torch.tensor([0.3, -0.5, 0.8, -0.6]))
    m.set_reference(torch.tensor([0.20, 0.22, 0.21, 0.19], dtype=torch.float64))
    cond = torch.randn(1, 3).expand(4001, 3)
    return m, cond


@pytest.mark.parametrize("seed", [0, 1])
def test_density_integrates_to_one(seed: int) -> None:
    m, cond = _skewed_model(seed)
    with torch.no_grad():
        mu, log_sigma, eps, log_delta = (p[0] for p in m.params(cond[:1]))
    assert abs(float(eps)) > 0.1  # really skewed
    assert abs(float(log_delta)) > 0.01  # really tailed
    with torch.no_grad():
        centre = m.ref_mean + m.ref_std * mu
        half = 60 * m.ref_std * log_sigma.exp()
        r = torch.linspace(float(centre - half), float(centre + half), 4001)
        p = m.log_prob(r, cond).exp() / m.ref_std  # density in r
    integral = float(torch.trapezoid(p, r))
    assert integral == pytest.approx(1.0, abs=2e-3)


def test_samples_follow_the_density() -> None:
    """KS test of samples drawn through ``sample`` against the CDF integrated from ``log_prob``."""
    m, cond = _skewed_model(0)
    z = torch.randn(20_000, generator=torch.Generator().manual_seed(5))
    c = cond[:1].expand(len(z), 3)
    with torch.no_grad():
        x = m.sample(z, c).double().numpy()
        r = torch.linspace(float(x.min()) - 1e-3, float(x.max()) + 1e-3, 20_001)
        pdf = (m.log_prob(r, cond[:1].expand(len(r), 3)).exp() / m.ref_std).double().numpy()
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(r.numpy()))])
    cdf /= cdf[-1]
    ks = stats.kstest(x, lambda v: np.interp(v, r.numpy(), cdf))
    assert ks.pvalue > 0.01


def test_gaussian_limit_is_exact() -> None:
    """eps = 0 and delta = 1: log_prob is the normal log density of u = (r - mean) / std."""
    m = EnergyRatioModel(2, hidden=(4,))
    with torch.no_grad():
        m.net[-1].weight.zero_()
        m.net[-1].bias.copy_(torch.tensor([0.5, np.log(2.0), 0.0, 0.0]))
    m.set_reference(torch.tensor([1.0, 3.0], dtype=torch.float64))  # mean 2, std sqrt(2)
    r = torch.tensor([0.0, 2.0, 5.0])
    cond = torch.zeros(3, 2)
    u = (r.double() - 2.0) / np.sqrt(2.0)
    expected = stats.norm(0.5, 2.0).logpdf(u.numpy())
    got = m.log_prob(r, cond).detach().double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # and sampling is mean + std * (mu + sigma z)
    z = torch.tensor([-0.5, 0.0, 2.0])
    with torch.no_grad():
        s = m.sample(z, cond).double().numpy()
    np.testing.assert_allclose(s, 2.0 + np.sqrt(2.0) * (0.5 + 2.0 * z.numpy()), rtol=1e-5)


def test_maximum_likelihood_recovers_mean_and_width_per_condition() -> None:
    """Two conditions with E_tot/E_inc ~ N(0.20, 0.004) and N(0.22, 0.002): the fit recovers
    both means to 0.1 sigma and both widths to 5%."""
    g = torch.Generator().manual_seed(0)
    n = 4000
    cond = torch.zeros(2 * n, 2)
    cond[:n, 0], cond[n:, 1] = 1.0, 1.0
    r = torch.cat(
        [0.20 + 0.004 * torch.randn(n, generator=g), 0.22 + 0.002 * torch.randn(n, generator=g)]
    )
    torch.manual_seed(1)
    m = EnergyRatioModel(2)
    m.set_reference(r)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for step in range(1000):
        if step == 700:
            opt.param_groups[0]["lr"] = 1e-3
        idx = torch.randint(0, 2 * n, (256,), generator=g)
        opt.zero_grad()
        m.nll(r[idx], cond[idx]).backward()
        opt.step()
    z = torch.randn(20_000, generator=g)
    with torch.no_grad():
        for row, (mean, std) in enumerate([(0.20, 0.004), (0.22, 0.002)]):
            c = torch.zeros(len(z), 2)
            c[:, row] = 1.0
            s = m.sample(z, c).double()
            assert abs(float(s.mean()) - mean) < 0.1 * std
            assert float(s.std()) == pytest.approx(std, rel=0.05)


def test_reference_rejects_bad_values() -> None:
    m = EnergyRatioModel(2)
    with pytest.raises(ValueError, match="E_tot/E_inc"):
        m.set_reference(torch.tensor([0.2, float("nan")]))
    with pytest.raises(ValueError, match="E_tot/E_inc"):
        m.set_reference(torch.tensor([0.2]))
