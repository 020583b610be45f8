"""The bounded cell head of the grid GANs (:mod:`caloforge.models.bounded`) on constructed
inputs: the share of a pattern, the ratio head's start at the data, and the bound on a whole
generator's total for weights and noise far outside anything training produces."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from caloforge.geometry import get_geometry
from caloforge.models import ConditionEncoding, Preprocessing
from caloforge.models.base import Batch
from caloforge.models.bounded import MAX_RATIO, RatioHead, share
from caloforge.models.grid_gan import GridGAN
from caloforge.models.registry import get_family

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GRID_GANS = ["gan-mbd", "wgan-lo"]


def test_share_normalises_the_pattern_to_the_clipped_ratio() -> None:
    w = torch.tensor([[0.0, 1.0, 3.0], [2.0, 2.0, 0.0], [0.0, 0.0, 0.0], [1e-38, 0.0, 3e-38]])
    r = torch.tensor([0.5, 7.0, 0.3, 0.2])
    out = share(w, r)
    assert MAX_RATIO == 2.0  # 7 is clipped to 2
    expected = torch.tensor(
        [[0.0, 0.125, 0.375], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1e-38 / 1e-30 * 0.2, 0, 0]]
    )
    expected[3, 2] = 3e-38 / 1e-30 * 0.2  # a pattern below the floor: a smaller total, not more
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=0)
    assert float(out[1].sum()) == MAX_RATIO
    assert int((out == 0).sum()) == 6  # exact zeros stay zero
    assert float(share(w[:1], torch.tensor([-1.0])).abs().sum()) == 0.0


def test_ratio_head_starts_at_the_data_mean_and_stays_below_the_bound() -> None:
    torch.manual_seed(0)
    head = RatioHead(3, (8,))
    assert not head.is_fitted
    head.fit(torch.tensor([0.01, 0.03], dtype=torch.float64))
    assert head.is_fitted
    assert float(head.offset) == pytest.approx(math.log(0.02 / (MAX_RATIO - 0.02)), rel=1e-6)
    last = head.net[-1]
    assert isinstance(last, torch.nn.Linear)
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        assert torch.allclose(head(torch.randn(4, 3)), torch.full((4,), 0.02))
        last.bias.fill_(1e6)  # a runaway network: the ratio saturates at the bound
        assert torch.equal(head(torch.randn(4, 3)), torch.full((4,), MAX_RATIO))
    for bad in (0.0, 2.0, 3.5):
        with pytest.raises(ValueError, match=r"mean E_tot/E_inc must be in \(0, 2.0\)"):
            head.fit(torch.tensor([bad, bad]))


def _grid_gan(name: str, preprocessing: Preprocessing) -> GridGAN:
    cls = get_family(name)
    torch.manual_seed(0)
    hp = dataclasses.replace(cls.Config(), noise_dim=8, generator_hidden=(16,), critic_hidden=(8,))
    fam = cls(get_geometry("atlas-em-barrel"), ConditionEncoding(1e4, 1e5), preprocessing, hp)
    assert isinstance(fam, GridGAN)
    return fam


@pytest.mark.parametrize("name", GRID_GANS)
def test_grid_gan_showers_never_hold_more_than_the_incident_energy(name: str) -> None:
    """Generator weights x 30 and noise x 100: the decoder's map read as the old head did
    (network-space cells straight from the ReLU, ``log`` preprocessing) puts far more than
    E_inc into a shower; through the bounded head the total is at most E_inc."""
    fam = _grid_gan(name, Preprocessing("log", 1e-6))
    gen = fam.generator
    with torch.no_grad():
        for p in gen.parameters():
            p.mul_(30.0)
    e = np.geomspace(1e4, 1e5, 16)
    noise = 100 * gen.make_noise(16, torch.Generator().manual_seed(0))
    cond = gen.encode_conditions(e)
    energy = torch.as_tensor(e)[:, None]
    with torch.no_grad():
        unbounded = fam.preprocessing.inverse(
            gen.decoder(torch.cat([noise, cond], 1)).double(), energy
        )
    assert float((unbounded.sum(1) / energy[:, 0]).min()) > 10.0
    cells = gen.sample(e, noise=noise).double()
    assert bool(torch.isfinite(cells).all())
    assert bool((cells >= 0).all())
    assert float((cells.sum(1) / energy[:, 0]).max()) <= MAX_RATIO * (1 + 1e-4)
    assert float((cells == 0).float().mean()) > 0.1  # the ReLU pattern's exact zeros survive


@pytest.mark.parametrize("name", GRID_GANS)
def test_grid_gan_total_is_the_ratio_head_and_starts_at_the_data(name: str) -> None:
    """The network-space cells map back to fractions that add up to the ratio head's output,
    and the first training step fits the head's offset on the first batch's E_tot/E_inc."""
    fam = _grid_gan(name, Preprocessing("log", 1e-4))
    gen = fam.generator
    noise = gen.make_noise(5, torch.Generator().manual_seed(1))
    cond = gen.encode_conditions(np.full(5, 3e4))
    with torch.no_grad():
        f = fam.preprocessing.to_fraction(fam.trained_generator(noise, cond))
        ratio = gen.ratio(torch.cat([noise, cond], 1))
    torch.testing.assert_close(f.sum(1), ratio, rtol=1e-4, atol=0)
    rng = torch.Generator().manual_seed(2)
    fractions = torch.rand(8, gen.geometry.n_cells, generator=rng) * 1e-4  # E_tot/E_inc ~ 0.013
    batch = Batch(
        fam.preprocessing.from_fraction(fractions), gen.encode_conditions(np.full(8, 3e4))
    )
    fam.train_step(lambda: batch, fam.make_optimisers(1e-4, (0.5, 0.9)), rng)
    mean = float(fractions.double().sum(1).mean())
    assert gen.ratio.is_fitted
    assert float(gen.ratio.offset) == pytest.approx(math.log(mean / (MAX_RATIO - mean)), rel=1e-4)
