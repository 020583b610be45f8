"""The per-cell spline of a fast ``flow`` student (``caloforge.models.cell_spline``) against its
definition: the coupling spline with equal noise-side bins, invertibility and the Jacobian,
monotonicity, the energy interpolation, and the quantile initialisation on constructed
two-mode data."""

from __future__ import annotations

import math

import pytest
import torch

from caloforge.models.cell_spline import MIN_BIN, CellSpline, CellSplineFlow
from caloforge.models.spline import rq_spline

DIM, GROUPS, BINS, BOUND = 5, 3, 6, 3.0


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _spline(nodes: int = 1) -> CellSpline:
    torch.manual_seed(0)
    cs = CellSpline(DIM, GROUPS, bins=BINS, bound=BOUND, energy_nodes=nodes).double()
    with torch.no_grad():
        cs.raw_heights.normal_(0, 1.5)
        cs.raw_derivatives.normal_(0, 1.5)
    return cs


def _conditions(n: int, seed: int = 1) -> torch.Tensor:
    """Column 0 the encoded energy in [-1, 1], then the group one-hot, then two other columns."""
    g = torch.Generator().manual_seed(seed)
    group = torch.randint(0, GROUPS, (n,), generator=g)
    energy = torch.rand(n, 1, generator=g, dtype=torch.float64) * 2 - 1
    one_hot = torch.nn.functional.one_hot(group, GROUPS).double()
    return torch.cat([energy, one_hot, torch.randn(n, 2, generator=g, dtype=torch.float64)], 1)


def test_sampling_is_the_coupling_spline_with_equal_input_bins() -> None:
    """The table gather is the definition: for every row, ``inverse`` is :func:`rq_spline` with
    zero raw widths (equal bins on the noise side; its smallest bin) and that row's group's heights and
    derivatives; ``forward`` is its inverse, with the negated log-derivative."""
    cs = _spline()
    c = _conditions(3000)
    u = torch.randn(3000, DIM, dtype=torch.float64) * 2.5  # some outside the interval
    group = c[:, 1 : 1 + GROUPS].argmax(dim=1)
    params = torch.cat(
        [
            torch.zeros(3000, DIM, BINS, dtype=torch.float64),
            cs.raw_heights[0, group],
            cs.raw_derivatives[0, group],
        ],
        dim=-1,
    ).detach()
    expected, logdet = rq_spline(u, params, BOUND, min_bin=MIN_BIN)
    with torch.no_grad():
        x = cs.inverse(u, c)
        back, logdet_back = cs(x, c)
    torch.testing.assert_close(x, expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(back, u, atol=1e-9, rtol=0)
    torch.testing.assert_close(logdet_back, -logdet.sum(dim=1), atol=1e-8, rtol=0)


def test_forward_log_determinant_is_the_autograd_one_and_the_map_is_monotone() -> None:
    cs = _spline(nodes=2)
    c = _conditions(40)
    x = (torch.randn(40, DIM, dtype=torch.float64) * 2.5).requires_grad_()
    u, logdet = cs(x, c)
    # element-wise: the Jacobian is diagonal
    grads = torch.stack(
        [torch.autograd.grad(u[:, j].sum(), x, retain_graph=True)[0][:, j] for j in range(DIM)], 1
    )
    torch.testing.assert_close(logdet, grads.log().sum(dim=1), atol=1e-10, rtol=0)
    torch.testing.assert_close(cs.inverse(u.detach(), c), x.detach(), atol=1e-9, rtol=0)
    grid = torch.linspace(-4, 4, 801, dtype=torch.float64)[:, None].expand(-1, DIM)
    with torch.no_grad():
        xs = cs.inverse(grid, c[:1].expand(801, -1))
    assert bool((xs.diff(dim=0) > 0).all())
    outside = grid.abs() > BOUND
    assert torch.equal(xs[outside], grid[outside])


def test_energy_nodes_interpolate_the_knots_linearly() -> None:
    """At the ends of the energy range a row uses its node's table alone; in between, a noise
    value on a grid knot lands on the weighted mean of the two nodes' data-side knots."""
    cs = _spline(nodes=2)
    c = _conditions(6)
    yk, _ = cs.knots()
    knot = 2  # noise-side knot -BOUND + 2 width
    u = torch.full((6, DIM), -BOUND + knot * 2 * BOUND / BINS, dtype=torch.float64)
    group = c[:, 1 : 1 + GROUPS].argmax(dim=1)
    for e, high in ((-1.0, 0.0), (1.0, 1.0), (0.5, 0.75)):
        c[:, 0] = e
        with torch.no_grad():
            x = cs.inverse(u, c)
        expected = (1 - high) * yk[0, group, :, knot] + high * yk[1, group, :, knot]
        torch.testing.assert_close(x, expected.detach(), atol=1e-12, rtol=0)


def test_zero_parameters_are_the_identity() -> None:
    cs = CellSpline(DIM, GROUPS, bins=BINS, bound=BOUND).double()
    c = _conditions(100)
    x = torch.randn(100, DIM, dtype=torch.float64) * 3
    u, logdet = cs(x, c)
    torch.testing.assert_close(u, x, atol=1e-12, rtol=0)
    torch.testing.assert_close(logdet, torch.zeros(100, dtype=torch.float64), atol=1e-12, rtol=0)


def test_fit_reproduces_each_groups_two_mode_marginals() -> None:
    """Constructed data: every cell is a two-mode mixture (a narrow 'empty' mode at -2.5, a
    'hit' mode at +1) whose weight of the empty mode depends on the group and the cell (0.2 to
    0.8). After the quantile fit, standard-normal noise through ``inverse`` (no other layer)
    gives every group's empty fraction (below -1) to within 0.04 (at most the gap's share) and leaves the gap between the modes
    (-2 to 0) almost empty (< 5%, where a Gaussian of the data's mean and width puts 25-45%;
    the gap's share is about one bin's probability: 11% with 16 bins, 3.5% with 64)."""
    n_per, bins = 10000, 64
    cs = CellSpline(DIM, GROUPS, bins=bins, bound=5.0).double()
    g = torch.Generator().manual_seed(3)
    empty_share = 0.2 + 0.6 * torch.rand(GROUPS, DIM, generator=g, dtype=torch.float64)
    rows, conds = [], []
    for k in range(GROUPS):
        empty = torch.rand(n_per, DIM, generator=g, dtype=torch.float64) < empty_share[k]
        low = -2.5 + 0.1 * torch.randn(n_per, DIM, generator=g, dtype=torch.float64)
        high = 1.0 + 0.5 * torch.randn(n_per, DIM, generator=g, dtype=torch.float64)
        rows.append(torch.where(empty, low, high))
        one_hot = torch.zeros(n_per, GROUPS, dtype=torch.float64)
        one_hot[:, k] = 1
        conds.append(torch.cat([torch.zeros(n_per, 1, dtype=torch.float64), one_hot], 1))
    x, c = torch.cat(rows), torch.cat(conds)
    assert not cs.is_fitted
    cs.fit(x, c)
    assert cs.is_fitted
    with torch.no_grad():
        sample = cs.inverse(torch.randn(len(x), DIM, generator=g, dtype=torch.float64), c)
    for k in range(GROUPS):
        part = sample[c[:, 1 + k] > 0]
        torch.testing.assert_close(
            (part < -1.0).double().mean(dim=0), empty_share[k], atol=0.04, rtol=0
        )
    gap = ((sample > -2.0) & (sample < 0.0)).double().mean()
    assert float(gap) < 0.05, float(gap)


def test_cell_spline_flow_inverts_and_its_density_is_the_jacobians() -> None:
    torch.manual_seed(0)
    flow = CellSplineFlow(
        DIM,
        GROUPS + 3,
        n_groups=GROUPS,
        energy_nodes=2,
        cell_bins=BINS,
        cell_bound=BOUND,
        layers=2,
        hidden=8,
        depth=1,
        bins=4,
        bound=3.0,
        seed=0,
        init_scale=1.0,
        transform="affine",
    ).double()
    with torch.no_grad():
        flow.cell.raw_heights.normal_(0, 1.0)
    c = _conditions(6)
    x = torch.randn(6, DIM, dtype=torch.float64)
    z, logdet = flow(x, c)
    torch.testing.assert_close(flow.inverse(z, c), x, atol=1e-9, rtol=0)
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(
            lambda v, i=i: flow(v[None], c[i : i + 1])[0][0], x[i]
        )
        torch.testing.assert_close(logdet[i], torch.linalg.slogdet(jac)[1], atol=1e-9, rtol=0)
    expected = -0.5 * (z**2).sum(1) - 0.5 * DIM * math.log(2 * math.pi) + logdet
    torch.testing.assert_close(flow.log_prob(x, c), expected)


def test_covariate_shift_fixes_a_mode_that_moves_with_the_conditions() -> None:
    """Constructed data: one group, two cells in two 'layers'; each cell's narrow mode sits at
    ``1 - 0.5 l`` where ``l`` is its layer's covariate (condition columns 1 and 2), the other
    mode at ``-2``. Fitted with the true scale 0.5 the spline sees a fixed mode, so sampling
    at any ``l`` puts the narrow mode where it belongs (median within 0.05), which the spline
    without the shift cannot (its mode is smeared over the range of ``l``). The shift is a
    translation: the round trip holds and the log-determinant is the spline's."""
    g = torch.Generator().manual_seed(4)
    n = 20000
    cov = torch.randn(n, 2, generator=g, dtype=torch.float64)
    c = torch.cat([torch.zeros(n, 1, dtype=torch.float64), cov], dim=1)
    narrow = torch.rand(n, 2, generator=g, dtype=torch.float64) < 0.5
    x = torch.where(
        narrow,
        1.0 - 0.5 * cov + 0.05 * torch.randn(n, 2, generator=g, dtype=torch.float64),
        -2.0 + 0.3 * torch.randn(n, 2, generator=g, dtype=torch.float64),
    )
    layers = torch.eye(2, dtype=torch.float64)
    shifted = CellSpline(2, 1, bins=64, bound=5.0, covariates=layers, covariate_start=1).double()
    shifted.fit(x, c, torch.full((1, 2), 0.5, dtype=torch.float64))
    plain = CellSpline(2, 1, bins=64, bound=5.0).double()
    plain.fit(x, c)
    test_c = c[:4000].clone()
    test_c[:, 1:] = 1.5  # a covariate in the tail: the narrow mode at 0.25
    u = torch.randn(4000, 2, generator=g, dtype=torch.float64)
    with torch.no_grad():
        good, bad = shifted.inverse(u, test_c), plain.inverse(u, test_c)
    near, smeared = good[good > -0.5].median(), bad[bad > -0.5].median()
    assert abs(float(near) - 0.25) < 0.05, float(near)
    assert abs(float(smeared) - 0.25) > 0.3, float(smeared)
    same = CellSpline(2, 1, bins=64, bound=5.0).double()
    same.load_state_dict(shifted.state_dict(), strict=False)
    with torch.no_grad():
        back, logdet = shifted(good, test_c)
        _, unshifted_logdet = same(good + 0.5 * test_c[:, 1:], test_c)
    torch.testing.assert_close(back, u, atol=1e-9, rtol=0)
    torch.testing.assert_close(logdet, unshifted_logdet, atol=1e-12, rtol=0)
