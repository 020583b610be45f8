"""The evaluation report: ``report.html`` (one self-contained page, PNGs base64-embedded) and
``metrics.json``, both written atomically.

Page order: samples and warnings; the metric table (classifier AUCs, FPD, KPD, correlation
differences, number of flagged observables per candidate); fidelity against speed (when the
evaluation was given a bench result that timed the candidates' models); the per-observable table
(separation power and Wasserstein-1, flagged rows — see ``flagging.is_flagged`` — in red,
worst first); then figures: response curves and E_tot/E_inc per incident-energy point,
cell-energy spectrum, average images per layer (and, when evaluated per configuration, the
most energetic layer's per configuration), single-shower displays (when example showers are
given), correlation differences, the training curve (when the model folder's ``log.csv`` is
given), and histograms with ratio panels for at most ``max_histograms`` observables, those
with the largest separation power first. Every label and name on the page is HTML-escaped.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from caloforge.evaluation.flagging import SEPARATION_THRESHOLD
from caloforge.evaluation.grid import GridObservables
from caloforge.evaluation.metrics import shared_bins
from caloforge.evaluation.observables import (
    SPECTRUM_EDGES_LOG10_MEV,
    Observables,
    summary_correlation,
)
from caloforge.evaluation.plots import (
    average_images_figure,
    config_images_figure,
    correlation_figure,
    figure_png,
    histogram_figure,
    response_figure,
    response_histograms_figure,
    shower_displays_figure,
    spectrum_figure,
    speed_figure,
    training_curve_figure,
)
from caloforge.evaluation.response import energy_binning
from caloforge.io import atomic_write_text
from caloforge.showerset import ShowerSet

__all__ = ["format_value_error", "read_training_log", "write_metrics_json", "write_report"]

_CSS = """
body { font-family: sans-serif; margin: 1.5em; max-width: 1400px; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th { background: #eee; } td.name { text-align: left; font-family: monospace; }
tr.flagged td { background: #fdd; }
.warn { color: #a60; } img { max-width: 100%; margin: 0.3em; }
.figs img { width: 32%; min-width: 380px; }
.wide img { max-width: 100%; }
"""


def write_metrics_json(metrics: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "metrics.json"
    atomic_write_text(path, json.dumps(metrics, indent=2, sort_keys=True, default=float) + "\n")
    return path


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _pm(value: float, error: float, digits: int = 3) -> str:
    return f"{value:.{digits}f} ± {error:.{digits}f}"


def format_value_error(value: float, error: float) -> str:
    """``value ± error`` with the error to two significant digits and the value rounded to the
    same decimal place (27.21, 183.4 -> "30 ± 180"; 0.01234, 0.00056 -> "0.01234 ± 0.00056")."""
    if not math.isfinite(error):
        return f"{value:.4g} ± {error}"
    if not error > 0:
        return f"{value:.4g}"
    decimals = 1 - math.floor(math.log10(error))
    if decimals <= 0:
        step = 10.0 ** (-decimals)
        return f"{round(value / step) * step:.0f} ± {round(error / step) * step:.0f}"
    return f"{value:.{decimals}f} ± {error:.{decimals}f}"


def _summary_table(metrics: dict[str, Any]) -> str:
    rows = []
    for label, c in metrics["candidates"].items():
        cls = c.get("classifier", {})
        low = cls.get("low_level")
        high = cls.get("high_level")
        rows.append(
            "<tr>"
            f"<td class='name'>{html.escape(label)}</td><td>{c['n_showers']}</td>"
            f"<td>{_pm(low['auc'], low['error']) if low else '-'}</td>"
            f"<td>{_pm(high['auc'], high['error']) if high else '-'}</td>"
            f"<td>{format_value_error(c['fpd']['value'], c['fpd']['error'])}</td>"
            f"<td>{format_value_error(c['fpd']['floor'], c['fpd']['floor_error']) if 'floor' in c['fpd'] else '-'}</td>"
            f"<td>{format_value_error(c['kpd']['value'], c['kpd']['error'])}</td>"
            f"<td>{c['correlation']['max_abs_difference']:.3f}</td>"
            f"<td>{len(c['flagged'])}</td>"
            "</tr>"
        )
    head = (
        "<tr><th>candidate</th><th>showers</th><th>AUC low-level</th><th>AUC high-level</th>"
        "<th>FPD</th><th>FPD floor (reference halves)</th><th>KPD</th><th>max |Δ corr|</th><th>flagged</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _speed_section(metrics: dict[str, Any]) -> str:
    """Fidelity against speed: each timed candidate's AUCs beside its generation times."""
    speed = metrics.get("speed")
    if not speed or not speed["candidates"]:
        return ""
    cascade = speed["cascade_us"]
    rows, points = [], {}
    for label, timed in speed["candidates"].items():
        low = metrics["candidates"][label].get("classifier", {}).get("low_level")
        high = metrics["candidates"][label].get("classifier", {}).get("high_level")
        best = timed["fastest"]
        if low:
            points[label] = (best["us_per_shower"], low["auc"], low["error"])
        each = "; ".join(
            f"{html.escape(str(r['backend']))} {html.escape(str(r['threads'] or '-'))} thr, "
            f"batch {html.escape(str(r['batch']))}: "
            f"{r['us_per_shower']:,.1f}"
            for r in timed["rows"]
        )
        sp = best["speedup_vs_cascade"]
        rows.append(
            "<tr>"
            f"<td class='name'>{html.escape(label)}</td>"
            f"<td>{_pm(low['auc'], low['error']) if low else '-'}</td>"
            f"<td>{_pm(high['auc'], high['error']) if high else '-'}</td>"
            f"<td>{best['us_per_shower']:,.2f}</td>"
            f"<td>{html.escape(str(best['backend']))}, "
            f"{html.escape(str(best['threads'] or '-'))} thread(s), "
            f"batch {html.escape(str(best['batch']))}</td>"
            f"<td>{'-' if sp is None else f'{sp:,.0f}'}</td>"
            f"<td class='name'>{each}</td>"
            "</tr>"
        )
    head = (
        "<tr><th>candidate</th><th>AUC low-level</th><th>AUC high-level</th>"
        "<th>µs per shower (fastest)</th><th>at</th><th>× cascade</th>"
        "<th>every timing (µs per shower)</th></tr>"
    )
    ref = (
        ", ".join(f"{html.escape(t)} thread(s) {us:,.0f} µs" for t, us in cascade.items())
        or "not timed"
    )
    fig = speed_figure(points, min(cascade.values()) if cascade else None)
    return f"""<h2>Fidelity against speed</h2>
<p>Generation times from the <code>caloforge bench</code> result given to the evaluation, for the
candidates whose model it timed; × cascade: the cascade Monte Carlo's time per shower in the same
run at the same thread count over the candidate's (cascade: {ref}).</p>
<table>{head}{"".join(rows)}</table>
<div class="figs">{_png(fig, "fidelity against speed")}</div>
"""


def _ranked(metrics: dict[str, Any], names: list[str]) -> list[str]:
    def worst(name: str) -> float:
        return max(c["observables"][name]["separation"] for c in metrics["candidates"].values())

    return sorted(names, key=worst, reverse=True)


def _observable_table(metrics: dict[str, Any], ref: Observables) -> str:
    labels = list(metrics["candidates"])
    head = "<tr><th>observable</th><th>unit</th>" + "".join(
        f"<th>S {html.escape(lab)}</th><th>W1 {html.escape(lab)}</th>" for lab in labels
    )
    rows = []
    units = {s.name: s.unit for s in ref.specs}
    for name in _ranked(metrics, ref.names):
        cells = [metrics["candidates"][lab]["observables"][name] for lab in labels]
        flagged = any(c["flagged"] for c in cells)
        body = "".join(
            f"<td>{_pm(c['separation'], c['separation_err'], 4)}</td>"
            f"<td>{format_value_error(c['wasserstein'], c['wasserstein_err'])}</td>"
            for c in cells
        )
        cls = " class='flagged'" if flagged else ""
        rows.append(
            f"<tr{cls}><td class='name'>{html.escape(name)}</td>"
            f"<td>{html.escape(units[name])}</td>{body}</tr>"
        )
    spectrum = "".join(
        f"<td>{metrics['candidates'][lab]['cell_spectrum']['separation']:.4f}</td><td>-</td>"
        for lab in labels
    )
    cls = (
        " class='flagged'"
        if any(metrics["candidates"][lab]["cell_spectrum"]["flagged"] for lab in labels)
        else ""
    )
    rows.append(f"<tr{cls}><td class='name'>cell_spectrum</td><td>log10 MeV</td>{spectrum}</tr>")
    return f"<table>{head}</tr>{''.join(rows)}</table>"


def _per_config_table(metrics: dict[str, Any]) -> str:
    parts = []
    for label, c in metrics["candidates"].items():
        if "per_config" not in c:
            continue
        rows = "".join(
            f"<tr><td>{cfg}</td><td>{v['n_reference']}</td><td>{v['n_candidate']}</td>"
            f"<td class='name'>{html.escape(', '.join(v.get('flagged', [])) or '-')}</td></tr>"
            for cfg, v in c["per_config"].items()
        )
        parts.append(
            f"<h3>{html.escape(label)} per alignment configuration</h3><table><tr><th>config</th>"
            f"<th>reference</th><th>candidate</th><th>flagged observables</th></tr>{rows}</table>"
        )
    return "".join(parts)


def _png(fig: Any, alt: str) -> str:
    return _img(figure_png(fig), alt)


def _energy_point_titles(e_inc_mev: Sequence[float], ranges: bool) -> list[str]:
    word = "around" if ranges else "E_inc ="
    return [f"{word} {e / 1000:.3g} GeV" for e in e_inc_mev]


def _response_histograms(
    metrics: dict[str, Any], ref: Observables, cands: list[Observables]
) -> str:
    """E_tot/E_inc per incident-energy point (the reference's binning applied to all)."""
    binning = energy_binning(ref.incident_energy)
    idx_ref = binning.assign(ref.incident_energy)
    idx_cands = [binning.assign(c.incident_energy) for c in cands]
    ratio_ref = ref.column("e_ratio")
    keep = [
        k
        for k in range(len(binning))
        if (idx_ref == k).sum() >= 2 and all((ic == k).sum() >= 2 for ic in idx_cands)
    ]
    if not keep:
        return ""
    centres = [float(ref.incident_energy[idx_ref == k].mean()) for k in keep]
    fig = response_histograms_figure(
        _energy_point_titles(centres, ranges=binning.points is None),
        [ratio_ref[idx_ref == k] for k in keep],
        [
            [c.column("e_ratio")[ic == k] for k in keep]
            for c, ic in zip(cands, idx_cands, strict=True)
        ],
        labels=list(metrics["candidates"]),
    )
    return _png(fig, "E_tot / E_inc per incident energy")


def read_training_log(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``log.csv`` of a training run (rows ``step,name,value``) as name -> (steps, values)."""
    rows: dict[str, tuple[list[float], list[float]]] = {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"step", "name", "value"} <= set(reader.fieldnames):
            msg = f"{path}: expected the columns step,name,value of a caloforge training log"
            raise ValueError(msg)
        for row in reader:
            steps, values = rows.setdefault(row["name"], ([], []))
            steps.append(float(row["step"]))
            values.append(float(row["value"]))
    return {k: (np.asarray(s), np.asarray(v)) for k, (s, v) in rows.items()}


def training_log_path(model_dir: Path) -> Path | None:
    """The ``log.csv`` of a model folder (a training output folder or its ``best/``)."""
    for folder in (model_dir, model_dir.parent):
        if (folder / "log.csv").is_file():
            return folder / "log.csv"
    return None


def _figures(
    metrics: dict[str, Any],
    ref: Observables,
    cands: list[Observables],
    max_histograms: int,
    examples: Sequence[ShowerSet],
    model_dir: Path | None,
) -> dict[str, list[str]]:
    """The report's figures by section (embedded ``<img>`` tags)."""
    labels = list(metrics["candidates"])
    geo = ref.geometry
    sections: dict[str, list[str]] = {}
    sections["response"] = [
        _png(
            response_figure(
                metrics["reference"]["response"],
                [metrics["candidates"][lab]["response"] for lab in labels],
                labels=labels,
            ),
            "response",
        ),
        _response_histograms(metrics, ref, cands),
        _png(
            spectrum_figure(
                SPECTRUM_EDGES_LOG10_MEV,
                ref.spectrum(),
                [c.spectrum() for c in cands],
                labels=labels,
            ),
            "cell spectrum",
        ),
    ]
    names_shown = ["reference", *labels]
    avg = [ref.average_images()] + [c.average_images() for c in cands]
    fig = average_images_figure(geo, avg, labels=names_shown, title="all showers")
    sections["images"] = [_png(fig, "average images all showers")]
    configs = [g for g in ref.groups if g is not None] if metrics["settings"]["per_config"] else []
    if configs:
        per_config = {
            g: [ref.average_images(g)] + [c.average_images(g) for c in cands] for g in configs
        }
        fig = config_images_figure(geo, per_config, labels=names_shown)
        sections["images"].append(_png(fig, "average images per configuration"))
    sections["showers"] = (
        [
            _png(
                shower_displays_figure(
                    geo,
                    [
                        (lab, ex.cells, ex.incident_energy)
                        for lab, ex in [("reference", examples[0]), (cand, cand_ex)]
                    ],
                ),
                f"single showers reference and {cand}",
            )
            for cand, cand_ex in zip(labels, examples[1:], strict=False)
            if len(examples[0]) and len(cand_ex)
        ]
        if examples
        else []
    )
    names = metrics["summary_observables"]
    ref_corr = summary_correlation(ref, names)
    diffs = [summary_correlation(c, names) - ref_corr for c in cands]
    sections["correlations"] = [
        _png(correlation_figure(names, diffs, labels=labels), "correlations")
    ]
    log = training_log_path(model_dir) if model_dir is not None else None
    sections["training"] = (
        [_png(training_curve_figure(read_training_log(log)), f"training curve {log}")]
        if log is not None
        else []
    )
    hists = []
    for name in _ranked(metrics, ref.names)[:max_histograms]:
        j = ref.names.index(name)
        edges = shared_bins(
            ref.values[:, j], *[c.values[:, j] for c in cands], n_bins=metrics["settings"]["n_bins"]
        )
        seps = [metrics["candidates"][lab]["observables"][name]["separation"] for lab in labels]
        fig = histogram_figure(
            ref.specs[j],
            ref.values[:, j],
            [c.values[:, j] for c in cands],
            labels=labels,
            edges=edges,
            separations=seps,
        )
        hists.append(_png(fig, name))
    sections["histograms"] = hists
    return sections


def _grid_section(
    metrics: dict[str, Any], grid: tuple[GridObservables, list[GridObservables]] | None
) -> str:
    """The grid observables' table and figures (hit spectrum in MIP units, profiles)."""
    if grid is None or "grid" not in metrics:
        return ""
    from caloforge.evaluation.grid import GRID_OBSERVABLES
    from caloforge.evaluation.grid_plots import hit_spectrum_figure, profile_figures

    g = metrics["grid"]
    labels = list(g["candidates"])
    head = "".join(f"<th>S({html.escape(n)})</th>" for n, _, _ in GRID_OBSERVABLES)
    rows = []
    for lab, c in g["candidates"].items():
        lin = [abs(x - 1) for x in c["response_ratio"]["linearity"]]
        res = [abs(x - 1) for x in c["response_ratio"]["resolution"]]
        seps = "".join(
            f"<td>{_pm(c['observables'][n]['separation'], c['observables'][n]['error'])}</td>"
            for n, _, _ in GRID_OBSERVABLES
        )
        rows.append(
            f"<tr><td class='name'>{html.escape(lab)}</td><td>{c['mip_peak']:.3f}</td>"
            f"<td>{c['mip_peak_ratio']:.3f}</td><td>{max(lin, default=math.nan):.2%}</td>"
            f"<td>{max(res, default=math.nan):.1%}</td>{seps}</tr>"
        )
    table = (
        "<table><tr><th>candidate</th><th>MIP peak [MIP]</th><th>ratio to ref.</th>"
        "<th>max |lin. ratio − 1|</th><th>max |σ/E ratio − 1|</th>"
        f"{head}</tr>{''.join(rows)}</table>"
    )
    ref_g, cand_g = grid
    figs = [_png(hit_spectrum_figure(ref_g, cand_g, labels=labels), "hit spectrum in MIP units")]
    figs += [
        _png(f, f"{kind} profile")
        for f, kind in zip(
            profile_figures(ref_g, cand_g, labels=labels), ("longitudinal", "radial"), strict=True
        )
    ]
    return f"""<h2>Grid observables</h2>
<p>Hit energies in MIP units (reference MIP peak {g["reference"]["mip_peak"]:.3f} MIP, the
maximum of dN/dE from the hit threshold to 3 MIP; a MIP is dE/dx_min × the active thickness of
the layer), hits above {g["hit_threshold_mip"]} MIP, centres
of gravity, and the MIP-weighted energy (Σ E_layer / f_mip): its linearity and σ/E as ratios to
the reference's at each energy point.</p>
{table}
<div class="figs">{"".join(figs)}</div>
"""


def write_report(
    metrics: dict[str, Any],
    reference: Observables,
    candidates: list[Observables],
    out_dir: Path,
    *,
    max_histograms: int = 60,
    examples: Sequence[ShowerSet] = (),
    model_dir: Path | None = None,
    grid: tuple[GridObservables, list[GridObservables]] | None = None,
) -> Path:
    """Write ``metrics.json`` and ``report.html`` into ``out_dir`` (created if needed).

    ``examples``: a few showers of the reference and of each candidate, in that order, drawn as
    single-shower displays; ``model_dir``: the candidate's model folder, whose ``log.csv`` is
    drawn as the training curve; ``grid``: the grid observables of the reference and the
    candidates (grid geometries; :mod:`caloforge.evaluation.grid`), drawn in their own section
    with ``metrics["grid"]``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_metrics_json(metrics, out_dir)
    ref = metrics["reference"]
    warn = "".join(f"<li class='warn'>{html.escape(w)}</li>" for w in metrics.get("warnings", []))
    flagged = "".join(
        f"<li><b>{html.escape(lab)}</b>: {html.escape(', '.join(c['flagged']) or 'none')}</li>"
        for lab, c in metrics["candidates"].items()
    )
    figures = _figures(metrics, reference, candidates, max_histograms, examples, model_dir)
    showers = (
        "<h3>Single showers</h3><p>The first showers of the reference (left) and of each "
        "candidate (right; with <code>--like</code> generation, the same incident energies and "
        "configurations), in the layers holding most energy.</p><div class='wide'>"
        + "".join(figures["showers"])
        + "</div>"
        if figures["showers"]
        else ""
    )
    training = (
        "<h3>Training</h3><div class='wide'>" + "".join(figures["training"]) + "</div>"
        if figures["training"]
        else ""
    )
    shown = min(max_histograms, len(reference.names))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>caloforge evaluation</title>
<style>{_CSS}</style></head><body>
<h1>caloforge evaluation</h1>
<p>Reference: <code>{html.escape(ref["source"])}</code>, {ref["n_showers"]} showers,
geometry <code>{html.escape(ref["geometry"])}</code> ({ref["n_cells"]} cells).
Seed {metrics["settings"]["seed"]}, {metrics["settings"]["n_bins"]} bins per observable,
hit threshold {metrics["settings"]["hit_threshold_mev"]} MeV.</p>
<h2>Metrics</h2>
{_summary_table(metrics)}
<p>AUC 0.5: indistinguishable from the reference; 1.0: trivially separable (held-out test split,
Hanley-McNeil error). FPD/KPD: arXiv:2211.10295 on the standardised high-level observables.</p>
{_speed_section(metrics)}
<h3>Flagged observables (separation power above the finite-sample floor by more than
{SEPARATION_THRESHOLD} and by 3 standard errors)</h3><ul>{flagged}</ul>
{"<h3>Warnings</h3><ul>" + warn + "</ul>" if warn else ""}
<h2>Per observable</h2>
<p>Separation power S = ½ Σ (p−q)²/(p+q) (0 identical, 1 disjoint) and Wasserstein-1 (in the
observable's unit), worst first. Expected S for two samples of one distribution:
{", ".join(f"{html.escape(lab)} {c['separation_floor']:.4f}" for lab, c in metrics["candidates"].items())}.</p>
{_observable_table(metrics, reference)}
{_per_config_table(metrics)}
{_grid_section(metrics, grid)}
<h2>Figures</h2>
<h3>Response</h3>
<p>Linearity and resolution versus incident energy; E_tot/E_inc at each energy point; the
cell-energy spectrum.</p>
<div class="wide">{"".join(figures["response"][:2])}</div>
<div class="figs">{"".join(figures["response"][2:])}</div>
<h3>Average images</h3><div class="wide">{"".join(figures["images"])}</div>
{showers}
<h3>Correlations</h3><div class="wide">{"".join(figures["correlations"])}</div>
{training}
<h3>Histograms</h3>
<p>Histograms are shown for the {shown} observables with the largest separation power, of
{len(reference.names)}. Ratio panels: points outside the drawn range are arrows at its edge;
values outside the histogram range are counted in the first or last bin, and the legend's
title gives each sample's fraction below / above the range when there are any.</p>
<div class="figs">{"".join(figures["histograms"])}</div>
</body></html>
"""
    path = out_dir / "report.html"
    atomic_write_text(path, page)
    return path
