"""``evaluate``: compare one reference sample with one or more candidates (the top layer).

For each candidate: separation power and Wasserstein-1 per observable and for the cell-energy
spectrum, FPD and KPD on the standardised high-level observables, classifier AUCs on low-level
inputs and on high-level observables, linearity and resolution, and correlation differences;
optionally all per-observable metrics again per alignment configuration. An observable is
*flagged* by the rule of :mod:`caloforge.evaluation.flagging`. Results go through
:func:`caloforge.evaluation.report.write_report` when an output folder is given.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from caloforge.evaluation.classifier import ClassifierConfig, classifier_auc
from caloforge.evaluation.flagging import SEPARATION_THRESHOLD, is_flagged
from caloforge.evaluation.grid import (
    GridObservables,
    compare_grid,
    compute_grid_observables,
    has_grid_observables,
)
from caloforge.evaluation.inputs import (
    GeometryFile,
    Source,
    check_sources,
    source_label,
    with_geometry,
)
from caloforge.evaluation.metrics import (
    SmallSampleWarning,
    fpd,
    fpd_floor,
    histogram_separation,
    kpd,
    separation_floor,
    separation_power,
    wasserstein,
)
from caloforge.evaluation.observables import (
    DEFAULT_HIT_THRESHOLD_MEV,
    Observables,
    compute_observables,
    summary_correlation,
)
from caloforge.evaluation.report import write_report
from caloforge.evaluation.response import energy_binning, energy_response
from caloforge.evaluation.speed import candidate_model, check_bench, read_bench, speed_summary
from caloforge.geometry import Geometry, get_geometry
from caloforge.io import read_showers
from caloforge.showerset import ShowerSet

__all__ = ["default_lowlevel_rows", "evaluate", "high_level_features"]


def high_level_features(obs: Observables, columns: np.ndarray | None = None) -> np.ndarray:
    """(N, d) float64 high-level inputs: the observables (``columns`` of them) and
    log10(E_inc / MeV)."""
    values = obs.values if columns is None else obs.values[:, columns]
    return np.concatenate([values, np.log10(obs.incident_energy)[:, None]], axis=1)


def _standardised(ref: np.ndarray, cands: list[np.ndarray]) -> tuple[np.ndarray, list]:
    mean, std = ref.mean(axis=0), ref.std(axis=0)
    keep = std > 0

    def scale(x: np.ndarray) -> np.ndarray:
        return ((x[:, keep] - mean[keep]) / std[keep]).astype(np.float32)

    return scale(ref), [scale(c) for c in cands]


def _observable_metrics(
    ref: Observables,
    cand: Observables,
    ref_rows: np.ndarray,
    cand_rows: np.ndarray,
    *,
    n_bins: int,
    n_bootstrap: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    out = {}
    floor = separation_floor(n_bins, int(ref_rows.sum()), int(cand_rows.sum()))
    # W1's bootstrap resamples within each incident-energy point: the energy mixture is fixed
    binning = energy_binning(ref.incident_energy)
    strata = (
        binning.assign(ref.incident_energy[ref_rows]),
        binning.assign(cand.incident_energy[cand_rows]),
    )
    for j, spec in enumerate(ref.specs):
        a, b = ref.values[ref_rows, j], cand.values[cand_rows, j]
        sep, sep_err = separation_power(a, b, bins=n_bins, n_bootstrap=n_bootstrap, seed=seed)
        w1, w1_err = wasserstein(a, b, n_bootstrap=n_bootstrap, seed=seed, strata=strata)
        out[spec.name] = {
            "separation": sep,
            "separation_err": sep_err,
            "wasserstein": w1,
            "wasserstein_err": w1_err,
            "unit": spec.unit,
            "flagged": is_flagged(sep, sep_err, floor),
        }
    return out


def _spectrum_metrics(ref: Observables, cand: Observables, config: int | None) -> dict:
    p, q = ref.spectrum(config), cand.spectrum(config)
    if p.sum() == 0 or q.sum() == 0:
        return {"separation": 1.0 if p.sum() != q.sum() else 0.0, "flagged": p.sum() != q.sum()}
    sep = histogram_separation(p, q)
    floor = separation_floor(int(((p + q) > 0).sum()), int(p.sum()), int(q.sum()))
    return {"separation": sep, "flagged": is_flagged(sep, 0.0, floor)}


def _flagged(observables: dict[str, dict[str, Any]], spectrum: dict) -> list[str]:
    names = [k for k, v in observables.items() if v["flagged"]]
    return [*names, "cell_spectrum"] if spectrum["flagged"] else names


def evaluate(
    reference: Source,
    candidates: Source | Sequence[Source],
    labels: Sequence[str] | None = None,
    per_config: bool = False,
    out_dir: str | Path | None = None,
    seed: int = 0,
    *,
    n_bins: int = 40,
    hit_threshold_mev: float = DEFAULT_HIT_THRESHOLD_MEV,
    chunk_size: int = 4096,
    n_bootstrap: int = 10,
    classifier: bool = True,
    classifier_config: ClassifierConfig | None = None,
    lowlevel_rows: int | None = None,
    fpd_samples: tuple[int, int] = (20_000, 50_000),
    kpd_batch_size: int = 5_000,
    max_histograms: int = 60,
    progress: bool = False,
    geometry: Geometry | str | None = None,
    model_dir: str | Path | None = None,
    speed: str | Path | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Compare ``reference`` with ``candidates`` (ShowerSets or shower files).

    Returns the metrics dictionary (also written as ``out_dir/metrics.json`` together with the
    self-contained ``out_dir/report.html`` when ``out_dir`` is given). ``labels`` name the
    candidates (default: file stems / ``candidate_i``). ``per_config`` repeats the
    per-observable metrics for every alignment configuration. ``lowlevel_rows`` bounds the
    showers per sample kept for the low-level classifier (memory: rows x n_cells x 4 bytes).
    Small samples emit :class:`~caloforge.evaluation.metrics.SmallSampleWarning`s, which are
    also listed under ``"warnings"``. ``geometry`` (a Geometry, preset name or binning XML)
    reads every file with that geometry (files that name none, e.g. the CaloChallenge's own).
    ``model_dir``: the candidate's model folder, whose training log the report draws.
    ``speed``: a ``caloforge bench`` result (its ``.json``, or the dictionary) that timed the
    candidates' models: their generation times beside their AUCs, under ``"speed"`` and in the
    report's fidelity-against-speed section (:mod:`caloforge.evaluation.speed`).
    """
    cand_list = (
        [candidates]
        if not isinstance(candidates, Sequence) or isinstance(candidates, str | GeometryFile)
        else list(candidates)
    )
    geo = get_geometry(geometry) if isinstance(geometry, str) else geometry
    reference = with_geometry(reference, geo)
    cand_list = [with_geometry(c, geo) for c in cand_list]
    names = check_sources(reference, cand_list, labels, per_config=per_config)
    bench = None
    if speed is not None:
        if isinstance(speed, Mapping):
            check_bench(speed, "speed")
            bench = speed
        else:
            bench = read_bench(speed)
    if lowlevel_rows is None:
        lowlevel_rows = default_lowlevel_rows(_n_cells(reference))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result, ref_obs, cand_obs = _evaluate(
            reference,
            cand_list,
            names,
            per_config=per_config,
            seed=seed,
            n_bins=n_bins,
            hit_threshold_mev=hit_threshold_mev,
            chunk_size=chunk_size,
            n_bootstrap=n_bootstrap,
            classifier=classifier,
            classifier_config=classifier_config,
            lowlevel_rows=lowlevel_rows,
            fpd_samples=fpd_samples,
            kpd_batch_size=kpd_batch_size,
            progress=progress,
        )
    unique = {(str(w.message), w.category): None for w in caught}
    result["warnings"] = [f"{cat.__name__}: {message}" for message, cat in unique]
    grid: tuple[GridObservables, list[GridObservables]] | None = None
    if has_grid_observables(ref_obs.geometry):
        grid = _grid(reference, cand_list, names, chunk_size)
        result["grid"] = compare_grid(
            grid[0],
            dict(zip(names, grid[1], strict=True)),
            n_bins=n_bins,
            n_bootstrap=n_bootstrap,
            seed=seed,
        )
    if bench is not None:
        models = {n: candidate_model(_attrs(c)) for n, c in zip(names, cand_list, strict=True)}
        result["speed"] = speed_summary(bench, models)
    if out_dir is not None:
        write_report(
            result,
            ref_obs,
            cand_obs,
            Path(out_dir),
            max_histograms=max_histograms,
            examples=[_first_showers(s) for s in [reference, *cand_list]],
            model_dir=None if model_dir is None else Path(model_dir),
            grid=grid,
        )
    for message, category in unique:
        warnings.warn(message, category, stacklevel=2)
    return result


#: memory allowed for one sample's low-level classifier inputs when ``lowlevel_rows`` is None
LOWLEVEL_BYTES_PER_SAMPLE = 256 * 2**20
MAX_LOWLEVEL_ROWS = 20_000


def default_lowlevel_rows(n_cells: int) -> int:
    """Showers per sample for the low-level classifier: 20 000, or fewer for fine geometries so
    that one sample's float32 inputs stay under 256 MiB (10 354 rows for 6480 cells; the copies
    made for training keep a 100k x 6480 evaluation under 4 GB)."""
    return max(1000, min(MAX_LOWLEVEL_ROWS, LOWLEVEL_BYTES_PER_SAMPLE // (4 * (n_cells + 1))))


def _grid(
    reference: Source, candidates: list[Source], names: list[str], chunk_size: int
) -> tuple[GridObservables, list[GridObservables]]:
    """Grid observables (:mod:`caloforge.evaluation.grid`) of the reference and candidates."""
    ref = compute_grid_observables(
        reference, name=source_label(reference, "reference"), chunk_size=chunk_size
    )
    cands = [
        compute_grid_observables(c, name=n, chunk_size=chunk_size)
        for c, n in zip(candidates, names, strict=True)
    ]
    return ref, cands


def _first_showers(source: Source, n: int = 3) -> ShowerSet:
    """The first ``n`` showers of a sample (the report's single-shower displays)."""
    if isinstance(source, ShowerSet):
        return source[:n]
    if isinstance(source, GeometryFile):
        return read_showers(source.path, source.geometry, stop=n)
    return read_showers(source, stop=n)


def _attrs(source: Source) -> dict[str, Any]:
    """A sample's file attributes (what made it)."""
    return _first_showers(source, 0).attrs


def _n_cells(source: Source) -> int:
    return _first_showers(source, 0).geometry.n_cells


def _evaluate(
    reference: Source,
    candidates: list[Source],
    names: list[str],
    *,
    per_config: bool,
    seed: int,
    n_bins: int,
    hit_threshold_mev: float,
    chunk_size: int,
    n_bootstrap: int,
    classifier: bool,
    classifier_config: ClassifierConfig | None,
    lowlevel_rows: int,
    fpd_samples: tuple[int, int],
    kpd_batch_size: int,
    progress: bool,
) -> tuple[dict[str, Any], Observables, list[Observables]]:
    def observables(source: Source, label: str) -> Observables:
        return compute_observables(
            source,
            name=label,
            hit_threshold_mev=hit_threshold_mev,
            chunk_size=chunk_size,
            lowlevel_rows=lowlevel_rows if classifier else 0,
            seed=seed,
        )

    ref = observables(reference, source_label(reference, "reference"))
    binning = energy_binning(ref.incident_energy)
    summary_names = [s.name for s in ref.specs if s.summary]
    ref_corr = summary_correlation(ref, summary_names)
    result: dict[str, Any] = {
        "settings": {
            "seed": seed,
            "n_bins": n_bins,
            "hit_threshold_mev": hit_threshold_mev,
            "separation_threshold": SEPARATION_THRESHOLD,
            "n_bootstrap": n_bootstrap,
            "lowlevel_rows": lowlevel_rows,
            "fpd_samples": list(fpd_samples),
            "kpd_batch_size": kpd_batch_size,
            "per_config": per_config,
        },
        "reference": {
            "source": ref.name,
            "n_showers": len(ref),
            "geometry": ref.geometry.name,
            "n_cells": ref.geometry.n_cells,
            "response": energy_response(ref.incident_energy, ref.column("e_tot"), binning),
        },
        "summary_observables": summary_names,
        "candidates": {},
    }
    cand_obs: list[Observables] = []
    ref_hl = high_level_features(ref)
    fpd_floor_v: tuple[float, float] | None = None
    for k, (label, source) in enumerate(zip(names, candidates, strict=True)):
        cand = observables(source, label)
        cand_obs.append(cand)
        floor = separation_floor(n_bins, len(ref), len(cand))
        if floor > SEPARATION_THRESHOLD / 2:
            warnings.warn(
                f"{label}: with {len(ref)} reference and {len(cand)} candidate showers in "
                f"{n_bins} bins, two samples of one distribution already differ by a separation "
                f"power of ~{floor:.3f}; observables are flagged only above that by more than "
                f"{SEPARATION_THRESHOLD}, so smaller differences go unseen (more showers or "
                "fewer bins resolve them)",
                SmallSampleWarning,
                stacklevel=3,
            )
        all_ref, all_cand = ref.rows(), cand.rows()
        obs_metrics = _observable_metrics(
            ref, cand, all_ref, all_cand, n_bins=n_bins, n_bootstrap=n_bootstrap, seed=seed
        )
        spectrum = _spectrum_metrics(ref, cand, None)
        x_ref, (x_cand,) = _standardised(ref_hl, [high_level_features(cand)])
        fpd_options: dict[str, Any] = {
            "min_samples": fpd_samples[0],
            "max_samples": fpd_samples[1],
            "n_batches": 10,
            "n_points": 5,
            "normal_scores": True,
        }
        fpd_v, fpd_e = fpd(x_ref, x_cand, seed=seed, **fpd_options)
        if fpd_floor_v is None:  # the reference's own floor: the same for every candidate
            fpd_floor_v = fpd_floor(x_ref, seed=seed, **fpd_options)
        kpd_v, kpd_e = kpd(x_ref, x_cand, batch_size=kpd_batch_size, seed=seed)
        corr_diff = summary_correlation(cand, summary_names) - ref_corr
        entry: dict[str, Any] = {
            "source": cand.name,
            "n_showers": len(cand),
            "separation_floor": floor,
            "flagged": _flagged(obs_metrics, spectrum),
            "observables": obs_metrics,
            "cell_spectrum": spectrum,
            "fpd": {
                "value": fpd_v,
                "error": fpd_e,
                "floor": fpd_floor_v[0],
                "floor_error": fpd_floor_v[1],
            },
            "kpd": {"value": kpd_v, "error": kpd_e},
            "correlation": {
                "max_abs_difference": float(np.abs(corr_diff).max()),
                "mean_abs_difference": float(np.abs(corr_diff).mean()),
            },
            "response": energy_response(cand.incident_energy, cand.column("e_tot"), binning),
        }
        if classifier:
            assert ref.lowlevel is not None
            assert cand.lowlevel is not None
            low = classifier_auc(
                ref.lowlevel,
                cand.lowlevel,
                seed=seed + k,
                config=classifier_config,
                progress=progress,
                description=f"{label}: low-level classifier",
            )
            high = classifier_auc(
                x_ref,
                x_cand,
                seed=seed + k,
                config=classifier_config,
                progress=progress,
                description=f"{label}: high-level classifier",
            )
            entry["classifier"] = {
                "low_level": {"auc": low[0], "error": low[1]},
                "high_level": {"auc": high[0], "error": high[1]},
            }
        if per_config:
            entry["per_config"] = _per_config(ref, cand, n_bins, n_bootstrap, seed)
        result["candidates"][label] = entry
    return result, ref, cand_obs


def _per_config(
    ref: Observables, cand: Observables, n_bins: int, n_bootstrap: int, seed: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for config in ref.groups:
        assert config is not None
        rows_ref, rows_cand = ref.rows(config), cand.rows(config)
        n_ref, n_cand = int(rows_ref.sum()), int(rows_cand.sum())
        if n_ref < 2 or n_cand < 2:
            out[str(config)] = {"n_reference": n_ref, "n_candidate": n_cand, "skipped": True}
            continue
        obs = _observable_metrics(
            ref, cand, rows_ref, rows_cand, n_bins=n_bins, n_bootstrap=n_bootstrap, seed=seed
        )
        spectrum = _spectrum_metrics(ref, cand, config)
        out[str(config)] = {
            "n_reference": n_ref,
            "n_candidate": n_cand,
            "separation_floor": separation_floor(n_bins, n_ref, n_cand),
            "flagged": _flagged(obs, spectrum),
            "observables": obs,
            "cell_spectrum": spectrum,
        }
    return out
