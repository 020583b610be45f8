"""Figures of the grid observables (:mod:`caloforge.evaluation.grid`), in the report's style:
the hit-energy spectrum in MIP units with each sample's MIP peak marked, and the longitudinal
and radial profiles, each with a candidate / reference ratio panel."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from caloforge.evaluation.grid import MIP_EDGES_LOG10, GridObservables
from caloforge.evaluation.plots import _colours, _hist_with_ratio, hep_style, place_legend

__all__ = ["hit_spectrum_figure", "profile_figures"]


def hit_spectrum_figure(
    reference: GridObservables, candidates: Sequence[GridObservables], *, labels: Sequence[str]
) -> Figure:
    """Hits per log10(E / MIP) bin (normalised), MIP peaks as vertical lines, ratio panel."""
    total = reference.spectrum + np.sum([c.spectrum for c in candidates], axis=0)
    filled = np.flatnonzero(total > 0)
    lo, hi = (filled[0], filled[-1] + 1) if filled.size else (0, len(total))
    edges = MIP_EDGES_LOG10[lo : hi + 1]

    def norm(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = np.asarray(c[lo:hi], dtype=float)
        s = max(c.sum(), 1.0) * np.diff(edges)
        return c / s, np.sqrt(c) / s

    legend = [
        f"{lab} (MIP peak {c.mip_peak:.3f})" for lab, c in zip(labels, candidates, strict=True)
    ]
    with hep_style():
        fig = _hist_with_ratio(
            edges,
            norm(reference.spectrum),
            [norm(c.spectrum) for c in candidates],
            legend,
            xlabel="log10(hit energy / MIP)",
            ylabel="hits (normalised)",
            log_y=True,
        )
        top = fig.axes[0]
        top.axvline(
            np.log10(reference.mip_peak),
            color="k",
            ls="--",
            lw=1,
            label=f"reference MIP peak {reference.mip_peak:.3f}",
        )
        for c, colour in zip(candidates, _colours(len(candidates)), strict=True):
            top.axvline(np.log10(c.mip_peak), color=colour, ls=":", lw=1)
        place_legend(top)
        return fig


def profile_figures(
    reference: GridObservables, candidates: Sequence[GridObservables], *, labels: Sequence[str]
) -> list[Figure]:
    """Longitudinal (mean energy per layer) and radial (mean energy per ring) profiles."""
    n_layers = len(reference.longitudinal)
    specs = [
        (
            np.arange(n_layers + 1) - 0.5,
            "longitudinal",
            "layer",
            "mean energy per layer [MeV]",
        ),
        (reference.radial_edges_mm, "radial", "r [mm]", "mean energy per ring [MeV]"),
    ]
    figs = []
    for edges, kind, xlabel, ylabel in specs:
        ref = (getattr(reference, kind), getattr(reference, f"{kind}_err"))
        cands = [(getattr(c, kind), getattr(c, f"{kind}_err")) for c in candidates]
        with hep_style():
            fig = _hist_with_ratio(
                np.asarray(edges, dtype=float),
                ref,
                cands,
                list(labels),
                xlabel=xlabel,
                ylabel=ylabel,
                log_y=True if kind == "radial" else None,
            )
            fig.axes[0].set_title(f"{kind} profile")
            figs.append(fig)
    return figs
