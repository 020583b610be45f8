"""Regression tests for the training fixes of the GAN families (issue 5).

- critics standardise their inputs on real data and the gradient penalty acts in that space
  (in raw space the narrow E_tot/E_inc left the critic almost no signal about the resolution);
- the softmax head's energy scale is damped and starts at the data's mean E_tot/E_inc;
- the MMD can condition on the incident energy (a batch mixing energies otherwise only matches
  the mixture).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from caloforge.geometry import get_geometry
from caloforge.models import FAMILIES, ConditionEncoding, Preprocessing
from caloforge.models.base import Batch
from caloforge.models.critic import Critic, gradient_penalty
from caloforge.models.dense import CellHead
from caloforge.models.gan_ecritic import mmd
from caloforge.models.hparams import from_mapping
from synthetic import synthetic_showers

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_critic_standardises_on_fitted_data() -> None:
    g = torch.Generator().manual_seed(0)
    x = 0.2 + 1e-3 * torch.randn(500, 3, generator=g)
    critic = Critic(3, 2, [8])
    assert not critic.is_fitted
    critic.fit(x)
    assert critic.is_fitted
    z = critic.standardise(x)
    assert torch.allclose(z.mean(0), torch.zeros(3), atol=1e-4)
    assert torch.allclose(z.std(0), torch.ones(3), atol=1e-3)
    # the state (and hence checkpoints) carries the standardisation
    assert {"shift", "scale", "fitted"} <= set(critic.state_dict())


def test_gradient_penalty_is_blind_to_the_raw_scale() -> None:
    """Same data at two raw scales (1 and 1e-3): once fitted, the critic and the penalty agree.
    Before the fix the penalty was taken in raw space, so a narrow feature forced a flat critic."""
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(64, 4, generator=g), 0.5 + torch.randn(64, 4, generator=g)
    cond, eps = torch.zeros(64, 1), torch.rand(64, 1, generator=g)
    values, scores = [], []
    for scale in (1.0, 1e-3):
        torch.manual_seed(0)
        critic = Critic(4, 1, [16])
        critic.fit(real * scale)
        z_real, z_fake = critic.standardise(real * scale), critic.standardise(fake * scale)
        values.append(gradient_penalty(critic, z_real, z_fake, cond, eps))
        scores.append(critic(z_real, cond))
    assert torch.allclose(values[0], values[1], rtol=1e-4)
    assert torch.allclose(scores[0], scores[1], rtol=1e-4, atol=1e-6)


def test_gradient_penalty_of_a_linear_critic() -> None:
    """A linear critic z.w has gradient w everywhere: the penalty is (|w| - 1)^2."""
    g = torch.Generator().manual_seed(2)
    real, fake = torch.randn(32, 4, generator=g), torch.randn(32, 4, generator=g)
    cond, eps = torch.zeros(32, 1), torch.rand(32, 1, generator=g)
    for w, expected in (([3.0, 4.0, 0.0, 0.0], 16.0), ([0.6, 0.0, 0.8, 0.0], 0.0)):
        weight = torch.tensor(w)[:, None]

        def critic(z: torch.Tensor, c: torch.Tensor, weight: torch.Tensor = weight) -> torch.Tensor:
            return z @ weight

        value = gradient_penalty(critic, real, fake, cond, eps)
        assert float(value) == pytest.approx(expected, abs=1e-5)


def test_log_and_shape_features() -> None:
    critic = Critic(2, 1, [4], log_alpha=0.1, shape_only=True)
    x = torch.tensor([[0.1, 0.3]])
    assert torch.allclose(critic.features(x), torch.log1p(torch.tensor([[0.25, 0.75]]) / 0.1))
    assert torch.allclose(critic.features(3 * x), critic.features(x))  # blind to the total
    with pytest.raises(ValueError, match="log_alpha"):
        Critic(2, 1, [4], log_alpha=-1.0)


def test_softmax_head_mean_scale() -> None:
    head = CellHead(8, 5, "softmax")
    torch.nn.init.zeros_(head.scale.weight)
    head.set_mean_scale(0.2)
    out = head(torch.randn(10, 8))
    assert torch.allclose(out.sum(1), torch.full((10,), 0.2), rtol=1e-5)
    with pytest.raises(ValueError, match="> 0"):
        head.set_mean_scale(0.0)


@pytest.mark.parametrize("name", ["wgan-gp", "gan-ecritic"])
def test_first_step_fits_critics_and_energy_scale(name: str) -> None:
    cls = FAMILIES[name]
    hp = {"noise_dim": 8, "generator_hidden": [32, 32], "critic_hidden": [32], "n_critic": 1}
    hp |= {"fit_batches": 4} | ({"energy_critic_hidden": [16]} if name == "gan-ecritic" else {})
    torch.manual_seed(0)
    fam = cls(
        get_geometry("atlas-em-barrel"),
        ConditionEncoding(2e4, 5e4, 8),
        Preprocessing(),
        from_mapping(cls.Config, hp, "test"),
    )
    s = synthetic_showers(200, 0)
    e = torch.as_tensor(s.incident_energy)[:, None]
    x = fam.preprocessing.forward(torch.as_tensor(s.cells, dtype=torch.float64), e).float()
    cond = fam.generator.encode_conditions(s.incident_energy, s.config)
    batches = iter([Batch(x[i : i + 32], cond[i : i + 32]) for i in range(0, 192, 32)])
    opts = fam.make_optimisers(1e-4, (0.5, 0.9))
    fam.train_step(lambda: next(batches), opts, torch.Generator().manual_seed(0))
    assert fam.critics_fitted()
    real_ratio = float(x[:128].sum(1).mean())
    noise = fam.generator.make_noise(100, torch.Generator().manual_seed(3))
    with torch.no_grad():
        fake_ratio = fam.generator.transformed(noise, cond[:100]).sum(1)
    assert abs(float(fake_ratio.mean()) / real_ratio - 1) < 0.1
    # the damped scale path: the initial spread stays far below 10%
    assert float(fake_ratio.std() / fake_ratio.mean()) < 0.05


def test_conditional_mmd_sees_what_the_marginal_misses() -> None:
    """Two samples with the same mixture of E_tot/E_inc but swapped between the energies."""
    rng = np.random.default_rng(0)
    n = 200
    cond = torch.as_tensor(np.repeat([-1.0, 1.0], n // 2), dtype=torch.float32)
    a = torch.as_tensor(np.concatenate([rng.normal(0, 1, n // 2), rng.normal(5, 1, n // 2)]))
    b = torch.as_tensor(np.concatenate([rng.normal(5, 1, n // 2), rng.normal(0, 1, n // 2)]))
    bw = (0.5, 1.0, 2.0)
    marginal = float(mmd(a, b, bw))
    conditional = float(mmd(a, b, bw, cond, cond, 0.1))
    same = float(mmd(a, a, bw, cond, cond, 0.1))
    assert same == pytest.approx(0.0, abs=1e-9)
    assert conditional > 10 * marginal


@pytest.mark.parametrize("d", [3, 26])
def test_paired_conditional_mmd_penalises_too_narrow_candidates(d: int) -> None:
    """Batches of 16 at six energies (a gun), the candidate made at the real batch's energies,
    its features with the right conditional means and 0.7 x (or 1.3 x) the width. Over 300
    batches, the conditional MMD of the candidate minus that of an independent real sample:
    the biased estimator (i = j pairs included) scores the narrow candidate *lower* (the cross
    pairs (x_i, y_i) share their energy and weigh fully; a narrower x_i lies nearer y_i), the
    paired unbiased one higher, and both score the wide one higher. Means beyond 3 standard
    errors (measured: biased -0.012 / -0.014 at d = 3 / 26, paired +0.015 / +0.014)."""
    g = torch.Generator().manual_seed(0)
    energies = torch.tensor([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])
    bands = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)

    def draw(e: torch.Tensor, width: float) -> torch.Tensor:
        return 3 * e[:, None] + (1.5 + e)[:, None] * width * torch.randn(16, d, generator=g)

    diffs: dict[tuple[bool, float], list[float]] = {}
    for _ in range(300):
        e = energies[torch.randint(6, (16,), generator=g)]
        real, other = draw(e, 1.0), draw(e, 1.0)
        for width in (0.7, 1.3):
            cand = draw(e, width)
            for paired in (False, True):
                a = mmd(cand, real, bands, e, e, 0.1, paired=paired)
                b = mmd(other, real, bands, e, e, 0.1, paired=paired)
                diffs.setdefault((paired, width), []).append(float(a - b))
    t = {k: (float(np.mean(v)), float(np.std(v) / np.sqrt(len(v)))) for k, v in diffs.items()}
    print(t)
    mean, err = t[(False, 0.7)]
    assert mean < -3 * err
    for key in ((True, 0.7), (True, 1.3), (False, 1.3)):
        mean, err = t[key]
        assert mean > 3 * err, key
    with pytest.raises(ValueError, match="equal size"):
        mmd(torch.zeros(3), torch.zeros(4), bands, paired=True)


def test_zero_suppression_threshold_matches_the_empty_cell_fraction() -> None:
    """A softmax head never outputs exact zeros; the calibrated thresholds give the data's
    fraction of empty cells (the low-level classifier separated the samples on that alone)."""
    cls = FAMILIES["wgan-gp"]
    hp = {"noise_dim": 8, "generator_hidden": [32], "critic_hidden": [16]}
    hp |= {"threshold_momentum": 1.0}
    torch.manual_seed(0)
    fam = cls(
        get_geometry("atlas-em-barrel"),
        ConditionEncoding(2e4, 5e4, 8),
        Preprocessing(),
        from_mapping(cls.Config, hp, "test"),
    )
    gen = fam.generator
    cond = gen.encode_conditions(np.full(400, 3e4), np.arange(400) % 8)
    noise = gen.make_noise(400, torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(gen.transformed(noise, cond), gen.unthresholded(noise, cond))
        assert (gen.transformed(noise, cond) > 0).all()
    x = torch.rand(400, 266)
    x[:, ::2] = torch.where(torch.rand(400, 133) < 0.3, 0.0, x[:, ::2])  # 30% empty, even cells
    fam.fit_critics(x)
    fam.calibrate_threshold(Batch(x, cond), torch.Generator().manual_seed(2))
    with torch.no_grad():
        empty = gen.transformed(gen.make_noise(400, torch.Generator().manual_seed(3)), cond) == 0
    empty_fraction = empty.float().mean(0)
    assert float(empty_fraction[1::2].max()) == 0.0  # never-empty cells untouched
    assert abs(float(empty_fraction[::2].mean()) - 0.3) < 0.05
    assert {"cell_threshold"} <= set(gen.state_dict())  # saved with the artifact
