"""Figures of the evaluation report, in the mplhep (HEP) style.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global
figure registry, no interactive backend: PNGs are rendered with the Agg canvas), inside
:func:`hep_style`, which applies the mplhep ROOT style only for the duration of the call.
All plotting arguments after the data are keyword-only.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator, Sequence

import matplotlib as mpl
import matplotlib.style
import mplhep
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from caloforge.evaluation.observables import ObservableSpec

__all__ = [
    "average_images_figure",
    "correlation_figure",
    "figure_png",
    "hep_style",
    "histogram_figure",
    "response_figure",
    "spectrum_figure",
]

REFERENCE_COLOUR = "0.6"


@contextlib.contextmanager
def hep_style() -> Iterator[None]:
    """mplhep's ROOT style, scoped; matplotlib's font and layout chatter silenced inside."""
    with mpl.rc_context(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="matplotlib")
        warnings.filterwarnings("ignore", module="mplhep")
        matplotlib.style.use(mplhep.style.ROOT)
        mpl.rcParams["figure.dpi"] = 72
        yield


def figure_png(fig: Figure, *, dpi: int = 72) -> bytes:
    """Render ``fig`` to PNG bytes with the Agg canvas."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    with hep_style():
        fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _axis_label(spec: ObservableSpec) -> str:
    return f"{spec.label} [{spec.unit}]" if spec.unit else spec.label


def _density(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inner = np.nextafter(edges[-1], edges[0])
    counts = np.histogram(np.clip(values, edges[0], inner), bins=edges)[0].astype(float)
    norm = max(counts.sum(), 1.0) * np.diff(edges)
    return counts / norm, np.sqrt(counts) / norm


def _ratio_panel(
    ax: object, edges: np.ndarray, ref: tuple[np.ndarray, np.ndarray], cands: list, labels: list
) -> None:
    centres = 0.5 * (edges[1:] + edges[:-1])
    ax.axhline(1.0, color=REFERENCE_COLOUR, lw=1)  # type: ignore[attr-defined]
    ref_d, _ = ref
    safe = np.where(ref_d > 0, ref_d, np.nan)
    for (d, e), lab in zip(cands, labels, strict=True):
        with np.errstate(invalid="ignore", divide="ignore"):
            ax.errorbar(centres, d / safe, yerr=e / safe, fmt="o", ms=3, label=lab)  # type: ignore[attr-defined]
    ax.set_ylim(0.5, 1.5)  # type: ignore[attr-defined]
    ax.set_ylabel("cand. / ref.")  # type: ignore[attr-defined]


def histogram_figure(
    spec: ObservableSpec,
    reference: np.ndarray,
    candidates: Sequence[np.ndarray],
    *,
    labels: Sequence[str],
    edges: np.ndarray,
    separations: Sequence[float] = (),
) -> Figure:
    """Normalised histogram of one observable: reference filled, candidates as lines, with a
    candidate/reference ratio panel; separation powers in the legend when given."""
    with hep_style():
        fig = Figure(figsize=(6, 5.5), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
        ref = _density(reference, edges)
        mplhep.histplot(
            ref[0], edges, ax=top, histtype="fill", color=REFERENCE_COLOUR, label="reference"
        )
        cands = [_density(c, edges) for c in candidates]
        for k, ((d, e), lab) in enumerate(zip(cands, labels, strict=True)):
            text = f"{lab} (S={separations[k]:.3f})" if k < len(separations) else lab
            mplhep.histplot(d, edges, yerr=e, ax=top, histtype="step", label=text)
        top.set_ylabel("normalised")
        top.legend(fontsize=9)
        _ratio_panel(bottom, edges, ref, cands, list(labels))
        bottom.set_xlabel(_axis_label(spec), fontsize=11)
    return fig


def spectrum_figure(
    edges_log10_mev: np.ndarray,
    reference: np.ndarray,
    candidates: Sequence[np.ndarray],
    *,
    labels: Sequence[str],
) -> Figure:
    """Cell-energy spectrum (positive cells per log10 E bin, normalised) with ratio panel."""
    filled = np.flatnonzero(reference + np.sum(candidates, axis=0) > 0)
    lo, hi = (filled[0], filled[-1] + 1) if filled.size else (0, len(reference))
    edges = edges_log10_mev[lo : hi + 1]

    def norm(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = np.asarray(c[lo:hi], dtype=float)
        s = max(c.sum(), 1.0) * np.diff(edges)
        return c / s, np.sqrt(c) / s

    with hep_style():
        fig = Figure(figsize=(6, 5.5), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
        ref = norm(reference)
        mplhep.histplot(
            ref[0], edges, ax=top, histtype="fill", color=REFERENCE_COLOUR, label="reference"
        )
        cands = [norm(c) for c in candidates]
        for (d, e), lab in zip(cands, labels, strict=True):
            mplhep.histplot(d, edges, yerr=e, ax=top, histtype="step", label=lab)
        top.set_yscale("log")
        top.set_ylabel("cells (normalised)")
        top.legend(fontsize=9)
        _ratio_panel(bottom, edges, ref, cands, list(labels))
        bottom.set_xlabel("log10(cell energy / MeV)", fontsize=11)
    return fig


def average_images_figure(
    layer_names: Sequence[str],
    images: Sequence[Sequence[np.ndarray]],
    *,
    labels: Sequence[str],
    title: str = "",
) -> Figure:
    """Average image per layer (columns) for each sample (rows: reference first), log colour."""
    n_rows, n_cols = len(images), len(layer_names)
    with hep_style():
        fig = Figure(figsize=(2.6 * n_cols + 1, 2.4 * n_rows + 0.6), layout="constrained")
        axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
        for j in range(n_cols):
            positive = [im[j][im[j] > 0] for im in images]
            values = np.concatenate(positive) if positive else np.array([])
            vmin = float(values.min()) if values.size else 1e-3
            vmax = float(values.max()) if values.size else 1.0
            norm = LogNorm(vmin=max(vmin, vmax * 1e-6), vmax=max(vmax, vmin * 10))
            for i in range(n_rows):
                ax = axes[i, j]
                img = np.asarray(images[i][j], dtype=float)
                shown = img if img.shape[0] >= img.shape[1] else img.T
                mesh = ax.imshow(
                    np.where(shown > 0, shown, np.nan), norm=norm, aspect="auto", cmap="viridis"
                )
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(layer_names[j], fontsize=10)
                if j == 0:
                    ax.set_ylabel(labels[i], fontsize=9)
            fig.colorbar(mesh, ax=axes[:, j], shrink=0.8, label="MeV")
        if title:
            fig.suptitle(title, fontsize=11)
    return fig


def response_figure(
    reference: dict[str, list[float]],
    candidates: Sequence[dict[str, list[float]]],
    *,
    labels: Sequence[str],
) -> Figure:
    """Linearity ``<E_tot>/E_inc`` and resolution ``sigma/mu`` versus incident energy."""
    with hep_style():
        fig = Figure(figsize=(10, 4.5), layout="constrained")
        lin, res = fig.subplots(1, 2)
        for resp, lab, style in [
            (reference, "reference", {"color": "k", "marker": "s"}),
            *[(c, lab, {"marker": "o"}) for c, lab in zip(candidates, labels, strict=True)],
        ]:
            e_gev = np.asarray(resp["e_inc_mev"]) / 1000.0
            lin.errorbar(e_gev, resp["linearity"], yerr=resp["linearity_err"], label=lab, **style)
            res.errorbar(e_gev, resp["resolution"], yerr=resp["resolution_err"], label=lab, **style)
        for ax, name in [(lin, "<E_tot> / E_inc"), (res, "σ(E_tot) / <E_tot>")]:
            ax.set_xscale("log")
            ax.set_xlabel("E_inc [GeV]", fontsize=11)
            ax.set_ylabel(name, fontsize=11)
            ax.legend(fontsize=9)
    return fig


def correlation_figure(
    names: Sequence[str], differences: Sequence[np.ndarray], *, labels: Sequence[str]
) -> Figure:
    """Candidate minus reference correlation matrix of the summary observables."""
    n = len(differences)
    size = min(4 + 0.18 * len(names), 12)
    with hep_style():
        fig = Figure(figsize=(size * n + 1, size), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)[0])
        for ax, diff, lab in zip(axes, differences, labels, strict=True):
            mesh = ax.imshow(diff, cmap="RdBu_r", vmin=-0.5, vmax=0.5)
            ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
            ax.set_yticks(range(len(names)), names, fontsize=6)
            ax.minorticks_off()
            ax.set_title(f"{lab} − reference", fontsize=10)
        fig.colorbar(mesh, ax=axes, shrink=0.8, label="Δ correlation")
    return fig
