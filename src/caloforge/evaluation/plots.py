"""Figures of the evaluation report, in the mplhep (HEP) style.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global
figure registry, no interactive backend: PNGs are rendered with the Agg canvas), inside
:func:`hep_style`, which applies the mplhep ROOT style at one font scale (:data:`FONT_SIZE`)
only for the duration of the call; PNGs are written at :data:`DPI`. All plotting arguments
after the data are keyword-only.

Conventions shared by every figure:

- ratio panels (candidate / reference) take their range from the points they show
  (:func:`ratio_limits`); a point outside it is drawn as an arrow at the panel's edge;
- a y axis is logarithmic when the drawn values span more than :data:`LOG_Y_DECADES` decades
  (:func:`needs_log_y`);
- a legend sits in the corner the data reach least into, the y range widened until the data
  clear it (:func:`place_legend`; never matplotlib's ``loc="best"``);
- images are drawn on their cells' real edges: η×φ layers with Δη horizontal and Δφ [rad]
  vertical, Cartesian layers as x/y [mm], polar layers as r [mm] × α [rad].
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import matplotlib.style
import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import QuadMesh
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.patches import StepPatch
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from caloforge.evaluation.observables import ObservableSpec
from caloforge.geometry import Geometry

__all__ = [
    "DPI",
    "FONT_SIZE",
    "LOG_Y_DECADES",
    "LayerAxes",
    "average_images_figure",
    "config_images_figure",
    "correlation_figure",
    "figure_png",
    "flow_fractions",
    "flow_note",
    "hep_style",
    "histogram_figure",
    "layer_axes",
    "needs_log_y",
    "place_legend",
    "ratio_limits",
    "response_figure",
    "response_histograms_figure",
    "shower_displays_figure",
    "spectrum_figure",
    "training_curve_figure",
]

REFERENCE_COLOUR = "0.6"
#: base font size (pt) of every text in every figure; tick labels and legends one step smaller
FONT_SIZE = 13
#: resolution of the report's PNGs
DPI = 110
#: a y axis spanning more decades than this is drawn logarithmic
LOG_Y_DECADES = 2.0
#: the ratio panel never extends beyond this range (points outside become edge arrows)
RATIO_BOUNDS = (0.0, 3.0)


@contextlib.contextmanager
def hep_style() -> Iterator[None]:
    """mplhep's ROOT style at one font scale, scoped; matplotlib's chatter silenced inside."""
    small = FONT_SIZE - 2
    with mpl.rc_context(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="matplotlib")
        warnings.filterwarnings("ignore", module="mplhep")
        matplotlib.style.use(mplhep.style.ROOT)
        mpl.rcParams.update(
            {
                "figure.dpi": DPI,
                "font.size": FONT_SIZE,
                "axes.labelsize": FONT_SIZE,
                "axes.titlesize": FONT_SIZE,
                "figure.titlesize": FONT_SIZE,
                "xtick.labelsize": small,
                "ytick.labelsize": small,
                "legend.fontsize": small,
                "legend.title_fontsize": small,
                # never "best": it tests every candidate box against every path segment at
                # draw time (seconds per figure, and a UserWarning); see place_legend
                "legend.loc": "upper right",
                "axes.labelpad": 4.0,
                "xaxis.labellocation": "right",
                "yaxis.labellocation": "top",
            }
        )
        yield


def figure_png(fig: Figure, *, dpi: int = DPI) -> bytes:
    """Render ``fig`` to PNG bytes with the Agg canvas, drawing it once (``savefig`` draws a
    figure with a layout engine twice: 10% of the report's time, for the same picture)."""
    buf = io.BytesIO()
    with hep_style():
        fig.set_dpi(dpi)
        FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()


# ---- shared helpers ----------------------------------------------------------------------------
def ratio_limits(ratios: Sequence[np.ndarray], *, pad: float = 0.1) -> tuple[float, float]:
    """y range of a ratio panel: the finite ratios' range padded by ``pad`` of its span, always
    holding 1 ± 0.2 and never beyond :data:`RATIO_BOUNDS`."""
    values = np.concatenate([np.asarray(r, dtype=float).ravel() for r in ratios] or [np.empty(0)])
    values = values[np.isfinite(values)]
    lo, hi = (float(values.min()), float(values.max())) if values.size else (1.0, 1.0)
    lo, hi = min(lo, 0.8), max(hi, 1.2)
    span = hi - lo
    return max(lo - pad * span, RATIO_BOUNDS[0]), min(hi + pad * span, RATIO_BOUNDS[1])


def needs_log_y(values: Sequence[np.ndarray], decades: float = LOG_Y_DECADES) -> bool:
    """True when the positive values span more than ``decades`` decades."""
    pooled = np.concatenate([np.asarray(v, dtype=float).ravel() for v in values] or [np.empty(0)])
    positive = pooled[np.isfinite(pooled) & (pooled > 0)]
    return bool(positive.size) and math.log10(positive.max() / positive.min()) > decades


#: the legend corners place_legend chooses among, in order of preference on a tie
LEGEND_CORNERS = ("upper right", "upper left", "lower right", "lower left")


def _drawn_points(ax: Axes) -> np.ndarray:
    """(x, y) in axes fractions of every line's points and every step histogram's bin tops
    (filled ones also at the axes' bottom, which they cover)."""
    ax.get_xlim(), ax.get_ylim()  # settle autoscaling before transforming
    to_axes = ax.transAxes.inverted()
    parts = [np.empty((0, 2))]
    for line in ax.lines:
        xy = np.asarray(line.get_xydata(), dtype=float)
        parts.append(to_axes.transform((line.get_transform()).transform(xy)))
    for patch in ax.patches:
        if isinstance(patch, StepPatch):
            values, edges, _ = patch.get_data()
            x = np.repeat(np.asarray(edges, dtype=float), 2)[1:-1]
            xy = np.column_stack([x, np.repeat(np.asarray(values, dtype=float), 2)])
            tops = to_axes.transform(patch.get_transform().transform(xy))
            parts.append(tops)
            if patch.get_fill():
                parts.append(np.column_stack([tops[:, 0], np.zeros(len(tops))]))
    points = np.concatenate(parts)
    return points[np.all(np.isfinite(points), axis=1)]


def _legend_height(ax: Axes, legend: Legend, ncols: int) -> float:
    """The legend's height as a fraction of the axes' (estimated from its rows and font)."""
    title = legend.get_title().get_text()
    n_rows = math.ceil(len(legend.texts) / max(ncols, 1)) + (title.count("\n") + 1 if title else 0)
    size = float(legend.texts[0].get_fontsize()) if legend.texts else float(FONT_SIZE)
    height_pt = (n_rows * (1.0 + legend.labelspacing) + 2 * legend.borderpad) * size
    fig = ax.get_figure(root=True)
    axes_pt = ax.get_position().height * (fig.get_figheight() if fig else 1.0) * 72.0
    return float(height_pt / max(axes_pt, 1.0))


def place_legend(ax: Axes, **kwargs: Any) -> Legend:
    """``ax.legend(**kwargs)`` in the corner of :data:`LEGEND_CORNERS` the drawn data reach
    least into, with the y range widened (upwards for an upper corner, downwards for a lower
    one) until the data stay clear of the legend's estimated height.

    Matplotlib's ``loc="best"`` does the same search against every path segment at draw
    time: seconds per figure for step histograms with error bars on a loaded machine, and a
    UserWarning when it is slow; this looks at the points only."""
    points = _drawn_points(ax)
    fx, fy = points[:, 0], points[:, 1]
    left, right = fx <= 0.55, fx >= 0.45
    reach = {
        "upper right": fy[right].max(initial=0.0),
        "upper left": fy[left].max(initial=0.0),
        "lower right": 1.0 - fy[right].min(initial=1.0),
        "lower left": 1.0 - fy[left].min(initial=1.0),
    }
    loc = min(LEGEND_CORNERS, key=lambda c: reach[c])
    legend = ax.legend(**{"loc": loc, **kwargs})
    room = 1.0 - _legend_height(ax, legend, int(kwargs.get("ncols", 1))) - 0.04
    if reach[loc] > room > 0.2:
        to_data = ax.transAxes + ax.transData.inverted()
        if loc.startswith("upper"):
            ax.set_ylim(top=float(to_data.transform((0.0, reach[loc] / room))[1]))
        else:
            below = (1.0 - reach[loc] - (1.0 - room)) / room
            ax.set_ylim(bottom=float(to_data.transform((0.0, below))[1]))
    return legend


def _density(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised density and its Poisson error; under/overflow folded into the edge bins."""
    inner = np.nextafter(edges[-1], edges[0])
    counts = np.histogram(np.clip(values, edges[0], inner), bins=edges)[0].astype(float)
    norm = max(counts.sum(), 1.0) * np.diff(edges)
    return counts / norm, np.sqrt(counts) / norm


def flow_fractions(values: np.ndarray, edges: np.ndarray) -> tuple[float, float]:
    """Fractions of ``values`` below the first edge and at or above the last one (the
    underflow and overflow that the figures fold into the end bins)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        return 0.0, 0.0
    return float((v < edges[0]).mean()), float((v >= edges[-1]).mean())


def flow_note(labels: Sequence[str], samples: Sequence[np.ndarray], edges: np.ndarray) -> str:
    """The legend title saying how much of each sample lies outside the drawn range (counted in
    the end bins); empty when nothing does."""
    flows = [flow_fractions(v, edges) for v in samples]
    if not any(u or o for u, o in flows):
        return ""
    parts = [
        f"{lab} {100 * u:.3g}% / {100 * o:.3g}%" for lab, (u, o) in zip(labels, flows, strict=True)
    ]
    return "under / overflow, in the end bins:\n" + "\n".join(parts)


def _ratio_panel(
    ax: Axes,
    edges: np.ndarray,
    ref: tuple[np.ndarray, np.ndarray],
    cands: Sequence[tuple[np.ndarray, np.ndarray]],
    colours: Sequence[str],
) -> None:
    """candidate / reference with errors; points outside the range as arrows at its edge."""
    centres = 0.5 * (edges[1:] + edges[:-1])
    ax.axhline(1.0, color=REFERENCE_COLOUR, lw=1)
    safe = np.where(ref[0] > 0, ref[0], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = [(d / safe, e / safe) for d, e in cands]
    lo, hi = ratio_limits([r for r, _ in ratios])
    edge_pad = 0.06 * (hi - lo)
    for (r, e), colour in zip(ratios, colours, strict=True):
        inside = np.isfinite(r) & (r >= lo) & (r <= hi)
        ax.errorbar(centres[inside], r[inside], yerr=e[inside], fmt="o", ms=3, color=colour)
        above, below = np.isfinite(r) & (r > hi), np.isfinite(r) & (r < lo)
        ax.plot(centres[above], np.full(above.sum(), hi - edge_pad), "^", ms=7, color=colour)
        ax.plot(centres[below], np.full(below.sum(), lo + edge_pad), "v", ms=7, color=colour)
    ax.set_ylim(lo, hi)
    ax.set_ylabel("cand. / ref.")


def _colours(n: int) -> list[str]:
    cycle = mpl.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    return [cycle[k % len(cycle)] for k in range(n)]


def _axis_label(spec: ObservableSpec) -> str:
    return f"{spec.label} [{spec.unit}]" if spec.unit else spec.label


def _hist_with_ratio(
    edges: np.ndarray,
    ref: tuple[np.ndarray, np.ndarray],
    cands: Sequence[tuple[np.ndarray, np.ndarray]],
    legend: Sequence[str],
    *,
    xlabel: str,
    ylabel: str,
    log_y: bool | None = None,
    legend_title: str = "",
) -> Figure:
    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    colours = _colours(len(cands))
    mplhep.histplot(
        ref[0], edges, ax=top, histtype="fill", color=REFERENCE_COLOUR, label="reference"
    )
    for (d, e), text, colour in zip(cands, legend, colours, strict=True):
        mplhep.histplot(d, edges, yerr=e, ax=top, histtype="step", label=text, color=colour)
    if log_y if log_y is not None else needs_log_y([ref[0], *(d for d, _ in cands)]):
        top.set_yscale("log")
    top.set_ylabel(ylabel)
    place_legend(top, title=legend_title or None)
    _ratio_panel(bottom, edges, ref, cands, colours)
    bottom.set_xlabel(xlabel)
    return fig


# ---- 1-d distributions -------------------------------------------------------------------------
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
    candidate/reference ratio panel; separation powers in the legend when given. Values
    outside ``edges`` are counted in the first/last bin, and the legend's title gives each
    sample's fraction below and above the range (:func:`flow_note`) when there are any."""
    with hep_style():
        ref = _density(reference, edges)
        cands = [_density(c, edges) for c in candidates]
        legend = [
            f"{lab} (S={separations[k]:.3f})" if k < len(separations) else lab
            for k, lab in enumerate(labels)
        ]
        return _hist_with_ratio(
            edges,
            ref,
            cands,
            legend,
            xlabel=_axis_label(spec),
            ylabel="normalised",
            legend_title=flow_note(["reference", *labels], [reference, *candidates], edges),
        )


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
        return _hist_with_ratio(
            edges,
            norm(reference),
            [norm(c) for c in candidates],
            list(labels),
            xlabel="log10(cell energy / MeV)",
            ylabel="cells (normalised)",
            log_y=True,
        )


def response_histograms_figure(
    points: Sequence[str],
    reference: Sequence[np.ndarray],
    candidates: Sequence[Sequence[np.ndarray]],
    *,
    labels: Sequence[str],
    n_bins: int = 30,
) -> Figure:
    """E_tot / E_inc per incident-energy point: one panel per point (titles ``points``),
    reference filled, candidates as lines, 0.2-99.8% quantile range of the pooled values
    (values outside in the end bins, their fractions in the panel's legend title).
    ``reference[k]`` and ``candidates[i][k]`` hold the ratios of point ``k``."""
    from caloforge.evaluation.metrics import shared_bins

    n = len(points)
    n_cols = min(n, 3)
    n_rows = max(1, math.ceil(n / n_cols))
    with hep_style():
        fig = Figure(figsize=(4.4 * n_cols, 3.8 * n_rows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(n_rows, n_cols, squeeze=False).ravel())
        colours = _colours(len(candidates))
        for k, ax in enumerate(axes):
            if k >= n:
                ax.set_visible(False)
                continue
            samples = [reference[k], *(c[k] for c in candidates)]
            edges = shared_bins(*samples, n_bins=n_bins, quantile=0.002)
            ref = _density(reference[k], edges)
            mplhep.histplot(
                ref[0], edges, ax=ax, histtype="fill", color=REFERENCE_COLOUR, label="reference"
            )
            for i, (cand, lab) in enumerate(zip(candidates, labels, strict=True)):
                d, e = _density(cand[k], edges)
                mplhep.histplot(
                    d, edges, yerr=e, ax=ax, histtype="step", label=lab, color=colours[i]
                )
            ax.set_title(points[k])
            ax.set_xlabel("E_tot / E_inc")
            ax.set_ylabel("normalised")
            ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(4))
            note = flow_note(["reference", *labels], samples, edges)
            if k == 0 or note:
                place_legend(ax, title=note or None)
    return fig


def response_figure(
    reference: Mapping[str, Sequence[float]],
    candidates: Sequence[Mapping[str, Sequence[float]]],
    *,
    labels: Sequence[str],
) -> Figure:
    """Linearity ``<E_tot>/E_inc`` and resolution ``sigma/mu`` versus incident energy (log x,
    ticks at the energy points only, so labels never overlap)."""
    with hep_style():
        fig = Figure(figsize=(11, 4.6), layout="constrained")
        lin, res = fig.subplots(1, 2)
        colours = _colours(len(candidates))
        for resp, lab, style in [
            (reference, "reference", {"color": "k", "marker": "s"}),
            *[
                (c, lab, {"marker": "o", "color": col})
                for c, lab, col in zip(candidates, labels, colours, strict=True)
            ],
        ]:
            e_gev = np.asarray(resp["e_inc_mev"]) / 1000.0
            lin.errorbar(e_gev, resp["linearity"], yerr=resp["linearity_err"], label=lab, **style)
            res.errorbar(e_gev, resp["resolution"], yerr=resp["resolution_err"], label=lab, **style)
        ticks = np.asarray(reference["e_inc_mev"], dtype=float) / 1000.0
        for ax, name in [(lin, "<E_tot> / E_inc"), (res, "σ(E_tot) / <E_tot>")]:
            ax.set_xscale("log")
            _energy_ticks(ax, ticks)
            ax.set_xlabel("E_inc [GeV]")
            ax.set_ylabel(name)
            place_legend(ax)
    return fig


def _energy_ticks(ax: Axes, energies_gev: np.ndarray, max_ticks: int = 6) -> None:
    """Major ticks at (at most ``max_ticks`` of) the energy points, no minor tick labels."""
    e = np.unique(energies_gev[energies_gev > 0])
    if e.size == 0:
        return
    if e.size > max_ticks:
        e = e[np.unique(np.round(np.linspace(0, e.size - 1, max_ticks)).astype(int))]
    ax.xaxis.set_major_locator(FixedLocator(e.tolist()))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.3g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    lo, hi = float(e.min()), float(e.max())
    ax.set_xlim(lo / 1.3, hi * 1.3)


# ---- images --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerAxes:
    """How one layer's image is drawn: cell edges along the horizontal (``x_edges``) and
    vertical (``y_edges``) axes, their labels with units, and whether the layer's
    ``segmentation.shape`` image is transposed to (vertical, horizontal)."""

    name: str
    x_edges: np.ndarray
    y_edges: np.ndarray
    x_label: str
    y_label: str
    transpose: bool

    def oriented(self, image: np.ndarray) -> np.ndarray:
        """(len(y_edges) - 1, len(x_edges) - 1) array for ``pcolormesh``."""
        return np.asarray(image, dtype=float).T if self.transpose else np.asarray(image, float)


def _centred_edges(n: int, pitch: float) -> np.ndarray:
    return (np.arange(n + 1) - n / 2) * pitch


def layer_axes(geometry: Geometry, index: int) -> LayerAxes:
    """Drawing axes of layer ``index``: Δη × Δφ [rad] (η horizontal), x × y [mm] or
    r [mm] × α [rad]."""
    layer = geometry.layers[index]
    seg = layer.segmentation
    if seg.kind == "etaphi":
        return LayerAxes(
            layer.name,
            _centred_edges(seg.n_eta, seg.d_eta),  # type: ignore[union-attr]
            _centred_edges(seg.n_phi, seg.d_phi),  # type: ignore[union-attr]
            "Δη",
            "Δφ [rad]",
            transpose=True,  # (n_eta, n_phi) -> phi vertical, eta horizontal
        )
    if seg.kind == "cartesian":
        return LayerAxes(
            layer.name,
            seg.x_edges_mm(),  # type: ignore[union-attr]
            seg.y_edges_mm(),  # type: ignore[union-attr]
            "x [mm]",
            "y [mm]",
            transpose=False,  # (ny, nx)
        )
    return LayerAxes(
        layer.name,
        np.asarray(seg.r_edges_mm, dtype=float),  # type: ignore[union-attr]
        seg.alpha_edges(),  # type: ignore[union-attr]
        "r [mm]",
        "α [rad]",
        transpose=False,  # (n_alpha, n_r)
    )


def shown_layers(geometry: Geometry, max_layers: int = 8) -> list[int]:
    """Indices of the layers with cells that the image figures draw: all of them, or
    ``max_layers`` evenly spread over the depth for deep calorimeters."""
    filled = [i for i, ly in enumerate(geometry.layers) if ly.n_cells > 0]
    if len(filled) <= max_layers:
        return filled
    pick = np.unique(np.round(np.linspace(0, len(filled) - 1, max_layers)).astype(int))
    return [filled[k] for k in pick]


def _log_norm(images: Sequence[np.ndarray]) -> LogNorm:
    positive = [np.asarray(im)[np.asarray(im) > 0] for im in images]
    values = np.concatenate(positive) if positive else np.array([])
    vmax = float(values.max()) if values.size else 1.0
    vmin = float(values.min()) if values.size else 1e-3
    return LogNorm(vmin=max(vmin, vmax * 1e-5), vmax=max(vmax, vmin * 10))


def _draw_layer(ax: Axes, axes: LayerAxes, image: np.ndarray, norm: LogNorm) -> QuadMesh:
    shown = axes.oriented(image)
    mesh = ax.pcolormesh(
        axes.x_edges, axes.y_edges, np.where(shown > 0, shown, np.nan), norm=norm, cmap="viridis"
    )
    ax.set_xlabel(axes.x_label)
    ax.set_ylabel(axes.y_label)
    ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(4))
    ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(4))
    ax.minorticks_off()
    return mesh


def _colour_bar(fig: Figure, mesh: QuadMesh, axes: Any, **kwargs: Any) -> None:
    """A log colour bar for ``axes`` with ticks at the decades only: its minor ticks (eight per
    decade over five decades) cost a third of an image figure's drawing time."""
    bar = fig.colorbar(mesh, ax=axes, **kwargs)
    bar.ax.yaxis.set_minor_locator(NullLocator())


def average_images_figure(
    geometry: Geometry,
    images: Sequence[Sequence[np.ndarray]],
    *,
    labels: Sequence[str],
    title: str = "",
) -> Figure:
    """Average cell energy per layer: columns are layers (:func:`shown_layers`), rows are
    samples (reference first); ``images[i]`` holds sample ``i``'s images of *every* layer with
    cells, each of ``segmentation.shape``. One log colour scale per layer [MeV]."""
    filled = [i for i, ly in enumerate(geometry.layers) if ly.n_cells > 0]
    columns = shown_layers(geometry)
    n_rows, n_cols = len(images), len(columns)
    with hep_style():
        fig = Figure(figsize=(3.9 * n_cols + 0.8, 3.3 * n_rows + 0.5), layout="constrained")
        axes = fig.subplots(n_rows, n_cols, squeeze=False)
        for j, layer in enumerate(columns):
            k = filled.index(layer)
            spec = layer_axes(geometry, layer)
            norm = _log_norm([im[k] for im in images])
            meshes = [_draw_layer(axes[i, j], spec, images[i][k], norm) for i in range(n_rows)]
            for i in range(n_rows):
                axes[i, j].set_title(f"{labels[i]}: {spec.name}")
            _colour_bar(fig, meshes[0], axes[:, j], shrink=0.9, label="mean cell energy [MeV]")
        if title:
            fig.suptitle(title)
    return fig


def config_images_figure(
    geometry: Geometry,
    images: Mapping[int, Sequence[Sequence[np.ndarray]]],
    *,
    labels: Sequence[str],
) -> Figure:
    """Average cell energy per alignment configuration in one layer: rows are configurations,
    columns are samples (reference first); ``images[c][i]`` holds sample ``i``'s images of
    every layer with cells in configuration ``c``, as :func:`average_images_figure` takes them.
    The layer is the one holding most of the reference's energy over all configurations; one
    log colour scale [MeV] for the whole figure."""
    filled = [i for i, ly in enumerate(geometry.layers) if ly.n_cells > 0]
    configs = sorted(images)
    energy = np.sum([[float(np.sum(im)) for im in images[c][0]] for c in configs], axis=0)
    k = int(np.argmax(energy))
    spec = layer_axes(geometry, filled[k])
    n_rows, n_cols = len(configs), len(labels)
    with hep_style():
        fig = Figure(figsize=(3.4 * n_cols + 1.0, 2.7 * n_rows + 0.5), layout="constrained")
        axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=True, sharey=True)
        norm = _log_norm([images[c][i][k] for c in configs for i in range(n_cols)])
        mesh = None
        for r, c in enumerate(configs):
            for i, label in enumerate(labels):
                mesh = _draw_layer(axes[r, i], spec, images[c][i][k], norm)
                axes[r, i].set_title(f"{label}, configuration {c}")
                if r < n_rows - 1:
                    axes[r, i].set_xlabel("")
                if i > 0:
                    axes[r, i].set_ylabel("")
        if mesh is not None:
            _colour_bar(fig, mesh, axes, shrink=0.6, label="mean cell energy [MeV]")
        fig.suptitle(f"average images per configuration: {spec.name}")
    return fig


def shower_displays_figure(
    geometry: Geometry,
    samples: Sequence[tuple[str, np.ndarray, np.ndarray]],
    *,
    max_layers: int = 3,
) -> Figure:
    """Single showers side by side: ``samples`` are (label, cells (k, n_cells) MeV,
    incident_energy (k,) MeV), reference first; row i shows shower i of every sample. Columns:
    for each sample, the ``max_layers`` layers holding most of the first sample's energy, in
    depth order. One log colour scale [MeV] per layer, shared by all samples and rows."""
    filled = [i for i, ly in enumerate(geometry.layers) if ly.n_cells > 0]
    first = np.atleast_2d(np.asarray(samples[0][1], dtype=float))
    energy = [float(first[:, geometry.layer_slice(i)].sum()) for i in filled]
    keep = sorted(filled[k] for k in np.argsort(energy)[::-1][:max_layers])
    n_rows = max(len(np.atleast_2d(c)) for _, c, _ in samples)
    n_cols = len(keep) * len(samples)
    with hep_style():
        fig = Figure(figsize=(2.9 * n_cols + 1.2, 2.7 * n_rows + 0.5), layout="constrained")
        axes = fig.subplots(n_rows, n_cols, squeeze=False)
        for j, layer in enumerate(keep):
            spec = layer_axes(geometry, layer)
            images = [
                [geometry.layer_images(row[None, :], layer)[0] for row in np.atleast_2d(c)]
                for _, c, _ in samples
            ]
            norm = _log_norm([im for per_sample in images for im in per_sample])
            meshes = []
            for s_idx, (label, _, energies) in enumerate(samples):
                col = s_idx * len(keep) + j
                for i in range(n_rows):
                    ax = axes[i, col]
                    if i >= len(images[s_idx]):
                        ax.set_visible(False)
                        continue
                    meshes.append(_draw_layer(ax, spec, images[s_idx][i], norm))
                    ax.set_title(
                        f"{label}: {spec.name}, {energies[i] / 1000:.3g} GeV"
                        if j == 0
                        else spec.name
                    )
            _colour_bar(fig, meshes[-1], axes[:, n_cols - len(keep) + j], label="cell energy [MeV]")
    return fig


# ---- correlations, training ----------------------------------------------------------------
def correlation_figure(
    names: Sequence[str], differences: Sequence[np.ndarray], *, labels: Sequence[str]
) -> Figure:
    """Candidate minus reference correlation matrix of the summary observables; the colour
    scale spans the largest |Δ| of all candidates (rounded up to 0.1), so nothing is clipped."""
    n = len(differences)
    largest = max((float(np.abs(d).max()) for d in differences if np.size(d)), default=0.0)
    vmax = max(math.ceil(largest * 10 - 1e-9) / 10, 0.1)
    tick_size = max(7.0, min(FONT_SIZE - 2.0, 260.0 / max(len(names), 1)))
    size = min(5 + 0.3 * len(names), 13)
    with hep_style():
        fig = Figure(figsize=(size * n + 1.2, size), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)[0])
        meshes = []
        for ax, diff, lab in zip(axes, differences, labels, strict=True):
            mesh = ax.imshow(diff, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set_xticks(range(len(names)), names, rotation=90, fontsize=tick_size)
            ax.set_yticks(range(len(names)), names, fontsize=tick_size)
            ax.minorticks_off()
            ax.set_title(f"{lab} − reference (max |Δ| {float(np.abs(diff).max()):.2f})")
            meshes.append(mesh)
        fig.colorbar(meshes[0], ax=axes, shrink=0.8, label="Δ correlation")
    return fig


def training_curve_figure(curves: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> Figure:
    """Training log (``log.csv`` rows step,name,value): losses (every name not starting with
    ``val_``) on the left, validation separations (``val_*``) on the right, versus step."""
    losses = {k: v for k, v in curves.items() if not k.startswith("val_")}
    val = {k: v for k, v in curves.items() if k.startswith("val_")}
    with hep_style():
        fig = Figure(figsize=(12, 4.6), layout="constrained")
        left, right = fig.subplots(1, 2)
        for name, (step, value) in losses.items():
            left.plot(step, value, label=name, lw=1.2)
        left.set_xlabel("step")
        left.set_ylabel("loss")
        if losses:
            place_legend(left)
        for name, (step, value) in val.items():
            bold = name == "val_score"
            right.plot(
                step,
                value,
                "o-" if bold else "-",
                lw=2.0 if bold else 1.0,
                ms=3,
                label=name.removeprefix("val_"),
                color="k" if bold else None,
            )
        if needs_log_y([v for _, v in val.values()], decades=1.0):
            right.set_yscale("log")
        right.set_xlabel("step")
        right.set_ylabel("validation metric")
        if val:
            place_legend(right, ncols=2)
    return fig


def speed_figure(
    points: Mapping[str, tuple[float, float, float]], cascade_us: float | None
) -> Figure:
    """Low-level classifier AUC against generation time (µs per shower, log x) per candidate
    (``points``: label -> (µs, AUC, AUC error)), the cascade's time as a vertical line."""
    with hep_style():
        fig = Figure(figsize=(6.5, 4.6), layout="constrained")
        ax = fig.subplots()
        for (label, (us, auc, err)), colour in zip(
            points.items(), _colours(len(points)), strict=True
        ):
            ax.errorbar([us], [auc], yerr=[err], marker="o", color=colour, label=label)
        if cascade_us is not None:
            ax.axvline(cascade_us, color="k", linestyle="--", label="cascade MC")
        ax.axhline(0.5, color="grey", linestyle=":", label="indistinguishable")
        ax.set_xscale("log")
        ax.set_xlabel("µs per shower (fastest CPU setting)")
        ax.set_ylabel("AUC, low-level classifier")
        # models sit at the left, the cascade at the right, AUC 0.5 at the bottom
        ax.legend(loc="center", fontsize="small")
    return fig
