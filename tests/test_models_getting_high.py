"""The pieces of the "Getting High" families (gan-mbd, wgan-lo, bib-ae) on constructed inputs:
the cell grid, the patch maps, minibatch discrimination, the latent KDE, LOGAN's latent step and
the BIB-AE's post-processor switch and losses. (The registry-wide contract, export parity and
resume tests cover the families as a whole.)"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from caloforge.geometry import get_geometry
from caloforge.models import ConditionEncoding, Preprocessing
from caloforge.models.base import Batch
from caloforge.models.bib_ae import BIBAE, REFIT_SEED, BIBAEConfig
from caloforge.models.grid import CellGrid, GridDecoder, from_patches, to_patches
from caloforge.models.kde import LatentKDE, scott_bandwidth
from caloforge.models.minibatch import MinibatchDiscrimination
from caloforge.models.wgan_lo import WGANLO, WGANLOConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: a MIP's loss in 0.5 mm of silicon (ild-ecal's active slab): PDG dE/dx_min 1.664 MeV cm2/g,
#: 2.329 g/cm3
SI_MIP_MEV = 0.1 * 1.664 * 2.329 * 0.5


def test_cell_grid_places_each_layer_top_left_and_round_trips() -> None:
    g = get_geometry("atlas-em-barrel")  # layers 7x3, 56x3, 7x7, 4x7
    grid = CellGrid(g)
    assert (grid.n_layers, grid.height, grid.width) == (4, 56, 7)
    cells = torch.arange(1, g.n_cells + 1, dtype=torch.float32)[None]
    img = grid.to_grid(cells)
    assert img.shape == (1, 4, 56, 7)
    assert float(img.sum()) == float(cells.sum())  # every cell once, padding zero
    # layer 2 (7 x 7): its first row is cells 21 + 168 + (0..6), i.e. values 190..196
    first = g.layer_slice(2).start
    assert img[0, 2, 0].tolist() == [float(first + 1 + j) for j in range(7)]
    assert float(img[0, 2, 7:].abs().sum()) == 0.0  # below the 7 x 7 image: padding
    assert float(img[0, 0, :, 3:].abs().sum()) == 0.0  # right of layer 0's 3 columns
    assert torch.equal(grid.from_grid(img), cells)
    # ild-ecal: the grid is the detector, the map the identity reshape
    ild = CellGrid(get_geometry("ild-ecal"))
    x = torch.rand(2, 27000)
    assert torch.equal(ild.to_grid(x), x.reshape(2, 30, 30, 30))


def test_patches_are_non_overlapping_blocks() -> None:
    img = torch.arange(36.0).reshape(1, 6, 6, 1)
    p = to_patches(img, 3)
    assert p.shape == (1, 2, 2, 9)
    assert p[0, 0, 1].tolist() == [3.0, 4.0, 5.0, 9.0, 10.0, 11.0, 15.0, 16.0, 17.0]
    assert torch.equal(from_patches(p, 3), img)


def test_decoder_output_is_non_negative_with_exact_zeros() -> None:
    torch.manual_seed(0)
    dec = GridDecoder(5, CellGrid(get_geometry("atlas-em-barrel")), (16,), (2, 4))
    with torch.no_grad():
        out = dec(torch.randn(8, 5))
    assert out.shape == (8, 266)
    assert float(out.min()) == 0.0
    assert 0.2 < float((out == 0).float().mean()) < 0.8


def test_minibatch_discrimination_counts_close_neighbours() -> None:
    mbd = MinibatchDiscrimination(2, 1, 1)
    with torch.no_grad():
        mbd.tensor.copy_(torch.tensor([[1.0], [0.0]]))  # M = the first feature
    f = torch.tensor([[0.0, 5.0], [0.0, -3.0], [2.0, 0.0]])
    out = mbd(f)
    # o(i) = sum_{j != i} exp(-|f_i0 - f_j0|)
    e2 = math.exp(-2.0)
    expected = torch.tensor([[1.0 + e2], [1.0 + e2], [2 * e2]])
    assert torch.equal(out[:, :2], f)
    assert torch.allclose(out[:, 2:], expected, atol=1e-6)
    # identical samples: each sees B - 1 twins (mode collapse is visible to the critic)
    same = mbd(torch.ones(4, 2))[:, 2]
    assert torch.allclose(same, torch.full((4,), 3.0))


def test_kde_is_the_prior_until_filled_then_picks_centres() -> None:
    kde = LatentKDE(4, 2)
    eps = torch.randn(6, 2)
    assert torch.equal(kde.sample(torch.zeros(6), eps), eps)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    kde.update(centres[:3])
    assert not kde.is_filled
    kde.update(centres[3:])
    assert kde.is_filled
    assert torch.equal(kde.bank, centres)
    h = scott_bandwidth(centres)
    std = centres.std(dim=0)
    assert torch.allclose(h, std * 4.0 ** (-1 / 6))
    # Phi(z) in [k/4, (k+1)/4) picks centre k: z at the quartile midpoints
    z = torch.tensor([-1.1503, -0.3186, 0.3186, 1.1503])  # Phi = 0.125, 0.375, 0.625, 0.875
    out = kde.sample(z, torch.zeros(4, 2))
    assert torch.equal(out, centres)
    out = kde.sample(z, torch.ones(4, 2))
    assert torch.allclose(out, centres + h)
    # the ring: one more row replaces the oldest
    kde.update(torch.tensor([[7.0, 7.0]]))
    assert kde.bank[0].tolist() == [7.0, 7.0]
    assert int(kde.position) == 1


def _ild_family(cls: type, hp: object) -> object:
    torch.manual_seed(0)
    return cls(get_geometry("ild-ecal"), ConditionEncoding(1e4, 1e5, 1), Preprocessing("log"), hp)


def test_latent_optimisation_is_the_natural_gradient_step() -> None:
    fam = _ild_family(WGANLO, WGANLOConfig(noise_dim=4, generator_hidden=(8,), critic_hidden=(8,)))
    assert isinstance(fam, WGANLO)
    noise = torch.randn(3, 4)
    cond = torch.zeros(3, 1)
    z = noise.clone().requires_grad_(True)
    score = fam.critic(fam.trained_generator(z, cond), cond).sum()
    (g,) = torch.autograd.grad(score, z)
    expected = noise + 0.9 * g / (5.0 + (g * g).sum(dim=1, keepdim=True))
    assert torch.allclose(fam.optimised_noise(noise, cond), expected, atol=1e-6)
    # the step goes up the critic's score
    moved = fam.optimised_noise(noise, cond)
    with torch.no_grad():
        before = fam.critic(fam.trained_generator(noise, cond), cond).sum()
        after = fam.critic(fam.trained_generator(moved, cond), cond).sum()
    assert float(after) > float(before)


def _tiny_bibae(**weights: float) -> BIBAE:
    hp = BIBAEConfig(
        latent_dim=3,
        encoder_hidden=(8,),
        decoder_hidden=(8,),
        critic_hidden=(8,),
        latent_critic_hidden=(8,),
        kde_kernels=4,
    )
    hp = dataclasses.replace(hp, **weights)
    fam = _ild_family(BIBAE, hp)
    assert isinstance(fam, BIBAE)
    return fam


def test_bibae_post_processor_switch_and_noise_layout() -> None:
    fam = _tiny_bibae()
    gen = fam.generator
    assert gen.noise_dim == 1 + 3
    noise = gen.make_noise(5, torch.Generator().manual_seed(0))
    cond = gen.encode_conditions(np.full(5, 3e4), 0)
    with torch.no_grad():
        raw = gen.decode(gen.latent(noise), cond)
        with_pp = gen.transformed(noise, cond)
        gen.post_process = False
        without = gen.transformed(noise, cond)
    assert torch.equal(without, raw)
    assert torch.equal(with_pp, gen.post_processor(raw, cond))
    # untrained KDE: the latent is the Gaussian part of the noise
    assert torch.equal(gen.latent(noise), noise[:, 1:])


def test_bibae_post_loss_compares_sorted_cell_spectra() -> None:
    """The post-processor's spectrum terms compare sorted cell values: a shower with its cells
    permuted has the same spectrum (term 0) but a large squared error; with the post-processor
    made the identity, the loss is exactly the weighted sum of the sorted gaps (network space
    and MIP units), the plain gap and the energy-sum log ratio of the reconstruction."""
    x = torch.zeros(2, 27000)
    x[:, :100] = torch.linspace(0.1, 5.0, 100)
    perm = x[:, torch.randperm(27000, generator=torch.Generator().manual_seed(1))]
    assert float(((perm.sort(1).values - x.sort(1).values) ** 2).sum()) == 0.0
    assert float(((perm - x) ** 2).sum()) > 0
    fam = _tiny_bibae(sort_weight=1.0, mip_sort_weight=2.0, post_mse_weight=0.1)
    pp = fam.generator.post_processor
    last = pp.net[-1]
    assert isinstance(last, torch.nn.Linear)
    with torch.no_grad():
        last.weight.zero_()  # delta = 0: relu(x + 0) = x for the non-negative decoder output
    batch = Batch(x, torch.zeros(2, 1))
    with torch.no_grad():
        terms = fam.post_loss(batch, torch.Generator().manual_seed(0))
        x_hat = fam.reconstruct(batch, torch.Generator().manual_seed(0))[0]
    spectrum = ((x_hat.sort(1).values - x.sort(1).values) ** 2).sum(1).mean()
    # MIP units by hand: condition 0 is the log-centre of 1e4..1e5 MeV; alpha 1e-4 (default)
    e_mev = math.sqrt(1e4 * 1e5)
    mip = float(SI_MIP_MEV)

    def in_mip(v: torch.Tensor) -> torch.Tensor:
        return torch.log1p(1e-4 * torch.expm1(v) * e_mev / mip).sort(1).values

    mip_spectrum = ((in_mip(x_hat) - in_mip(x)) ** 2).sum(1).mean()
    mse = ((x_hat - x) ** 2).sum(1).mean()
    f_hat, f = 1e-4 * torch.expm1(x_hat), 1e-4 * torch.expm1(x)
    energy = (torch.log(f_hat.sum(1) / f.sum(1)) ** 2).mean()
    assert float(spectrum) > 0
    assert float(mip_spectrum) > 0
    assert float(energy) > 0
    assert torch.allclose(terms["spectrum"], spectrum)
    assert torch.allclose(terms["mip_spectrum"], mip_spectrum, rtol=1e-4)
    assert torch.allclose(terms["energy_sum"], energy, rtol=1e-4)
    expected = spectrum + 2.0 * mip_spectrum + 0.1 * mse + 100.0 * energy
    assert torch.allclose(terms["post"], expected, rtol=1e-4)


def test_bibae_post_processor_reads_cells_in_mip_units() -> None:
    """``mip_units``: log1p(cell / E_MIP), E_MIP = 0.5 mm Si x dE/dx_min (ild-ecal, every
    layer): a cell of exactly one MIP at 30 GeV reads log 2; zero and negative cells read 0."""
    fam = _tiny_bibae()
    pp = fam.generator.post_processor
    e = 3e4
    cond = fam.generator.encode_conditions(np.array([e]), None)
    mip = float(SI_MIP_MEV)
    cells = torch.tensor([[mip, 0.0, 10 * mip]], dtype=torch.float64)
    x = torch.zeros(1, 27000)
    x[0, [0, 1, 26999]] = fam.preprocessing.forward(cells, torch.tensor([[e]])).float()
    x[0, 2] = -1.0
    out = pp.mip_units(x, cond)[0]
    assert float(out[0]) == pytest.approx(math.log(2.0), rel=1e-4)
    assert float(out[26999]) == pytest.approx(math.log(11.0), rel=1e-4)
    assert float(out[1]) == 0.0
    assert float(out[2]) == 0.0


def test_bibae_post_processor_scores_rank_the_empty_cells() -> None:
    """``scores``: the cells are the post-processor's output; the score is the cell in MIP
    units where it fired and the (non-positive) pre-activation where it did not, so it is
    monotone in the pre-activation and continuous at 0."""
    fam = _tiny_bibae()
    pp = fam.generator.post_processor
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 27000, generator=g)
    cond = fam.generator.encode_conditions(np.array([2e4, 8e4]), None)
    with torch.no_grad():
        cells, score = pp.scores(x, cond)
        pre = pp.pre_activation(x, cond)
        torch.testing.assert_close(cells, pp(x, cond))
    fired = pre > 0
    assert 0 < float(fired.float().mean()) < 1
    torch.testing.assert_close(score[fired], pp.mip_units(cells, cond)[fired])
    torch.testing.assert_close(score[~fired], pre[~fired])
    order = torch.argsort(pre[0])
    assert bool((score[0][order].diff() >= 0).all())


def test_kde_refit_replaces_the_bank_with_one_encoders_latents() -> None:
    kde = LatentKDE(5, 2)
    kde.update(torch.full((5, 2), 9.0))  # a stale ring
    latents = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    kde.refit(latents)
    # 2 latents cycled through 5 kernels; bandwidth from the 2 distinct ones (Scott, n = 2)
    assert kde.bank.tolist() == [[0.0, 1.0], [2.0, 3.0], [0.0, 1.0], [2.0, 3.0], [0.0, 1.0]]
    std = math.sqrt(2.0)  # sample std of (0, 2) and of (1, 3)
    assert torch.allclose(kde.bandwidth, torch.full((2,), std * 2.0 ** (-1.0 / 6.0)))
    assert kde.is_filled
    assert int(kde.position) == 0
    with pytest.raises(ValueError, match=">= 2 latents"):
        kde.refit(latents[:1])


def test_bibae_refresh_fits_the_kde_on_the_current_encoder() -> None:
    fam = _tiny_bibae()
    x = torch.rand(6, 27000) * (torch.rand(6, 27000) < 0.02)
    cond = torch.linspace(-1, 1, 6)[:, None]
    fam.refresh(x, cond)
    with torch.no_grad():
        mu, log_var = fam.encode(Batch(x, cond))
    # kde_kernels = 4 < 6 showers: one draw from each of the first 4 showers' posteriors,
    # mean + sigma eps with eps from the fixed-seed generator
    gen = torch.Generator().manual_seed(REFIT_SEED)
    eps = torch.randn(mu.shape, generator=gen)
    expected = (mu + torch.exp(0.5 * log_var) * eps)[:4]
    assert torch.allclose(fam.generator.kde.bank, expected, atol=1e-6)
    assert not torch.allclose(fam.generator.kde.bank, mu[:4], atol=1e-3)
    assert fam.generator.kde.is_filled
    bank = fam.generator.kde.bank.clone()
    torch.manual_seed(123)  # the global random state does not enter
    fam.refresh(x, cond)
    assert torch.equal(fam.generator.kde.bank, bank)


def test_bibae_train_step_fills_the_kde_with_posterior_means() -> None:
    fam = _tiny_bibae()
    x = torch.rand(4, 27000) * (torch.rand(4, 27000) < 0.02)
    batch = Batch(x, torch.zeros(4, 1))
    opts = fam.make_optimisers(1e-4, (0.5, 0.9))
    fam.train_step(lambda: batch, opts, torch.Generator().manual_seed(0))
    assert fam.generator.kde.is_filled  # 4 kernels, one batch of 4
    with torch.no_grad():
        mu = fam.encode(batch)[0]
    assert torch.allclose(fam.generator.kde.bank, mu, atol=1e-6)


def test_wgan_lo_ratio_head_learns_from_the_data_not_the_critic() -> None:
    """``ratio_mmd`` (the grid GANs' default): the critic's gradient stops at the ratio head, which
    has its own objective, a conditional MMD of log E_tot/E_inc; the values are unchanged."""
    hp = WGANLOConfig(noise_dim=4, generator_hidden=(8,), critic_hidden=(8,))
    assert hp.ratio_mmd
    fam = _ild_family(WGANLO, hp)
    assert isinstance(fam, WGANLO)
    ratio = {id(p) for p in fam.generator.ratio.parameters()}
    objectives = fam.objectives()
    assert {id(p) for p in objectives["ratio"].parameters} == ratio
    assert not ratio & {id(p) for p in objectives["generator"].parameters}
    x = torch.rand(4, 27000) * (torch.rand(4, 27000) < 0.02)
    batch = Batch(x, torch.linspace(-1, 1, 4)[:, None])
    fam.generator.ratio.fit(fam.preprocessing.to_fraction(x).sum(dim=1))
    fam.generator_loss(batch, torch.Generator().manual_seed(0))["generator"].backward()
    assert all(p.grad is None for p in fam.generator.ratio.parameters())
    assert next(iter(fam.generator.decoder.parameters())).grad is not None
    m = fam.ratio_loss(batch, torch.Generator().manual_seed(0))["ratio"]
    m.backward()
    assert float(m.detach()) > 0
    assert all(p.grad is not None for p in fam.generator.ratio.parameters())
    # detaching changes no value: the same cells with the switch off
    noise, cond = torch.randn(3, 4), torch.zeros(3, 1)
    with torch.no_grad():
        detached = fam.generator.transformed(noise, cond)
        fam.generator.detach_ratio = False
        attached = fam.generator.transformed(noise, cond)
    assert torch.equal(detached, attached)


def test_bibae_refresh_fits_the_map_and_generation_applies_it() -> None:
    """After :meth:`BIBAE.refresh` the generator's cells are the post-processor network's output
    passed through the fitted map in MIP units; without ``post_process`` neither stage runs,
    and ``spectrum_map = False`` builds no map."""
    fam = _tiny_bibae(spectrum_energy_groups=2)
    gen = fam.generator
    assert gen.spectrum_map is not None
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 27000, generator=g) * (torch.rand(8, 27000, generator=g) < 0.02) * 3
    cond = torch.linspace(-1, 1, 8)[:, None]
    fam.refresh(x, cond)
    assert gen.spectrum_map.is_fitted
    noise = gen.make_noise(3, torch.Generator().manual_seed(1))
    c = cond[:3]
    with torch.no_grad():
        before = gen.post_network(noise, c)
        after = gen.transformed(noise, c)
        pp = gen.post_processor
        u = gen.spectrum_map(pp.mip_units(before, c), c[:, 0])
        gen.post_process = False
        raw = gen.transformed(noise, c)
    torch.testing.assert_close(pp.mip_units(after, c), u, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(after, before)
    assert torch.equal(raw, gen.decode(gen.latent(noise), c))
    assert _tiny_bibae(spectrum_map=False).generator.spectrum_map is None
