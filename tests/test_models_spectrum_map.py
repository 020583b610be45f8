"""The fitted monotone spectrum map (the BIB-AE's last post-processing stage): exact quantile
mapping on constructed samples, empty cells, interpolation in energy (its place in the BIB-AE:
tests/test_models_getting_high.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from caloforge.models.spectrum_map import SpectrumMap

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _map(
    n_cells: int = 40, n_layers: int = 4, energy_groups: int = 1, depth: int = 2
) -> SpectrumMap:
    layers = np.repeat(np.arange(n_layers), n_cells // n_layers)
    return SpectrumMap(layers, n_layers, energy_groups, depth, knots=96)


def _sample(n: int, n_cells: int, seed: int, empty: float) -> torch.Tensor:
    """(n, n_cells) exponential values with a fraction ``empty`` of exact zeros."""
    g = torch.Generator().manual_seed(seed)
    u = -torch.log(torch.rand(n, n_cells, generator=g))
    return torch.where(torch.rand(n, n_cells, generator=g) < empty, torch.zeros_like(u), u)


def test_is_the_identity_until_fitted_and_keeps_empty_cells_empty() -> None:
    m = _map()
    u = _sample(3, 40, 0, 0.5)
    assert torch.equal(m(u, torch.zeros(3)), u)
    gen = _sample(2000, 40, 1, 0.5)
    m.fit(gen, 2.0 * gen, torch.zeros(2000))
    out = m(u, torch.zeros(3))
    assert torch.equal(out == 0, u == 0)


def test_ranked_empty_cells_become_the_faintest_hits_when_hits_are_missing() -> None:
    """A generator with too few hits (30% of its cells non-empty against the data's 50%) whose
    empty cells carry a negative rank score: the map fills the data's hit fraction from the
    empty cells nearest to firing (the highest scores), which become the faintest hits, and
    maps the rest onto the data's spectrum; with too many hits (70%) the faintest are emptied.
    Unranked empty cells (exact zeros) stay empty."""
    g = torch.Generator().manual_seed(7)
    n, cells = 4000, 40
    real = _sample(n, cells, 8, 0.5)
    for hits in (0.3, 0.7):
        m = _map()
        rank = torch.rand(n, cells, generator=g)
        value = -torch.log(torch.rand(n, cells, generator=g))
        # cells with rank above 1 - hits fire with an exponential value, the others score
        # -(1 - hits - rank) <= 0: the closer the rank to the threshold, the nearer to firing
        score = torch.where(rank > 1 - hits, value, rank - (1 - hits))
        m.fit(score, real, torch.zeros(n))
        fresh_rank = torch.rand(n, cells, generator=g)
        fresh = torch.where(
            fresh_rank > 1 - hits,
            -torch.log(torch.rand(n, cells, generator=g)),
            fresh_rank - (1 - hits),
        )
        out = m(fresh, torch.zeros(n))
        frac = float((out > 0).float().mean())
        assert frac == pytest.approx(0.5, abs=0.01)
        made = (out > 0) & (fresh <= 0)
        if hits < 0.5:
            # the new hits are the empty cells of rank in the top 0.2 below the threshold,
            # and they are fainter than the hits that were there
            assert float(fresh_rank[made].min()) > 1 - hits - 0.2 - 0.01
            assert float(out[made].median()) < float(out[fresh > 0].median())
        else:
            assert not bool(made.any())
            emptied = (out == 0) & (fresh > 0)
            assert float(fresh[emptied].max()) <= float(fresh[(out > 0)].median())
    # without a rank (every empty cell at 0) nothing is created
    m = _map()
    gen = _sample(n, cells, 9, 0.7)
    m.fit(gen, real, torch.zeros(n))
    u = _sample(500, cells, 10, 0.7)
    assert torch.equal(m(u, torch.zeros(500)) > 0, u > 0)


def test_recovers_a_known_monotone_map_and_the_target_spectrum() -> None:
    """Real cells are sqrt(generated) in the first depth group and 3 x generated in the second
    (independent draws, equal empty fractions): the fitted map applied to fresh generated cells
    is those functions to within the knots' interpolation and the samples' quantile noise, over
    the bulk of the cells (0.2 < u < 3)."""
    m = _map()
    gen_fit = _sample(4000, 40, 1, 0.7)
    real = _sample(4000, 40, 2, 0.7)
    real[:, :20] = torch.sqrt(real[:, :20])
    real[:, 20:] = 3.0 * real[:, 20:]
    m.fit(gen_fit, real, torch.zeros(4000))
    u = _sample(500, 40, 3, 0.7)
    out = m(u, torch.zeros(500))
    bulk = (u > 0.2) & (u < 3.0)
    want = torch.cat([torch.sqrt(u[:, :20]), 3.0 * u[:, 20:]], dim=1)
    rel = ((out - want).abs() / want.clamp_min(1e-6))[bulk]
    # measured 0.009 and 0.033 (the quantiles of two independent samples of 24 000 cells)
    assert float(rel.median()) < 0.02
    assert float(rel.quantile(0.99)) < 0.06


def test_creates_a_peak_from_a_smooth_spectrum() -> None:
    """A smooth falling spectrum mapped onto a peaked one (a MIP-like peak at 0.9, narrower than
    the Landau peak of a real cell spectrum): the mapped cells' histogram matches the target's
    bin by bin within 15% + 4% of the peak height (with 64 knots, a third of them even in p
    and none towards the faint end, the lowest 3% of the cells, one knot interval, were spread
    linearly over 0.5-0.7: 349 cells in 0.65-0.70 against 972)."""
    m = _map(n_cells=20, n_layers=1, depth=1)
    g = torch.Generator().manual_seed(4)
    gen = -torch.log(torch.rand(3000, 20, generator=g))
    peak = (0.9 + 0.1 * torch.randn(3000, 20, generator=g)).abs()
    m.fit(gen, peak, torch.zeros(3000))
    fresh = -torch.log(torch.rand(3000, 20, generator=g))
    out = m(fresh, torch.zeros(3000)).flatten().numpy()
    target = (0.9 + 0.1 * torch.randn(3000 * 20, generator=g)).abs().numpy()
    edges = np.linspace(0.5, 1.3, 17)
    h_out, _ = np.histogram(out, edges)
    h_t, _ = np.histogram(target, edges)
    assert np.argmax(h_out) == np.argmax(h_t)
    np.testing.assert_allclose(h_out, h_t, rtol=0.15, atol=0.04 * h_t.max())
    # the unmapped spectrum is nowhere near it
    h_in, _ = np.histogram(fresh.flatten().numpy(), edges)
    assert np.abs(h_in - h_t).max() > 0.5 * h_t.max()


def test_interpolates_the_maps_of_two_energy_groups_in_ln_e() -> None:
    """Real = generated x 1 in the low-energy group (encoded -1) and x 2 in the high one (+1):
    a shower at 0 gets x 1.5, showers beyond the group centres the nearest group's map."""
    m = _map(energy_groups=2, depth=1)
    gen = _sample(4000, 40, 5, 0.3)
    energy = torch.cat([torch.full((2000,), -1.0), torch.full((2000,), 1.0)])
    real = gen * torch.where(energy > 0, 2.0, 1.0)[:, None]
    m.fit(gen, real, energy)
    torch.testing.assert_close(m.centres, torch.tensor([-1.0, 1.0]))
    u = torch.full((4, 40), 1.3)
    out = m(u, torch.tensor([-2.0, -1.0, 0.0, 2.0]))
    torch.testing.assert_close(out[:, 0], torch.tensor([1.3, 1.3, 1.95, 2.6]), rtol=0.02, atol=0)


def test_fit_checks_its_inputs() -> None:
    m = _map(energy_groups=3)
    with pytest.raises(ValueError, match="equal"):
        m.fit(torch.zeros(5, 40), torch.zeros(5, 39), torch.zeros(5))
    with pytest.raises(ValueError, match="at least 3 showers"):
        m.fit(torch.zeros(2, 40), torch.zeros(2, 40), torch.zeros(2))
