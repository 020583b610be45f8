"""The five stages as top-level functions: ``caloforge.simulate / train / generate / evaluate /
export``, each taking plain values (energies with units as text, e.g. ``"8GeV"``, or numbers in
MeV) and returning a small typed result (:mod:`caloforge.results`) or a ShowerSet.

They call the stage modules (:mod:`caloforge.simulation`, :mod:`caloforge.training`,
:mod:`caloforge.generation`, :mod:`caloforge.evaluation`, :mod:`caloforge.export`), which stay
the place for every option; these functions are loaded only when first used.

``n`` means what it means on the command line: ``simulate``'s ``n`` is the total number of
showers (a list of energies is cycled through: 450 with three energies gives 150 each);
``generate``'s ``n`` is the number per energy (with ``like``: the first ``n`` rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from caloforge.geometry import Geometry
from caloforge.results import Evaluation, Exported, Generated, TrainedModel, TrainingRun
from caloforge.showerset import ShowerSet

__all__ = ["evaluate", "export", "generate", "simulate", "train"]

Energies = str | float | Sequence[str | float]


def _energies_mev(energies: Energies) -> list[float]:
    """``"4GeV,8GeV"``, ``"8GeV"``, 8000.0 or a list of those -> energies in MeV."""
    from caloforge.units import parse_energies, parse_energy

    if isinstance(energies, str):
        return parse_energies(energies)
    if isinstance(energies, int | float):
        return [float(energies)]
    return [parse_energy(e) if isinstance(e, str) else float(e) for e in energies]


def simulate(
    geometry: Geometry | str,
    *,
    energies: Energies | None = None,
    energy_range: tuple[str | float, str | float] | None = None,
    n: int,
    particle: str = "photon",
    log_uniform: bool = False,
    seed: int = 0,
    engine: str = "cascade",
    out: str | Path | None = None,
    progress: bool = False,
) -> ShowerSet:
    """Simulate ``n`` showers in total with the cascade Monte Carlo or GFlash: ``energies``
    cycled through in order (n / K each), or uniform (``log_uniform``) in ``energy_range``.
    Cells hold the visible energy in MeV (see the ``mean_sampling_fraction`` attribute).
    Written to ``out`` (atomically) when given."""
    from caloforge.io import write_showers
    from caloforge.simulation import simulate as run
    from caloforge.simulation.gun import ParticleGun

    if (energies is None) == (energy_range is None):
        msg = "simulate: give energies (e.g. '4GeV,8GeV') or energy_range, not both/neither"
        raise ValueError(msg)
    if energies is not None:
        values = _energies_mev(energies)
        gun = ParticleGun(particle=particle, energies_mev=tuple(values))
    else:
        assert energy_range is not None
        lo, hi = _energies_mev(list(energy_range))
        gun = ParticleGun(particle=particle, energy_range_mev=(lo, hi), log_uniform=log_uniform)
    showers = run(geometry, gun, n, seed=seed, engine=engine, progress=progress).showers
    assert showers is not None
    if out is not None:
        write_showers(out, showers)
    return showers


def train(
    data: ShowerSet | str | Path,
    family: str,
    *,
    out_dir: str | Path = "model",
    steps: int | None = None,
    seeds: int = 1,
    device: str | None = None,
    config: str | Path | None = None,
    progress: bool = False,
) -> TrainedModel:
    """Train a generator ``family`` (``wgan-gp``, ``gan-ecritic``, ``vae``) on ``data`` into
    ``out_dir``; ``config`` a TOML run file (default: the family's defaults)."""
    from caloforge.training import train as run

    results = run(
        data, family, config, out_dir, seeds=seeds, steps=steps, device=device, progress=progress
    )
    runs = tuple(
        TrainingRun(
            out_dir=Path(r.out_dir),
            seed=r.seed,
            steps=r.steps,
            best_step=r.best_step,
            best_score=r.metrics.get("best", {}).get("score"),
            wall_seconds=r.wall_seconds,
        )
        for r in results
    )
    first = Path(results[0].out_dir)
    model = first / "best" if (first / "best" / "model.json").is_file() else first
    return TrainedModel(family, model, runs)


def _model_dir(model: TrainedModel | str | Path) -> Path:
    return model.model_dir if isinstance(model, TrainedModel) else Path(model)


def generate(
    model: TrainedModel | str | Path,
    out: str | Path,
    *,
    n: int | None = None,
    energies: Energies | None = None,
    like: str | Path | None = None,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> Generated:
    """Generate showers with a trained model into ``out``: ``n`` per energy of ``energies``,
    or with the energies (and configurations) of the reference file ``like``."""
    from caloforge.generation import generate as run
    from caloforge.io import count_showers

    model_dir = _model_dir(model)
    path = run(
        model_dir,
        out,
        n=n,
        energies=None if energies is None else _energies_mev(energies),
        like=like,
        seed=seed,
        device=device,
        progress=progress,
    )
    return Generated(Path(path), count_showers(path), model_dir)


def evaluate(
    reference: ShowerSet | str | Path,
    candidates: ShowerSet | str | Path | Sequence[ShowerSet | str | Path],
    *,
    labels: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    model: TrainedModel | str | Path | None = None,
    classifier: bool = True,
    seed: int = 0,
    **options: Any,
) -> Evaluation:
    """Compare candidates with a reference; the report goes to ``out_dir`` when given (with
    the training curve of ``model``). ``options``: the keywords of
    :func:`caloforge.evaluation.evaluate`."""
    from caloforge.evaluation import evaluate as run

    metrics = run(
        reference,
        candidates,  # type: ignore[arg-type]
        labels,
        out_dir=out_dir,
        seed=seed,
        classifier=classifier,
        model_dir=None if model is None else _model_dir(model),
        **options,
    )
    return Evaluation.from_metrics(metrics, None if out_dir is None else Path(out_dir))


def export(
    model: TrainedModel | str | Path, out: str | Path, *, format: str = "onnx", check: bool = True
) -> Exported:
    """Export a trained generator with its metadata sidecar: ``format`` ``onnx`` (ONNX Runtime)
    or ``aoti`` (an AOTInductor ``.pt2`` package for C++; needs a C++ compiler); ``check``
    compares the exported file with PyTorch on a few hundred showers."""
    if format == "onnx":
        from caloforge.export.onnx import export_onnx

        r = export_onnx(_model_dir(model), out, check=check)
    elif format == "aoti":
        from caloforge.export.aoti import export_aoti

        r = export_aoti(_model_dir(model), out, check=check)
    else:
        msg = f"unknown export format {format!r}; supported: onnx, aoti"
        raise ValueError(msg)
    return Exported(r.path, r.sidecar, r.max_abs_diff_mev, r.relative_diff, r.n_checked)
