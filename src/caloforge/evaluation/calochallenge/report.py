"""``report.html`` of the CaloChallenge protocol: one self-contained page (no image, no script).

Page order: the dataset, the files and the energy scale found in each; the warning that the
published numbers compare with Geant4 when the reference is not the challenge's Geant4 sample
(beside the table it concerns); the leaderboard: this evaluation's candidates (AUC low/high,
FPD, KPD x1e3) above the challenge's published rows for the dataset (the same columns and the
generation time per shower on CPU and GPU); the classifier details; the separation power of
every histogram of the challenge's evaluator, worst first, with its finite-sample floor. Every
label, file name and model name is HTML-escaped.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from caloforge.evaluation.calochallenge.published import (
    GEANT4_WARNING,
    LEADERBOARD_COLUMNS,
    leaderboard_rows,
)
from caloforge.io import atomic_write_text

__all__ = ["challenge_report_html", "write_challenge_report"]

_CSS = """
body { font-family: sans-serif; margin: 1.5em; max-width: 1400px; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th { background: #eee; } td.name { text-align: left; font-family: monospace; }
tr.ours td { background: #e6f0ff; font-weight: bold; }
.warn { color: #a60; } p.warn { border-left: 4px solid #a60; padding-left: 0.6em; }
"""

_E = html.escape


def _leaderboard(result: dict[str, Any]) -> str:
    columns = LEADERBOARD_COLUMNS
    head = "<tr>" + "".join(f"<th>{_E(h)}</th>" for _, h in columns) + "</tr>"
    body = []
    for r in leaderboard_rows(result["dataset"], result["candidates"]):
        name = f"{_E(r['model'])} (this evaluation)" if r["ours"] else _E(r["model"])
        cells = "".join(f"<td>{_E(r[k]) or '-'}</td>" for k, _ in columns[1:])
        cls = " class='ours'" if r["ours"] else ""
        body.append(f"<tr{cls}><td class='name'>{name}</td>{cells}</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _classifiers(result: dict[str, Any]) -> str:
    rows = []
    for label, c in result["candidates"].items():
        for level, r in c.get("classifier", {}).items():
            split = r["split"]
            rows.append(
                f"<tr><td class='name'>{_E(label)}</td><td>{_E(level)}</td>"
                f"<td>{r['auc']:.4f} ± {r['error']:.4f}</td><td>{r['jsd']:.4f}</td>"
                f"<td>{r['best_epoch']}</td><td>{split['train']} / {split['test']} / "
                f"{split['validation']} ({_E(split['rule'])})</td></tr>"
            )
    if not rows:
        return "<p>Classifiers not run.</p>"
    settings = result["settings"]["classifier"]
    recipe = ", ".join(f"{_E(str(k))} {_E(str(v))}" for k, v in settings.items())
    head = (
        "<tr><th>candidate</th><th>inputs</th><th>AUC (validation)</th><th>JSD</th>"
        "<th>best epoch</th><th>showers per sample: train / test / validation</th></tr>"
    )
    return f"<p>Recipe: {recipe}.</p><table>{head}{''.join(rows)}</table>"


def _separations(result: dict[str, Any]) -> str:
    labels = list(result["candidates"])
    if not labels:
        return ""
    names = list(result["candidates"][labels[0]]["separation"])

    def worst(name: str) -> float:
        values = [result["candidates"][lab]["separation"][name] for lab in labels]
        finite = [v for v in values if v == v]
        return max(finite) if len(finite) == len(values) else float("inf")

    head = "<tr><th>histogram</th>" + "".join(
        f"<th>S {_E(lab)}</th><th>floor {_E(lab)}</th>" for lab in labels
    )
    rows = []
    for name in sorted(names, key=worst, reverse=True):
        cells = "".join(
            f"<td>{result['candidates'][lab]['separation'][name]:.4f}</td>"
            f"<td>{result['candidates'][lab]['separation_floor'][name]:.4f}</td>"
            for lab in labels
        )
        rows.append(f"<tr><td class='name'>{_E(name)}</td>{cells}</tr>")
    return f"<table>{head}</tr>{''.join(rows)}</table>"


def challenge_report_html(result: dict[str, Any]) -> str:
    """The page for the result of :func:`~.protocol.evaluate_calochallenge`."""
    ref = result["reference"]
    files = "".join(
        f"<li>{_E(label)}: <code>{_E(c['source'])}</code>, {c['n_showers']} showers, energy "
        f"scale {_E(c['energy_scale'])} ({_E(c['energy_scale_found'])})</li>"
        for label, c in result["candidates"].items()
    )
    comparable = (
        "<p>The reference is the challenge's Geant4 sample: the published numbers compare.</p>"
        if ref["is_geant4"]
        else f"<p class='warn'><b>Not comparable:</b> {_E(GEANT4_WARNING)}.</p>"
    )
    others = [w for w in result["warnings"] if w != GEANT4_WARNING]
    warn = "".join(f"<li class='warn'>{_E(w)}</li>" for w in others)
    source = result["published"]["source"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CaloChallenge {_E(result["dataset"])} evaluation</title>
<style>{_CSS}</style></head><body>
<h1>CaloChallenge dataset {_E(result["dataset"])}: evaluation</h1>
<p>Reference: <code>{_E(ref["source"])}</code>, {ref["n_showers"]} showers, energy scale
{_E(ref["energy_scale"])} ({_E(ref["energy_scale_found"])}). Cells are brought to the
challenge's calibrated scale, then voxels below {result["settings"]["threshold_mev"]:.6g} MeV
are set to 0. Seed {result["settings"]["seed"]}.</p>
<ul>{files}</ul>
<h2>Beside the published results</h2>
{comparable}
{_leaderboard(result)}
<p>Published rows: {_E(source["paper"])}; numbers from {_E(source["file"])}. Times per shower
are the results file's (it does not state their unit); a shower file carries no generation
time, so this evaluation's rows have none (<code>caloforge bench</code> measures it). Empty:
not published.</p>
{"<h3>Warnings</h3><ul>" + warn + "</ul>" if warn else ""}
<h2>Classifiers</h2>
{_classifiers(result)}
<h2>Separation power per histogram</h2>
<p>The challenge's histograms and binnings; S = ½ Σ (p−q)²/(p+q) of the entries inside the
edges, worst first; the floor is what two samples of one distribution of these sizes give.</p>
{_separations(result)}
</body></html>
"""


def write_challenge_report(result: dict[str, Any], out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` (atomically); returns its path."""
    path = out_dir / "report.html"
    atomic_write_text(path, challenge_report_html(result))
    return path
