"""``caloforge evaluate --protocol calochallenge``: the challenge's own evaluation.

For a reference and candidate shower files of one CaloChallenge dataset (found from the
geometry's readout): cells are brought to the challenge's calibrated energy scale (see
:mod:`caloforge.data.energy_scale`; the scale found in each file is reported), cells below the
dataset's read-out threshold are zeroed, and then, per candidate:

- the separation power of every histogram the challenge's evaluator draws, on its binnings
  (:mod:`.binning`), and its floor (two samples of one distribution of these sizes), named ``etot_einc``, ``e_layer_<l>``, ``ec_eta_<l>``, ``ec_phi_<l>``,
  ``width_eta_<l>``, ``width_phi_<l>``, ``cells`` and, for dataset 1, ``etot_einc_at_<E>MeV``;
- the AUC (and JSD) of the low-level (voxel) and high-level classifiers (:mod:`.classifier`);
- FPD and KPD on the high-level inputs (:mod:`.distances`), quoted x1e3 like the published ones;
- the published results of the dataset beside them (:mod:`.published`), with a warning when the
  reference is not the challenge's Geant4 sample: in ``calochallenge.md`` and in the
  self-contained ``report.html`` (:mod:`.report`).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from caloforge.data.energy_scale import (
    EnergyScale,
    cell_scale,
    describe_scale,
    read_file_energy_scale,
)
from caloforge.evaluation.calochallenge.binning import (
    DS1_ENERGIES_MEV,
    centre_edges,
    counts_separation,
    density_separation,
    etot_einc_discrete_edges,
    etot_einc_edges,
    log_edges,
    separation_floor_on,
    width_edges,
)
from caloforge.evaluation.calochallenge.classifier import (
    ChallengeClassifierConfig,
    challenge_classifier,
)
from caloforge.evaluation.calochallenge.datasets import ChallengeDataset, dataset_for_geometry
from caloforge.evaluation.calochallenge.distances import challenge_fpd, challenge_kpd
from caloforge.evaluation.calochallenge.features import (
    ChallengeFeatures,
    apply_threshold,
    compute_features,
    high_level_inputs,
    low_level_inputs,
)
from caloforge.evaluation.calochallenge.published import (
    GEANT4_WARNING,
    leaderboard_table,
    published_results,
    published_source,
)
from caloforge.evaluation.calochallenge.report import write_challenge_report
from caloforge.evaluation.metrics import separation_floor
from caloforge.geometry import Geometry, get_geometry
from caloforge.io import iter_showers, read_showers

__all__ = ["ChallengeSample", "evaluate_calochallenge", "load_sample"]

#: float64 bytes allowed for one sample's low-level classifier inputs (rows beyond are dropped)
LOWLEVEL_BYTES = 2 * 2**30


@dataclass
class ChallengeSample:
    """One file at the challenge's scale and threshold: features, classifier inputs, cells max."""

    name: str
    features: ChallengeFeatures
    lowlevel: np.ndarray | None
    cell_max: float
    energy_scale: EnergyScale
    scale_found: str


def _geometry(source: Path, geometry: Geometry | str | None) -> Geometry:
    if geometry is None:
        return read_showers(source, stop=0).geometry
    return get_geometry(geometry) if isinstance(geometry, str) else geometry


def load_sample(
    path: str | Path,
    dataset: ChallengeDataset,
    geometry: Geometry,
    *,
    lowlevel_rows: int,
    chunk_size: int = 4096,
) -> ChallengeSample:
    """Stream a shower file into a :class:`ChallengeSample` (cells rescaled to the calibrated
    scale of the dataset, then thresholded)."""
    path = Path(path)
    scale, found = read_file_energy_scale(path, dataset.preset)
    to_calibrated = _to_calibrated(dataset, geometry, scale)
    parts, low, cell_max, kept = [], [], 0.0, 0
    for chunk in iter_showers(path, geometry, chunk_size=chunk_size):
        cells = apply_threshold(
            chunk.cells.astype(np.float64) * to_calibrated, dataset.threshold_mev
        )
        parts.append(compute_features(cells, chunk.incident_energy, geometry))
        cell_max = max(cell_max, float(cells.max(initial=0.0)))
        if kept < lowlevel_rows:
            take = cells[: lowlevel_rows - kept]
            low.append(low_level_inputs(take, chunk.incident_energy[: len(take)]))
            kept += len(take)
    if not parts:
        msg = f"{path}: no showers"
        raise ValueError(msg)
    return ChallengeSample(
        path.stem,
        ChallengeFeatures.concatenate(parts),
        np.concatenate(low) if low else None,
        cell_max,
        scale,
        found,
    )


def _to_calibrated(dataset: ChallengeDataset, geometry: Geometry, scale: EnergyScale) -> np.ndarray:
    """(n_cells,) factors from a file's scale to the dataset's calibrated one."""
    return cell_scale(dataset.geometry_scale, geometry) / cell_scale(scale, geometry)


def _cell_counts(
    path: Path, dataset: ChallengeDataset, geometry: Geometry, edges: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    counts = np.zeros(len(edges) - 1)
    for chunk in iter_showers(path, geometry):
        cells = apply_threshold(chunk.cells.astype(np.float64) * scale, dataset.threshold_mev)
        counts += np.histogram(cells.reshape(-1), bins=edges)[0]
    return counts


def _histograms(
    ref: ChallengeFeatures, cand: ChallengeFeatures, dataset: ChallengeDataset
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every histogram of the challenge's evaluator: name -> (reference, candidate, edges)."""
    out = {
        "etot_einc": (
            ref.e_tot / ref.incident_energy,
            cand.e_tot / cand.incident_energy,
            etot_einc_edges(),
        )
    }
    for layer, values in ref.e_layer.items():
        edges = log_edges(dataset.threshold_mev, float(values.max()), 40)
        out[f"e_layer_{layer}"] = (values, cand.e_layer[layer], edges)
    ds1 = dataset.is_dataset_1
    for name, table, edges_of in (
        ("ec_eta", "ec_eta", centre_edges),
        ("ec_phi", "ec_phi", centre_edges),
        ("width_eta", "width_eta", width_edges),
        ("width_phi", "width_phi", width_edges),
    ):
        r, c = getattr(ref, table), getattr(cand, table)
        for layer in r:
            out[f"{name}_{layer}"] = (r[layer], c[layer], edges_of(ds1, layer))
    if ds1:
        photons = dataset.particle == "photon"
        for i in range(len(DS1_ENERGIES_MEV) - 1):
            lo, hi = DS1_ENERGIES_MEV[i], DS1_ENERGIES_MEV[i + 1]
            rs = (ref.incident_energy >= lo) & (ref.incident_energy < hi)
            cs = (cand.incident_energy >= lo) & (cand.incident_energy < hi)
            out[f"etot_einc_at_{lo:.0f}MeV"] = (
                ref.e_tot[rs] / ref.incident_energy[rs],
                cand.e_tot[cs] / cand.incident_energy[cs],
                etot_einc_discrete_edges(i, photons),
            )
    return out


def evaluate_calochallenge(
    reference: str | Path,
    candidates: Sequence[str | Path],
    labels: Sequence[str] | None = None,
    *,
    geometry: Geometry | str | None = None,
    out_dir: str | Path | None = None,
    seed: int = 0,
    classifier: bool = True,
    classifier_config: ChallengeClassifierConfig | None = None,
    lowlevel_rows: int | None = None,
    fpd_kpd: bool = True,
    fpd_settings: dict[str, int] | None = None,
    kpd_settings: dict[str, int] | None = None,
    reference_is_geant4: bool = False,
) -> dict[str, Any]:
    """Run the protocol (see the module); returns the metrics (and writes ``metrics.json``,
    ``calochallenge.md`` and ``report.html`` to ``out_dir`` when given). ``reference_is_geant4``: the reference is
    the challenge's own Geant4 file, so the published numbers are comparable."""
    ref_path = Path(reference)
    cand_paths = [Path(c) for c in candidates]
    names = list(labels) if labels else [p.stem for p in cand_paths]
    if len(names) != len(cand_paths) or len(set(names)) != len(names):
        msg = f"--label: {len(names)} distinct labels needed for {len(cand_paths)} candidates"
        raise ValueError(msg)
    geo = _geometry(ref_path, geometry)
    dataset = dataset_for_geometry(geo)
    if lowlevel_rows is None:
        lowlevel_rows = LOWLEVEL_BYTES // (8 * (geo.n_cells + 1))
    rows = lowlevel_rows if classifier else 0
    ref = load_sample(ref_path, dataset, geo, lowlevel_rows=rows)
    cell_edges = log_edges(dataset.threshold_mev, ref.cell_max, 50)
    ref_to_cal = _to_calibrated(dataset, geo, ref.energy_scale)
    ref_cells = _cell_counts(ref_path, dataset, geo, cell_edges, ref_to_cal)
    ref_hl = high_level_inputs(ref.features)
    result: dict[str, Any] = {
        "protocol": "calochallenge",
        "dataset": dataset.key,
        "settings": {
            "threshold_mev": dataset.threshold_mev,
            "seed": seed,
            "lowlevel_rows": rows,
            "classifier": None
            if not classifier
            else vars(classifier_config or ChallengeClassifierConfig()),
        },
        "reference": {
            "source": str(ref_path),
            "n_showers": len(ref.features),
            "energy_scale": describe_scale(ref.energy_scale),
            "energy_scale_found": ref.scale_found,
            "is_geant4": reference_is_geant4,
        },
        "candidates": {},
        "published": {"source": published_source(), "rows": published_results(dataset.key)},
        "warnings": [] if reference_is_geant4 else [GEANT4_WARNING],
    }
    for k, (name, path) in enumerate(zip(names, cand_paths, strict=True)):
        cand_geo = _geometry(path, geometry)
        if not cand_geo.same_readout(geo):
            msg = f"{path}: geometry {cand_geo.name!r} differs from the reference's {geo.name!r}"
            raise ValueError(msg)
        cand = load_sample(path, dataset, geo, lowlevel_rows=rows)
        hists = _histograms(ref.features, cand.features, dataset)
        seps = {n: density_separation(*h) for n, h in hists.items()}
        floors = {n: separation_floor_on(*h) for n, h in hists.items()}
        cand_cells = _cell_counts(
            path, dataset, geo, cell_edges, _to_calibrated(dataset, geo, cand.energy_scale)
        )
        seps["cells"] = counts_separation(ref_cells, cand_cells)
        floors["cells"] = separation_floor(
            int(((ref_cells + cand_cells) > 0).sum()), int(ref_cells.sum()), int(cand_cells.sum())
        )
        entry: dict[str, Any] = {
            "source": str(path),
            "n_showers": len(cand.features),
            "energy_scale": describe_scale(cand.energy_scale),
            "energy_scale_found": cand.scale_found,
            "separation": seps,
            "separation_floor": floors,
        }
        nan = sorted(n for n, v in seps.items() if not np.isfinite(v))
        if nan:
            result["warnings"].append(
                f"{name}: separation power NaN (a histogram has no entry in its range: wrong "
                f"energy scale?) for {', '.join(nan[:5])}{' ...' if len(nan) > 5 else ''}"
            )
        cand_hl = high_level_inputs(cand.features)
        if fpd_kpd:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                f_v, f_e = challenge_fpd(ref_hl, cand_hl, seed=42, **(fpd_settings or {}))
                k_v, k_e = challenge_kpd(ref_hl, cand_hl, seed=42, **(kpd_settings or {}))
            entry |= {"fpd_x1e3": f_v * 1e3, "fpd_x1e3_err": f_e * 1e3}
            entry |= {"kpd_x1e3": k_v * 1e3, "kpd_x1e3_err": k_e * 1e3}
        if classifier:
            assert ref.lowlevel is not None
            assert cand.lowlevel is not None
            low = challenge_classifier(
                cand.lowlevel,
                ref.lowlevel,
                sizes=dataset.split,
                config=classifier_config,
                seed=seed + k,
            )
            high = challenge_classifier(
                cand_hl, ref_hl, sizes=dataset.split, config=classifier_config, seed=seed + k
            )
            entry["classifier"] = {"low_level": low, "high_level": high}
            entry |= {"auc_low": low["auc"], "auc_low_err": low["error"]}
            entry |= {"auc_high": high["auc"], "auc_high_err": high["error"]}
        result["candidates"][name] = entry
    result["leaderboard"] = leaderboard_table(dataset.key, result["candidates"])
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(result, indent=1, default=_json_default))
        text = "\n\n".join(
            [
                f"# CaloChallenge {dataset.key}",
                *[f"> {w}" for w in result["warnings"]],
                result["leaderboard"],
            ]
        )
        (out / "calochallenge.md").write_text(text + "\n")
        write_challenge_report(result, out)
    return result


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return str(value)
