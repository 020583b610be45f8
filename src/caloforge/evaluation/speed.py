"""Fidelity against speed: the generation times of the evaluated candidates, from a
``caloforge bench`` result, beside their classifier AUCs (the report's Pareto section).

A generated sample names the model that made it (its ``model`` attribute, written by
``caloforge generate``); a bench result lists the model folders it timed (``models``) and one row
per (what, back-end, device, threads, batch) with the seconds per shower (``rows``). A candidate
is matched to the bench's rows of the same model folder (resolved paths); the reference engine's
rows (``what == "cascade"``) give the same run's time of the cascade Monte Carlo, per thread
count. Candidates whose model the bench did not time are left out of the section.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from caloforge.bench.labels import model_label

__all__ = ["candidate_model", "read_bench", "speed_summary"]

#: keys every row of a bench result must have
ROW_KEYS = ("what", "backend", "device", "threads", "batch", "per_shower_s")


def read_bench(path: str | Path) -> dict[str, Any]:
    """A ``caloforge bench`` result (its ``.json``), checked; a one-line ValueError naming the
    file and key otherwise."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        msg = f"{path}: not a readable caloforge bench result (.json): {exc}"
        raise ValueError(msg) from exc
    check_bench(doc, str(path))
    return dict(doc)


def check_bench(doc: Any, where: str) -> None:
    """Raise a one-line ValueError unless ``doc`` has a ``models`` list and ``rows`` with
    :data:`ROW_KEYS` and a positive ``per_shower_s`` (seconds)."""
    if not isinstance(doc, Mapping):
        msg = f"{where}: a bench result must be a JSON object with 'models' and 'rows'"
        raise ValueError(msg)
    if not isinstance(doc.get("models"), list):
        msg = f"{where}: key 'models' must be the list of timed model folders"
        raise ValueError(msg)
    rows = doc.get("rows")
    if not isinstance(rows, list) or not rows:
        msg = f"{where}: key 'rows' must be a non-empty list of timings"
        raise ValueError(msg)
    for i, row in enumerate(rows):
        missing = [k for k in ROW_KEYS if not isinstance(row, Mapping) or k not in row]
        if missing:
            msg = f"{where}: rows[{i}] lacks {', '.join(missing)} (expected {', '.join(ROW_KEYS)})"
            raise ValueError(msg)
        t = row["per_shower_s"]
        if not isinstance(t, int | float) or not t > 0:
            msg = f"{where}: rows[{i}].per_shower_s must be seconds per shower > 0, got {t!r}"
            raise ValueError(msg)


def candidate_model(attrs: Mapping[str, Any]) -> tuple[str, str] | None:
    """(model folder, family) a generated sample names in its attributes (None: not generated
    by ``caloforge generate``)."""
    model, family = attrs.get("model"), attrs.get("family")
    if not isinstance(model, str) or not isinstance(family, str):
        return None
    return model, family


def _same(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def speed_summary(
    bench: Mapping[str, Any], candidates: Mapping[str, tuple[str, str] | None]
) -> dict[str, Any]:
    """Per candidate label (``candidates``: label -> (model folder, family) or None) whose
    model ``bench`` timed: its rows in µs per shower with the speed-up over the cascade of the
    same run and thread count, and the fastest CPU row. ``cascade_us``: the cascade's µs per
    shower per thread count (absent when the bench did not time it)."""
    rows = bench["rows"]
    cascade = {
        r["threads"]: 1e6 * r["per_shower_s"]
        for r in rows
        if r["what"] == "cascade" and r["batch"] == 1
    }
    out: dict[str, Any] = {"cascade_us": {str(k): v for k, v in cascade.items()}, "candidates": {}}
    timed = [str(m) for m in bench["models"]]
    for label, source in candidates.items():
        if source is None:
            continue
        model, family = source
        match = next((m for m in timed if _same(m, model)), None)
        if match is None:
            continue
        what = model_label(family, match)
        mine = []
        for r in rows:
            if r["what"] != what:
                continue
            us = 1e6 * r["per_shower_s"]
            ref = cascade.get(r["threads"])
            mine.append(
                {k: r[k] for k in ("backend", "device", "threads", "batch")}
                | {"us_per_shower": us, "speedup_vs_cascade": ref / us if ref else None}
            )
        if not mine:
            continue
        cpu = [r for r in mine if r["device"] == "cpu"] or mine
        out["candidates"][label] = {
            "model": match,
            "rows": mine,
            "fastest": min(cpu, key=lambda r: r["us_per_shower"]),
        }
    return out
