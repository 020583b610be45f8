"""Metrics against exact values on constructed inputs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from caloforge.evaluation.metrics import (
    SmallSampleWarning,
    fpd,
    fpd_floor,
    frechet_distance,
    histogram_separation,
    kpd,
    normal_scores_of,
    separation_floor,
    separation_power,
    shared_bins,
    stratified_resample,
    wasserstein,
)


def test_separation_identical_histograms_is_zero() -> None:
    h = np.array([3.0, 5.0, 0.0, 2.0])
    assert histogram_separation(h, 2 * h) == 0.0


def test_separation_disjoint_histograms_is_one() -> None:
    assert histogram_separation([1, 4, 0, 0], [0, 0, 7, 2]) == pytest.approx(1.0)


def test_separation_known_value() -> None:
    # p = (1/2, 1/2), q = (1, 0): 1/2 * [(1/2)^2 / (3/2) + (1/2)^2 / (1/2)] = 1/3
    assert histogram_separation([1, 1], [1, 0]) == pytest.approx(1.0 / 3.0)


def test_separation_rejects_different_binning() -> None:
    with pytest.raises(ValueError, match="different binning"):
        histogram_separation([1, 2], [1, 2, 3])


def test_separation_power_of_samples_same_and_disjoint() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=2000)
    value, err = separation_power(a, a.copy(), seed=3)
    assert value == 0.0
    # the bootstrap replicas are two independent samples of one distribution: S ~ chi2(B - 1)
    # scaled to the mean separation_floor, so its spread is floor x sqrt(2 / (B - 1))
    floor = separation_floor(40, a.size, a.size)
    assert err == pytest.approx(floor * np.sqrt(2 / 39), rel=0.5)
    value, _ = separation_power(a, a + 100.0, bins=np.linspace(-5, 105, 111))
    assert value == pytest.approx(1.0)


def test_separation_power_folds_overflow() -> None:
    # a candidate entirely beyond the last edge still lands in the last bin
    value, _ = separation_power(np.zeros(10), np.full(10, 50.0), bins=np.array([-1.0, 0.5, 1.0]))
    assert value == pytest.approx(1.0)


def test_separation_power_is_seeded() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=500), rng.normal(0.3, size=500)
    assert separation_power(a, b, seed=7) == separation_power(a, b, seed=7)


def test_separation_floor_matches_independent_samples() -> None:
    rng = np.random.default_rng(4)
    edges = np.linspace(-3, 3, 21)
    vals = [separation_power(rng.normal(size=4000), rng.normal(size=4000), bins=edges, n_bootstrap=0)[0]
            for _ in range(40)]  # fmt: skip
    assert np.mean(vals) == pytest.approx(separation_floor(20, 4000, 4000), rel=0.25)


def test_shared_bins_integer_observable_gets_unit_bins() -> None:
    edges = shared_bins(np.array([0, 1, 2, 5]), np.array([3, 4]), n_bins=40)
    np.testing.assert_array_equal(edges, np.arange(-0.5, 6.0))


def test_wasserstein_of_shifted_deltas() -> None:
    value, err = wasserstein(np.full(100, 2.0), np.full(50, 5.5))
    assert value == pytest.approx(3.5)
    assert err == pytest.approx(0.0)


def test_wasserstein_of_shifted_samples_is_the_shift() -> None:
    a = np.random.default_rng(5).normal(size=1000)
    value, _ = wasserstein(a, a + 0.25)
    assert value == pytest.approx(0.25)


def test_frechet_distance_closed_form() -> None:
    eye = np.eye(2)
    assert frechet_distance(np.zeros(2), eye, np.ones(2), eye) == pytest.approx(2.0)
    # 1-d: (mu1-mu2)^2 + (s1 - s2)^2
    assert frechet_distance(np.zeros(1), 4 * eye[:1, :1], np.ones(1), eye[:1, :1]) == (
        pytest.approx(2.0)
    )


def test_fpd_two_unit_gaussians_one_unit_apart() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(20_000, 2))
    y = rng.normal(size=(20_000, 2)) + 1.0
    value, err = fpd(x, y, min_samples=4_000, max_samples=20_000, n_batches=8, n_points=5)
    assert err < 0.05
    assert abs(value - 2.0) < 3 * err + 0.01


def test_fpd_warns_on_small_samples() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(500, 2)), rng.normal(size=(500, 2))
    with pytest.warns(SmallSampleWarning, match="FPD"):
        value, _ = fpd(x, y, n_batches=4, n_points=4)
    assert abs(value) < 0.1


def test_kpd_identical_distributions_is_zero() -> None:
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(4000, 3)), rng.normal(size=(4000, 3))
    value, err = kpd(x, y, batch_size=2000, n_batches=8)
    assert abs(value) < max(3 * err, 1e-3)
    shifted, shifted_err = kpd(x, y + 1.0, batch_size=2000, n_batches=8)
    assert shifted > 10 * shifted_err > 0


def test_kpd_warns_on_small_samples() -> None:
    x = np.random.default_rng(9).normal(size=(100, 2))
    with pytest.warns(SmallSampleWarning, match="KPD"):
        kpd(x, x, n_batches=2)


@pytest.mark.parametrize("metric", [separation_power, wasserstein])
def test_one_dimensional_metrics_reject_nan(metric: Callable) -> None:
    with pytest.raises(ValueError, match="NaN"):
        metric(np.array([1.0, np.nan]), np.array([1.0, 2.0]))


# ---- FPD: finite-sample bias removed, floor of one distribution ---------------------------------
def _raw_frechet(x: np.ndarray, y: np.ndarray) -> float:
    return frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))


def test_fpd_1d_gaussians_one_unit_apart_is_exactly_one() -> None:
    rng = np.random.default_rng(21)
    x, y = rng.normal(size=(20_000, 1)), rng.normal(1.0, 1.0, size=(20_000, 1))
    value, err = fpd(x, y, min_samples=5_000, max_samples=20_000, n_batches=8, n_points=5)
    assert err < 0.05
    assert abs(value - 1.0) < 3 * err


@pytest.mark.slow  # FPD of 30-d samples, 10 batches at 5 sizes, twice
def test_fpd_removes_the_finite_sample_bias() -> None:
    """Two samples of d unit Gaussians: the raw Fréchet distance is d (d + 5) / (2 M) (0.131
    for d = 30, M = 4000), the extrapolated FPD is 0."""
    d, m = 30, 4_000
    rng = np.random.default_rng(22)
    x, y = rng.normal(size=(m, d)), rng.normal(size=(m, d))
    raw = _raw_frechet(x, y)
    assert raw == pytest.approx(d * (d + 5) / (2 * m), rel=0.15)
    value, err = fpd(x, y, min_samples=1_000, max_samples=4_000, n_batches=10, n_points=5)
    assert abs(value) < 3 * err
    assert abs(value) < raw / 5
    shifted, shifted_err = fpd(x, y + 0.1, min_samples=1_000, max_samples=4_000, n_batches=10)
    assert shifted == pytest.approx(d * 0.01, abs=3 * shifted_err)  # |mu1 - mu2|^2 = 0.3


@pytest.mark.slow  # FPD floor over 4 splits of 6000 x 24
def test_fpd_floor_of_one_distribution_and_two_independent_samples() -> None:
    d, m = 24, 6_000
    rng = np.random.default_rng(23)
    x, y = rng.standard_t(6, size=(m, d)), rng.standard_t(6, size=(m, d))  # heavy tails
    options = {"min_samples": 750, "max_samples": 3_000, "n_batches": 6, "n_points": 4}
    floor, spread = fpd_floor(x, n_splits=4, **options)
    assert spread > 0
    assert abs(floor) < 3 * spread
    with pytest.warns(SmallSampleWarning):
        value, err = fpd(x, y, min_samples=1_500, max_samples=10_000, n_batches=6, n_points=4)
    assert abs(value - floor) < 3 * max(spread, err)
    assert _raw_frechet(x, y) > 5 * max(spread, err)  # what the floor was before (0.089)


def test_fpd_error_covers_the_spread_over_independent_samples() -> None:
    rng = np.random.default_rng(24)
    values, errors = [], []
    for _ in range(12):
        x, y = rng.normal(size=(2_000, 10)), rng.normal(size=(2_000, 10))
        v, e = fpd(x, y, min_samples=500, max_samples=2_000, n_batches=6, n_points=4)
        values.append(v)
        errors.append(e)
    assert abs(np.mean(values)) < 3 * np.std(values, ddof=1) / np.sqrt(len(values))
    assert np.std(values, ddof=1) < np.mean(errors)


def test_kpd_batches_hold_no_repeated_shower() -> None:
    """Drawn with replacement, repeated showers add k(x, x) terms: here 0.079 +- 0.018 (4.5
    sigma from 0) where batches without repeats give 0.036 +- 0.024."""
    rng = np.random.default_rng(25)
    x, y = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    value, err = kpd(x, y, batch_size=400, n_batches=30)
    assert abs(value) < 3 * err + 1e-4
    assert err > 0  # the batches differ even when each holds every shower: half-size batches


def test_normal_scores_are_invariant_under_monotone_transforms() -> None:
    rng = np.random.default_rng(26)
    x, y = rng.lognormal(size=(3_000, 3)), rng.lognormal(0.2, 1.0, size=(3_000, 3))
    opts = {"min_samples": 1_000, "max_samples": 3_000, "n_batches": 4, "n_points": 3}
    plain = fpd(x, y, normal_scores=True, **opts)
    logged = fpd(np.log(x), np.log(y), normal_scores=True, **opts)
    assert logged == pytest.approx(plain, rel=1e-9)
    scores = normal_scores_of(x, x)
    assert np.allclose(scores.mean(axis=0), 0.0, atol=1e-9)
    assert np.allclose(scores.std(axis=0), 1.0, atol=0.01)
    # log(lognormal) is N(0.2, 1) vs N(0, 1): the scores are the Gaussian values, FPD = 3 * 0.04
    assert plain[0] == pytest.approx(3 * 0.2**2, abs=3 * plain[1] + 0.01)


def test_normal_scores_tame_heavy_tails() -> None:
    rng = np.random.default_rng(27)
    x, y = rng.standard_t(3, size=(4_000, 10)), rng.standard_t(3, size=(4_000, 10))
    opts = {"min_samples": 1_000, "max_samples": 4_000, "n_batches": 6, "n_points": 4}
    _, raw_err = fpd(x, y, **opts)
    value, err = fpd(x, y, normal_scores=True, **opts)
    assert abs(value) < 3 * err
    assert err < raw_err / 3


# ---- stratified bootstrap of W1 ------------------------------------------------------------------
def test_stratified_resample_keeps_every_stratum_count() -> None:
    labels = np.array([2, 0, 2, 1, 0, 2])
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = stratified_resample(labels, labels.size, rng)
        np.testing.assert_array_equal(np.sort(labels[idx]), np.sort(labels))
    with pytest.raises(ValueError, match="3 labels for 6 values"):
        stratified_resample(labels[:3], 6, rng)


def test_wasserstein_error_within_energy_points_is_exact_for_constant_strata() -> None:
    # E_tot constant at each of two incident energies, the candidate 100 MeV higher: W1 is 100
    # and no replica that keeps the mixture can change it; resampling the mixture can
    e = np.repeat([1e3, 1e5], 50)
    strata = (np.repeat([0, 1], 50), np.repeat([0, 1], 50))
    assert wasserstein(e, e + 100.0, strata=strata) == (pytest.approx(100.0), 0.0)
    assert wasserstein(e, e + 100.0)[1] > 1000.0


def test_stratified_wasserstein_error_is_the_spread_over_repeated_samples() -> None:
    # three energy points of 200 showers each, E_tot/E_inc ~ N(1, 0.05), candidate 2% high:
    # the error must be the spread of W1 over independent pairs with this fixed mixture
    e = np.repeat([1e3, 1e4, 1e5], 200)
    labels = np.repeat([0, 1, 2], 200)
    values, stratified, pooled = [], [], []
    for k in range(60):
        rng = np.random.default_rng(k)
        a = e * (1 + 0.05 * rng.normal(size=e.size))
        b = 1.02 * e * (1 + 0.05 * rng.normal(size=e.size))
        v, err = wasserstein(a, b, n_bootstrap=20, seed=k, strata=(labels, labels))
        values.append(v)
        stratified.append(err)
        pooled.append(wasserstein(a, b, n_bootstrap=20, seed=k)[1])
    spread = float(np.std(values, ddof=1))
    assert 0.7 < np.mean(stratified) / spread < 1.4
    assert np.mean(pooled) / spread > 4.0  # the mixed-energy bootstrap: several times too large


def test_report_w1_of_e_tot_is_stratified_by_incident_energy() -> None:
    from caloforge.evaluation.comparison import _observable_metrics
    from caloforge.evaluation.observables import compute_observables
    from caloforge.geometry import get_geometry
    from caloforge.showerset import ShowerSet

    geo = get_geometry("ild-ecal")
    e = np.repeat([1e3, 1e5], 20)

    def one_cell(extra: float) -> ShowerSet:
        cells = np.zeros((e.size, geo.n_cells), dtype=np.float32)
        cells[:, 0] = e + extra
        return ShowerSet(e, cells, geo)

    ref, cand = compute_observables(one_cell(0.0)), compute_observables(one_cell(100.0))
    rows_r, rows_c = ref.rows(), cand.rows()
    out = _observable_metrics(ref, cand, rows_r, rows_c, n_bins=10, n_bootstrap=10, seed=0)
    assert out["e_tot"]["wasserstein"] == pytest.approx(100.0)
    assert out["e_tot"]["wasserstein_err"] == 0.0
