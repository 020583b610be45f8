"""Classifier AUC on constructed inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from caloforge.evaluation.classifier import ClassifierConfig, classifier_auc, hanley_mcneil_error
from caloforge.evaluation.metrics import SmallSampleWarning

FAST = ClassifierConfig(hidden=(32, 32), max_epochs=8, patience=2, batch_size=128)


def test_perfectly_separable_samples_give_auc_one() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(2400, 4))
    cand = rng.normal(size=(2400, 4))
    cand[:, 0] += 10.0
    auc, err = classifier_auc(ref, cand, seed=1, config=FAST)
    assert auc == pytest.approx(1.0, abs=1e-3)
    # the Hanley-McNeil error of the test split (25% of 2 x 2400): 0 at AUC 1
    assert err == pytest.approx(hanley_mcneil_error(auc, 600, 600), abs=1e-4)


def test_identical_distributions_give_auc_one_half() -> None:
    rng = np.random.default_rng(1)
    ref, cand = rng.normal(size=(2400, 4)), rng.normal(size=(2400, 4))
    auc, err = classifier_auc(ref, cand, seed=1, config=FAST)
    assert abs(auc - 0.5) < max(3 * err, 0.03)


@pytest.mark.filterwarnings("ignore::caloforge.evaluation.metrics.SmallSampleWarning")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rare_features_do_not_decide_the_held_out_scores(seed: int) -> None:
    """Outer cells: the reference has rare MIP-sized deposits there, the candidate frequent
    tiny ones. A feature whose training values are all tiny has a tiny width; standardised
    with it, a held-out deposit of 1e-3 sat ~1e5 standard deviations out and set the score
    (AUC 0.34, 0.45, 0.59 for these seeds, and 0.07 for a 3D GAN against its cascade
    reference). Clipped to the training range, the real difference is found."""
    rng = np.random.default_rng(seed)
    ref = (rng.random((400, 500)) < 0.004) * 1e-3
    cand = (rng.random((400, 500)) < 0.02) * 1e-7
    auc, _ = classifier_auc(
        ref, cand, seed=seed, config=ClassifierConfig(hidden=(32,), max_epochs=5)
    )
    assert auc > 0.85


@pytest.mark.filterwarnings("ignore::caloforge.evaluation.metrics.SmallSampleWarning")
def test_classifier_is_seeded_and_leaves_global_rng_alone() -> None:
    rng = np.random.default_rng(2)
    ref, cand = rng.normal(size=(1000, 3)), rng.normal(0.3, size=(1000, 3))
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    first = classifier_auc(ref, cand, seed=5, config=FAST)
    assert torch.equal(before, torch.random.get_rng_state())
    assert classifier_auc(ref, cand, seed=5, config=FAST) == first


def test_small_test_split_warns() -> None:
    x = np.random.default_rng(3).normal(size=(100, 2))
    with pytest.warns(SmallSampleWarning, match="test showers per class"):
        classifier_auc(x, x + 1.0, config=FAST)


def test_hanley_mcneil_error_known_value() -> None:
    # A = 0.5, n1 = n2 = 100: Q1 = 1/3, Q2 = 1/3 -> var = (0.25 + 2 * 99 * (1/3 - 1/4)) / 1e4
    expected = np.sqrt((0.25 + 198 * (1 / 3 - 0.25)) / 1e4)
    assert hanley_mcneil_error(0.5, 100, 100) == pytest.approx(expected)


def test_classifier_rejects_mismatched_features() -> None:
    with pytest.raises(ValueError, match="same d"):
        classifier_auc(np.zeros((50, 3)), np.zeros((50, 4)))


def test_bad_split_is_rejected() -> None:
    with pytest.raises(ValueError, match="split"):
        ClassifierConfig(split=(0.5, 0.5, 0.5))
