"""``flow``: the spline against its defining properties, the coupling flow's density against the
exact Jacobian, energy conservation, a short training that must beat the fitted untrained model,
and the distilled student (the registry-wide contract, export-parity and resume tests cover the
rest)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from caloforge.export import export_onnx
from caloforge.geometry import get_geometry
from caloforge.models import ConditionEncoding, Preprocessing, load_model
from caloforge.models.cell_spline import CellSplineFlow
from caloforge.models.flow import Flow, FlowConfig, FlowGenerator, draw_rows
from caloforge.models.flow_student import distillation_loss
from caloforge.models.shower_transform import GroupScaling, ShowerTransform
from caloforge.models.spline import SCALE_CLAMP, Coupling, CouplingFlow, affine, rq_spline
from caloforge.training import RunConfig, TrainConfig, train
from caloforge.training.data import BatchStream
from caloforge.training.validation import validation_metrics
from synthetic import atlas_showers

GEOMETRY = get_geometry("atlas-em-barrel")
SMALL = {"energy_layers": 2, "energy_hidden": 16, "shape_layers": 2, "shape_hidden": 32}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


# ---- the spline ----------------------------------------------------------------------------
def _spline_inputs(n: int = 2000, bins: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, generator=g, dtype=torch.float64) * 3
    params = torch.randn(n, 3 * bins - 1, generator=g, dtype=torch.float64) * 2
    return x, params


def test_spline_inverts_and_its_log_derivative_is_the_autograd_one() -> None:
    x, params = _spline_inputs()
    xr = x.clone().requires_grad_()
    y, logdet = rq_spline(xr, params, 4.0)
    (grad,) = torch.autograd.grad(y.sum(), xr)
    torch.testing.assert_close(logdet, grad.log(), atol=1e-10, rtol=0)
    back, logdet_inv = rq_spline(y.detach(), params, 4.0, inverse=True)
    torch.testing.assert_close(back, x, atol=1e-8, rtol=0)
    torch.testing.assert_close(logdet_inv, -logdet.detach(), atol=1e-8, rtol=0)
    # monotonic: sorting x sorts y for the same parameters
    same = params[:1].expand(len(x), -1)
    ys, _ = rq_spline(x.sort().values, same, 4.0)
    assert bool((ys.diff() >= 0).all())


def test_spline_is_the_identity_outside_its_interval_and_for_zero_parameters() -> None:
    x, params = _spline_inputs()
    y, logdet = rq_spline(x, params, 2.0)
    outside = x.abs() > 2.0
    assert int(outside.sum()) > 100
    assert torch.equal(y[outside], x[outside])
    assert torch.equal(logdet[outside], torch.zeros_like(logdet[outside]))
    # the interval's ends are fixed points
    ends = torch.tensor([-2.0, 2.0], dtype=torch.float64)
    y_ends, _ = rq_spline(ends, params[:2], 2.0)
    torch.testing.assert_close(y_ends, ends, atol=1e-12, rtol=0)
    # zero raw parameters: equal bins and unit derivatives, the identity map
    y0, ld0 = rq_spline(x, torch.zeros_like(params), 4.0)
    torch.testing.assert_close(y0, x, atol=1e-12, rtol=0)
    torch.testing.assert_close(ld0, torch.zeros_like(ld0), atol=1e-12, rtol=0)


@pytest.mark.parametrize("transform", ["spline", "affine"])
def test_coupling_flow_density_is_the_base_density_times_the_jacobian(transform: str) -> None:
    torch.manual_seed(0)
    flow = CouplingFlow(
        5,
        3,
        layers=3,
        hidden=16,
        depth=2,
        bins=6,
        bound=3.0,
        seed=0,
        init_scale=1.0,
        transform=transform,
    ).double()
    x = torch.randn(8, 5, dtype=torch.float64)
    c = torch.randn(8, 3, dtype=torch.float64)
    z, logdet = flow(x, c)
    torch.testing.assert_close(flow.inverse(z, c), x, atol=1e-8, rtol=0)
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(
            lambda v, i=i: flow(v[None], c[i : i + 1])[0][0], x[i]
        )
        torch.testing.assert_close(logdet[i], torch.linalg.slogdet(jac)[1], atol=1e-8, rtol=0)
    expected = -0.5 * (z**2).sum(1) - 2.5 * math.log(2 * math.pi) + logdet
    torch.testing.assert_close(flow.log_prob(x, c), expected)
    # a flow whose last layers start at zero is the identity: the standard-normal density
    ident = CouplingFlow(
        5,
        3,
        layers=2,
        hidden=8,
        depth=1,
        bins=4,
        bound=3.0,
        seed=0,
        init_scale=0.0,
        transform=transform,
    )
    xf = x.float()
    torch.testing.assert_close(
        ident.log_prob(xf, c.float()),
        -0.5 * (xf**2).sum(1) - 2.5 * math.log(2 * math.pi),
    )


def test_affine_coupling_passes_its_masked_half_and_scales_the_other() -> None:
    """The masked layout: the passed dimensions (``perm[:dim // 2]``) come out unchanged, the
    others as ``x exp(s) + t`` with the MLP's output; the soft clamp bounds the log scale."""
    torch.manual_seed(0)
    layer = Coupling(
        6, 2, hidden=8, depth=1, bins=4, bound=3.0, seed=3, init_scale=1.0, transform="affine"
    ).double()
    passed = layer.perm[:3]
    assert layer.mask.sum() == 3
    assert bool((layer.mask[passed] == 1).all())
    x, c = torch.randn(7, 6, dtype=torch.float64), torch.randn(7, 2, dtype=torch.float64)
    y, logdet = layer(x, c)
    torch.testing.assert_close(y[:, passed], x[:, passed], atol=0, rtol=0)
    out = layer.net(torch.cat([x * layer.mask, c], dim=1))
    free = layer.perm[3:]
    log_scale = SCALE_CLAMP * torch.tanh(out[:, free] / SCALE_CLAMP)
    torch.testing.assert_close(y[:, free], x[:, free] * log_scale.exp() + out[:, 6 + free])
    torch.testing.assert_close(logdet, log_scale.sum(dim=1))
    torch.testing.assert_close(layer.inverse(y, c), x)
    # the clamp: a huge raw scale stays below SCALE_CLAMP
    big, _ = affine(torch.ones(2), torch.tensor([1e6, -1e6]), torch.zeros(2))
    torch.testing.assert_close(big, torch.tensor([math.exp(SCALE_CLAMP), math.exp(-SCALE_CLAMP)]))
    with pytest.raises(ValueError, match="transform must be one of spline, affine"):
        Coupling(4, 1, hidden=4, depth=1, bins=4, bound=1.0, seed=0, init_scale=1.0, transform="x")


def test_group_scaling_standardises_each_dimension_per_group() -> None:
    """Constructed data: group 0 has means (1, -2) and widths (2, 0.5), group 1 means (5, 0)
    and widths (1, 3); a group with one row keeps the pooled statistics; a constant dimension
    keeps width 1."""
    g = torch.Generator().manual_seed(0)
    n = 20000
    z = torch.randn(2 * n, 2, generator=g, dtype=torch.float64)
    groups = torch.zeros(2 * n + 1, 3, dtype=torch.float64)
    groups[:n, 0], groups[n:-1, 1], groups[-1, 2] = 1, 1, 1
    y = torch.cat(
        [
            z[:n] * torch.tensor([2.0, 0.5]) + torch.tensor([1.0, -2.0]),
            z[n:] * torch.tensor([1.0, 3.0]) + torch.tensor([5.0, 0.0]),
            torch.tensor([[0.0, 0.0]]),
        ]
    )
    scaling = GroupScaling(3, 2).double()
    scaling.fit(y, groups)
    torch.testing.assert_close(
        scaling.mean[:2],
        torch.tensor([[1.0, -2.0], [5.0, 0.0]], dtype=torch.float64),
        atol=0.05,
        rtol=0,
    )
    torch.testing.assert_close(
        scaling.std[:2],
        torch.tensor([[2.0, 0.5], [1.0, 3.0]], dtype=torch.float64),
        atol=0.05,
        rtol=0,
    )
    torch.testing.assert_close(scaling.mean[2], y.mean(dim=0))
    torch.testing.assert_close(scaling.std[2], y.std(dim=0))
    out = scaling(y, groups)
    torch.testing.assert_close(out[:n].mean(dim=0), torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(scaling.inverse(out, groups), y)
    flat = GroupScaling(1, 2).double()
    flat.fit(
        torch.tensor([[1.0, 3.0], [2.0, 3.0], [3.0, 3.0]], dtype=torch.float64),
        groups[:3, :1] * 0 + 1,
    )
    torch.testing.assert_close(flat.std, torch.tensor([[1.0, 1.0]], dtype=torch.float64))


# ---- the family -----------------------------------------------------------------------------
def _family(**changes: object) -> Flow:
    torch.manual_seed(0)
    hp = FlowConfig(**{**SMALL, **changes})  # type: ignore[arg-type]
    return Flow(GEOMETRY, ConditionEncoding(1e4, 1e5, 8), Preprocessing(), hp)


def _stream(fam: Flow, n: int, seed: int) -> BatchStream:
    s = atlas_showers(n, seed)
    energy = torch.as_tensor(s.incident_energy, dtype=torch.float64)[:, None]
    x = fam.preprocessing.forward(torch.as_tensor(s.cells, dtype=torch.float64), energy)
    cond = fam.generator.encode_conditions(s.incident_energy, s.config)
    return BatchStream(x.float(), cond, 64, torch.Generator().manual_seed(0))


def test_generated_layers_add_up_to_the_energy_flow_output() -> None:
    fam = _family()
    fam.fit_preprocessing(_stream(fam, 600, 1), torch.Generator().manual_seed(1))
    gen = fam.generator
    noise = gen.make_noise(50, torch.Generator().manual_seed(2))
    cond = gen.encode_conditions(np.full(50, 5e4), np.arange(50) % 8)
    with torch.no_grad():
        cells = gen(noise, cond)
        e = gen.transform.energy_inverse(gen.energy_flow.inverse(noise[:, :4], cond))
        y_e = gen.energy_flow.inverse(noise[:, :4], cond)
        # the shape conditions of a sample are those of its layer energies
        torch.testing.assert_close(
            gen.sampled_shape_conditions(cond, y_e, e),
            gen.shape_conditions(cond, e),
            atol=1e-3,
            rtol=0,
        )
    layers = torch.as_tensor(GEOMETRY.layer_energies(cells.numpy().astype(np.float64)))
    target = (e * 5e4).double()
    kept_layer = layers > 0
    torch.testing.assert_close(layers[kept_layer], target[kept_layer], rtol=1e-4, atol=1e-2)
    # a layer whose cells all fall at or below the cut stays empty (at most cut x its cells)
    per_layer = torch.as_tensor(np.bincount(GEOMETRY.cell_layer), dtype=torch.float64)
    limit = (per_layer * fam.hparams.cut_mev).expand_as(target)
    assert bool((target[~kept_layer] <= limit[~kept_layer]).all())
    assert float(cells.min()) >= 0.0
    kept = cells[cells > 0]
    assert float(kept.min()) > fam.hparams.cut_mev


def test_flow_transform_logistic_is_the_shared_one() -> None:
    fam = _family()
    y = torch.linspace(-20, 20, 401, dtype=torch.float64)[:, None]
    shared = ShowerTransform(GEOMETRY, alpha=1e-6, noise_mev=0.05, cut_mev=0.5, u0_headroom=1.5)
    torch.testing.assert_close(
        fam.generator.transform.expit(y), shared.expit(y), atol=1e-15, rtol=0
    )


def test_training_batch_draws_follow_the_shard() -> None:
    full = draw_rows((0, 1), 4, 3, torch.Generator().manual_seed(9), "normal")
    part = draw_rows((1, 2), 2, 3, torch.Generator().manual_seed(9), "normal")
    torch.testing.assert_close(part, full[2:])


def _score(fam: Flow, val: object, seed: int) -> float:
    gen = fam.generator
    noise = gen.make_noise(len(val), torch.Generator().manual_seed(seed))  # type: ignore[arg-type]
    cells = gen.sample(val.incident_energy, val.config, noise=noise).numpy()  # type: ignore[attr-defined]
    return validation_metrics(val.cells, cells, val.incident_energy, GEOMETRY)["score"]  # type: ignore[attr-defined]


@pytest.mark.slow
def test_short_training_beats_the_fitted_untrained_model() -> None:
    """The untrained flow starts close to the identity, so with the fitted preprocessing it
    already draws the data's marginal means and widths of the energy variables; 150 steps of
    maximum likelihood must beat that score by a clear margin and lower both losses."""
    data = atlas_showers(1500, 3)
    val = data[900:]
    fam = _family(energy_layers=6, energy_hidden=64)
    stream = _stream(fam, 900, 3)
    rng = torch.Generator().manual_seed(1)
    optimisers = fam.make_optimisers(2e-3, (0.5, 0.9))
    fam.fit_preprocessing(stream, rng)
    before = _score(fam, val, 7)
    losses = [fam.train_step(stream, optimisers, rng) for _ in range(200)]
    after = _score(fam, val, 7)
    for stage in ("energy", "shape"):
        first = np.mean([step[stage] for step in losses[:10]])
        last = np.mean([step[stage] for step in losses[-10:]])
        assert last < first - 0.1, (stage, first, last)
    assert after < 0.7 * before, (before, after)


# ---- distillation ---------------------------------------------------------------------------
def test_distillation_loss_is_zero_against_itself_and_reaches_only_the_student() -> None:
    torch.manual_seed(0)
    kw = {"depth": 1, "bins": 4, "bound": 3.0, "seed": 0, "init_scale": 1.0}
    teacher = CouplingFlow(6, 2, layers=2, hidden=8, **kw)  # type: ignore[arg-type]
    student = CouplingFlow(6, 2, layers=1, hidden=8, **kw)  # type: ignore[arg-type]
    x, z, c = torch.randn(10, 6), torch.randn(10, 6), torch.randn(10, 2)
    same = distillation_loss(teacher, teacher, x, z, c)
    assert float(same["x"].detach()) == 0.0
    assert float(same["z"].detach()) == 0.0
    terms = distillation_loss(student, teacher, x, z, c)
    expected_x = ((student.inverse(z, c) - teacher.inverse(z, c)) ** 2).mean()
    torch.testing.assert_close(terms["x"], expected_x)
    (terms["x"] + terms["z"]).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())


def _run(steps: int, **model: object) -> RunConfig:
    return RunConfig(
        family="flow",
        train=TrainConfig(
            steps=steps,
            batch_size=64,
            lr=2e-3,
            validate_every=1000,
            checkpoint_every=2,
            threads=1,
            progress=False,
        ),
        model=FlowConfig(**{**SMALL, **model}),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("flow_teacher")
    train(atlas_showers(600, 0), config=_run(40, energy_layers=3, shape_layers=3), out_dir=out)
    return out


def _network_space(gen: FlowGenerator, noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """Both flows' samples (standardised logit spaces), the shapes given the true... energies
    of the teacher-free sample of ``gen`` itself."""
    with torch.no_grad():
        k = gen.n_energy
        y_e = gen.energy_flow.inverse(noise[:, :k], cond)
        e = gen.transform.energy_inverse(y_e)
        y_s = gen.shape_flow.inverse(noise[:, k:], gen.shape_conditions(cond, e))
    return torch.cat([y_e, y_s], dim=1)


@pytest.mark.slow
@pytest.mark.parametrize("coupling", ["spline", "affine", "cell"])
def test_student_learns_the_teachers_map_and_exports(
    teacher: Path, tmp_path: Path, coupling: str
) -> None:
    """A spline student, a fast affine one (both flows affine) and
    an affine one with a per-cell spline at the shape flow's data end (``"cell"``) all reduce
    their distance to the teacher's samples in network space, and export."""
    teach = load_model(teacher).generator
    assert isinstance(teach, FlowGenerator)
    couplings: dict[str, object] = (
        {"energy_coupling": "affine", "shape_coupling": "affine", "cell_bins": 16}
        if coupling == "cell"
        else {"energy_coupling": coupling, "shape_coupling": coupling}
    )
    student_hp = FlowConfig(**{**SMALL, "teacher": str(teacher), **couplings})  # type: ignore[arg-type]
    torch.manual_seed(0)  # the trainer builds the untrained student from seed 0 too
    start = FlowGenerator(teach.geometry, teach.encoding, teach.preprocessing, student_hp)
    start.transform.load_state_dict(teach.transform.state_dict())
    assert start.cell_scaling is not None
    assert teach.cell_scaling is not None
    start.cell_scaling.load_state_dict(teach.cell_scaling.state_dict())
    run = _run(80, teacher=str(teacher), **couplings)
    train(atlas_showers(600, 0), config=run, out_dir=tmp_path / "s")
    art = load_model(tmp_path / "s")
    student = art.generator
    assert isinstance(student, FlowGenerator)
    assert art.hparams.teacher == str(teacher)
    if coupling == "cell":
        # the cell spline was fitted (then trained) and is saved with the student
        assert isinstance(student.shape_flow, CellSplineFlow)
        assert student.shape_flow.cell.is_fitted
    # the student carries the teacher's preprocessing statistics
    for key, value in teach.transform.state_dict().items():
        assert torch.equal(student.transform.state_dict()[key], value), key
    assert student.cell_scaling is not None
    torch.testing.assert_close(student.cell_scaling.mean, teach.cell_scaling.mean, atol=0, rtol=0)
    noise = teach.make_noise(400, torch.Generator().manual_seed(8))
    cond = teach.encode_conditions(np.full(400, 2e4), np.arange(400) % 8)
    target = _network_space(teach, noise, cond)
    before = ((_network_space(start, noise, cond) - target) ** 2).mean()
    after = ((_network_space(student, noise, cond) - target) ** 2).mean()
    # measured: 0.21 (spline), 0.53 (affine: a narrower family of maps) and 0.65 (cell: its
    # spline, fitted on 64 rows per configuration here, starts far from the identity) of the
    # distance
    bound = {"spline": 0.5, "affine": 0.6, "cell": 0.8}[coupling]
    assert after < bound * before, (float(before), float(after))
    # a student is a generator like any other: it exports, and ONNX Runtime agrees
    result = export_onnx(tmp_path / "s", tmp_path / "s.onnx")
    assert result.relative_diff <= 1e-5


@pytest.mark.slow
def test_student_resumes_exactly(teacher: Path, tmp_path: Path) -> None:
    data = atlas_showers(600, 0)
    student = {"teacher": str(teacher)}
    train(data, config=_run(6, **student), out_dir=tmp_path / "full")
    train(data, config=_run(4, **student), out_dir=tmp_path / "cut")
    train(data, config=_run(6, **student), out_dir=tmp_path / "cut", resume=True)
    full = load_file(str(tmp_path / "full" / "weights.safetensors"))
    cut = load_file(str(tmp_path / "cut" / "weights.safetensors"))
    assert full.keys() == cut.keys()
    assert all(torch.equal(full[k], cut[k]) for k in full)


def test_teacher_must_be_a_trained_flow_with_the_same_preprocessing(teacher: Path) -> None:
    enc = load_model(teacher).encoding
    hp = FlowConfig(**{**SMALL, "cut_mev": 1.0, "teacher": str(teacher)})  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"hyperparameters\.cut_mev' is 0\.015; the student has 1\.0"
    ):
        Flow(GEOMETRY, enc, Preprocessing(), hp)
    ok = FlowConfig(**{**SMALL, "teacher": str(teacher)})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key 'conditions'"):
        Flow(GEOMETRY, ConditionEncoding(1.0, 2.0, 8), Preprocessing(), ok)


def test_a_teacher_of_another_family_is_refused_by_name(wgan_model: Path) -> None:
    from caloforge.models.reflow import load_frozen_teacher

    g = get_geometry("atlas-em-barrel")
    for family in ("flow", "flow-matching"):
        with pytest.raises(
            ValueError, match=rf"model\.json: key 'family' is 'wgan-gp'; .*'{family}'"
        ):
            load_frozen_teacher(
                wgan_model,
                g,
                ConditionEncoding(1e3, 1e5, 1),
                None,
                family=family,
                keys=(),
                shares="-",
            )


def test_cell_spline_student_with_the_shift_trains_by_likelihood_and_exports(
    tmp_path: Path,
) -> None:
    """The :data:`~caloforge.models.flow.STUDENT` layout (spline energy flow, affine shape
    flow, per-cell spline with the layer-energy shift) trained without a teacher: the cell spline is fitted at the first
    step (the shift's scale to its analytic start, positive) and is saved with the model, and
    the export agrees with PyTorch (at a batch size other than the trace's)."""
    from caloforge.models.flow import STUDENT

    assert STUDENT.cell_bins > 0
    assert STUDENT.cell_shift
    model = {
        "energy_coupling": STUDENT.energy_coupling,
        "shape_coupling": STUDENT.shape_coupling,
        "cell_bins": 8,
        "cell_shift": True,
    }
    train(atlas_showers(600, 0), config=_run(12, **model), out_dir=tmp_path / "m")
    gen = load_model(tmp_path / "m").generator
    assert isinstance(gen, FlowGenerator)
    assert isinstance(gen.shape_flow, CellSplineFlow)
    cell = gen.shape_flow.cell
    assert cell.is_fitted
    assert cell.shift_scale is not None
    assert bool((cell.shift_scale > 0).all())
    exported = export_onnx(tmp_path / "m", tmp_path / "m.onnx")
    assert exported.relative_diff <= 1e-5


@pytest.mark.parametrize("family", ["flow", "flow-matching"])
def test_flow_cuts_at_the_evaluation_hit_threshold(family: str) -> None:
    """Both flow families' default cut keeps every cell the evaluation counts as a hit; the
    dequantised empty cells lie below it."""
    from caloforge.evaluation.observables import DEFAULT_HIT_THRESHOLD_MEV
    from caloforge.models.registry import get_family

    hp = get_family(family).Config()
    assert hp.cut_mev == DEFAULT_HIT_THRESHOLD_MEV
    assert 0 < hp.noise_mev < hp.cut_mev
