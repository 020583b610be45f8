"""The report's figures and page: style, ratio panels, axes, colour scales, the training curve,
escaping, and the CI gate of ``caloforge evaluate``."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.text import Text
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.evaluation import evaluate
from caloforge.evaluation.gate import gate_failures
from caloforge.evaluation.observables import ObservableSpec
from caloforge.evaluation.plots import (
    DPI,
    FONT_SIZE,
    average_images_figure,
    config_images_figure,
    correlation_figure,
    figure_png,
    histogram_figure,
    layer_axes,
    needs_log_y,
    place_legend,
    ratio_limits,
    response_figure,
    training_curve_figure,
)
from caloforge.evaluation.report import format_value_error, read_training_log
from caloforge.geometry import get_geometry
from caloforge.io import write_showers
from synthetic import atlas_showers, scaled

runner = CliRunner()
SPEC = ObservableSpec("x", "x", "MeV")


# ---- numbers -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "error", "text"),
    [
        (27.21, 183.4, "30 ± 180"),  # the W1 of E_tot that printed as "27.21 ± 1.8e+02"
        (0.01234, 0.00056, "0.01234 ± 0.00056"),
        (1234.5, 12.0, "1234 ± 12"),
        (3.14159, 0.0, "3.142"),
        (1.0, float("inf"), "1 ± inf"),
    ],
)
def test_value_error_is_rounded_to_the_error(value: float, error: float, text: str) -> None:
    assert format_value_error(value, error) == text


def test_ratio_limits_adapt_and_stay_bounded() -> None:
    lo, hi = ratio_limits([np.array([0.98, 1.01, np.nan, np.inf])])
    assert lo == pytest.approx(0.8 - 0.04)
    assert hi == pytest.approx(1.2 + 0.04)
    lo, hi = ratio_limits([np.array([0.3, 1.0]), np.array([1.9])])
    assert lo == pytest.approx(0.3 - 0.16)
    assert hi == pytest.approx(1.9 + 0.16)
    assert ratio_limits([np.array([0.0, 50.0])]) == (0.0, 3.0)


def test_log_y_only_when_the_values_span_decades() -> None:
    assert needs_log_y([np.array([1.0, 2.0, 50.0])]) is False
    assert needs_log_y([np.array([1e-3, 0.0, 1.0])]) is True
    assert needs_log_y([np.array([0.0])]) is False


# ---- figures -----------------------------------------------------------------------------------
def _texts(fig: Any) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_text().strip()]


def test_points_outside_the_ratio_range_are_edge_arrows() -> None:
    edges = np.linspace(0.0, 10.0, 11)
    ref = np.repeat(np.arange(10) + 0.5, 100)
    cand = np.concatenate([ref, np.full(4000, 9.5)])  # last bin: ~ 8x the reference
    fig = histogram_figure(SPEC, ref, [cand], labels=["c"], edges=edges)
    ratio_ax = fig.axes[1]
    lo, hi = ratio_ax.get_ylim()
    assert hi == 3.0
    arrows = [ln for ln in ratio_ax.lines if ln.get_marker() == "^" and len(ln.get_xdata())]
    assert len(arrows) == 1
    assert list(arrows[0].get_xdata()) == [9.5]
    assert lo < arrows[0].get_ydata()[0] < hi


def _histogram_tops(ax: Any) -> np.ndarray:
    """Display coordinates of every step histogram's bin tops (both ends of each bin)."""
    parts = []
    for patch in ax.patches:
        values, edges, _ = patch.get_data()
        xy = np.column_stack([np.repeat(edges, 2)[1:-1], np.repeat(values, 2)])
        parts.append(ax.transData.transform(xy[xy[:, 1] > 0]))
    return np.concatenate(parts)


@pytest.mark.parametrize("side", ["left", "right"])
def test_legend_goes_to_the_free_corner_and_clear_of_the_data(side: str) -> None:
    rng = np.random.default_rng(3)
    ref = rng.gamma(2.0, 1.0, 5000)  # piled at low x, a long tail to the right
    edges = np.linspace(0.0, 12.0, 25)
    if side == "right":
        ref, edges = -ref, -edges[::-1]
    fig = histogram_figure(SPEC, ref, [ref * 1.05], labels=["c"], edges=edges)
    top = fig.axes[0]
    figure_png(fig)  # draws: the constrained layout has sized the axes
    legend = top.get_legend()
    assert legend._loc == (1 if side == "left" else 2)  # upper right / upper left
    box = legend.get_window_extent()
    inside = [box.contains(x, y) for x, y in _histogram_tops(top)]
    assert not any(inside)


def test_legend_raises_the_y_range_when_no_corner_is_free() -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    x = np.linspace(0.0, 1.0, 50)
    ax.plot(x, np.ones_like(x), label="flat at the top")
    ax.plot(x, np.zeros_like(x), label="flat at the bottom")
    ax.set_ylim(-0.05, 1.05)
    place_legend(ax)
    assert ax.get_legend()._loc == 1
    lo, hi = ax.get_ylim()
    assert lo == -0.05  # widened upwards only
    assert hi > 1.2
    figure_png(fig)
    box = ax.get_legend().get_window_extent()
    top_line = ax.transData.transform(np.column_stack([x, np.ones_like(x)]))
    assert box.y0 > top_line[:, 1].max()  # the data now end below the legend


def test_one_font_scale_and_dpi() -> None:
    rng = np.random.default_rng(0)
    fig = histogram_figure(
        SPEC,
        rng.normal(size=500),
        [rng.normal(size=500)],
        labels=["c"],
        edges=np.linspace(-3, 3, 21),
    )
    png = figure_png(fig)
    width = struct.unpack(">I", png[16:20])[0]
    assert DPI >= 100
    assert width == pytest.approx(6.4 * DPI, abs=2)
    sizes = {round(t.get_fontsize()) for t in _texts(fig)}
    assert sizes <= {FONT_SIZE, FONT_SIZE - 2}, sizes


def test_strips_are_eta_horizontal_with_units() -> None:
    geo = get_geometry("atlas-em-barrel")
    strips = next(i for i, ly in enumerate(geo.layers) if ly.name == "strips")
    axes = layer_axes(geo, strips)
    seg = geo.layers[strips].segmentation
    assert seg.shape == (56, 3)  # n_eta x n_phi
    assert (axes.x_label, axes.y_label) == ("Δη", "Δφ [rad]")
    assert len(axes.x_edges) == 57
    assert len(axes.y_edges) == 4
    image = np.arange(56 * 3, dtype=float).reshape(56, 3)
    assert axes.oriented(image).shape == (3, 56)
    assert axes.oriented(image)[2, 0] == image[0, 2]
    assert axes.x_edges[-1] == pytest.approx(28 * 0.003125)

    images = [[np.ones(geo.layers[i].segmentation.shape) for i in range(len(geo.layers))]] * 2
    fig = average_images_figure(geo, images, labels=["reference", "c"])
    strip_ax = fig.axes[1]  # column order: presampler, strips, middle, back
    assert strip_ax.get_xlabel() == "Δη"
    assert strip_ax.get_ylabel() == "Δφ [rad]"
    assert strip_ax.collections[0].get_array().shape == (3, 56)
    assert strip_ax.get_xlim() == pytest.approx((-0.0875, 0.0875))


def test_configuration_images_show_the_most_energetic_layer_on_one_scale() -> None:
    geo = get_geometry("atlas-em-barrel")
    shapes = [ly.segmentation.shape for ly in geo.layers if ly.n_cells > 0]
    energetic = 1  # of the layers with cells: presampler, strips, middle, back

    def sample(scale: float) -> list[np.ndarray]:
        return [
            np.full(sh, 10.0 * scale if k == energetic else scale) for k, sh in enumerate(shapes)
        ]

    images = {c: [sample(1.0 + c), sample(2.0 + c)] for c in (0, 3, 5)}
    fig = config_images_figure(geo, images, labels=["reference", "c"])
    panels = [ax for ax in fig.axes if ax.get_title()]  # not the colour bar
    assert len(panels) == 3 * 2  # rows: configurations, columns: samples
    assert [ax.get_title() for ax in panels[:2]] == [
        "reference, configuration 0",
        "c, configuration 0",
    ]
    assert panels[-1].get_title() == "c, configuration 5"
    assert fig.get_suptitle().endswith(": strips")
    assert panels[0].collections[0].get_array().shape == (3, 56)  # the strips, transposed
    norms = {id(ax.collections[0].norm) for ax in panels}
    assert len(norms) == 1
    norm = panels[0].collections[0].norm
    assert norm.vmin <= 10.0  # configuration 0, reference
    assert norm.vmax >= 70.0  # configuration 5, sample c


def test_correlation_scale_holds_the_largest_difference() -> None:
    diff = np.zeros((3, 3))
    diff[0, 1] = diff[1, 0] = 1.06
    fig = correlation_figure(["a", "b", "c"], [diff], labels=["c"])
    assert fig.axes[0].images[0].get_clim() == pytest.approx((-1.1, 1.1))
    ticks = fig.axes[0].get_xticklabels()
    assert min(t.get_fontsize() for t in ticks) >= 7


def test_response_ticks_are_the_energy_points() -> None:
    resp = {
        "e_inc_mev": [16_000.0, 32_000.0, 65_000.0],
        "linearity": [0.98, 0.97, 0.96],
        "linearity_err": [0.001] * 3,
        "resolution": [0.03, 0.02, 0.015],
        "resolution_err": [0.001] * 3,
    }
    fig = response_figure(resp, [resp], labels=["c"])
    for ax in fig.axes:
        assert list(ax.get_xticks()) == pytest.approx([16.0, 32.0, 65.0])
        assert [t.get_text() for t in ax.get_xticklabels()] == ["16", "32", "65"]
        assert len(ax.xaxis.get_minorticklocs()) == 0


def test_training_log_is_read_and_drawn(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text(
        "step,name,value\n10,critic,-3.0\n20,critic,-1.0\n0,val_score,2.0\n20,val_score,0.5\n"
    )
    curves = read_training_log(log)
    assert list(curves["critic"][0]) == [10.0, 20.0]
    assert list(curves["val_score"][1]) == [2.0, 0.5]
    fig = training_curve_figure(curves)
    assert [ln.get_label() for ln in fig.axes[1].lines] == ["score"]
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"bad\.csv: expected the columns step,name,value"):
        read_training_log(tmp_path / "bad.csv")


# ---- the page ----------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::caloforge.evaluation.metrics.SmallSampleWarning")
@pytest.mark.slow  # > 10 s on 2 cores (a whole evaluate / simulate-train-evaluate run)
def test_report_sections_and_escaping(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "best").mkdir(parents=True)
    (model / "log.csv").write_text("step,name,value\n0,loss,1.0\n10,loss,0.5\n")
    evaluate(
        atlas_showers(300, 31),
        [scaled(atlas_showers(300, 32), 1.1)],
        labels=["<b>hot</b>"],
        out_dir=tmp_path / "report",
        classifier=False,
        max_histograms=2,
        n_bootstrap=2,
        model_dir=model / "best",
    )
    page = (tmp_path / "report" / "report.html").read_text()
    assert "<b>hot" not in page
    assert "&lt;b&gt;hot&lt;/b&gt;" in page
    for alt in (
        "E_tot / E_inc per incident energy",
        "single showers reference and &lt;b&gt;hot&lt;/b&gt;",
        "training curve",
        "average images all showers",
    ):
        assert f'alt="{alt}' in page, alt
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    # floor (40 - 1) (1/300 + 1/300) / 4 = 0.065, well above the 0.02 threshold: said plainly
    assert any(
        "already differ by a separation power of ~0.065; observables are flagged only above "
        "that by more than 0.02" in w
        for w in metrics["warnings"]
    ), metrics["warnings"]
    w1 = metrics["candidates"]["<b>hot</b>"]["observables"]["e_tot"]
    assert format_value_error(w1["wasserstein"], w1["wasserstein_err"]) in page


# ---- the CI gate -------------------------------------------------------------------------------
def test_gate_failures() -> None:
    metrics = {
        "candidates": {
            "a": {
                "flagged": ["e_ratio", "cell_spectrum"],
                "classifier": {
                    "low_level": {"auc": 0.71, "error": 0.01},
                    "high_level": {"auc": 0.55, "error": 0.01},
                },
            },
            "b": {"flagged": []},
        }
    }
    assert gate_failures(metrics) == []
    assert gate_failures(metrics, fail_on_flag=True) == ["a: 2 flagged: e_ratio, cell_spectrum"]
    assert gate_failures(metrics, max_auc=0.6) == [
        "a: low-level classifier AUC 0.710 ± 0.010 > 0.6"
    ]
    assert len(gate_failures(metrics, fail_on_flag=True, max_auc=0.5)) == 3
    with pytest.raises(ValueError, match="--max-auc must be in"):
        gate_failures(metrics, max_auc=1.5)


@pytest.mark.filterwarnings("ignore::caloforge.evaluation.metrics.SmallSampleWarning")
@pytest.mark.slow  # > 10 s on 2 cores (a whole evaluate / simulate-train-evaluate run)
def test_cli_fail_on_flag_exit_status(tmp_path: Path) -> None:
    ref = write_showers(tmp_path / "ref.h5", atlas_showers(300, 41))
    hot = write_showers(tmp_path / "hot.h5", scaled(atlas_showers(300, 42), 1.2))
    args = ["evaluate", "-r", str(ref), "-c", str(hot), "-l", "hot", "--no-classifier",
            "--max-histograms", "1"]  # fmt: skip
    plain = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert plain.exit_code == 0, plain.output
    gated = runner.invoke(app, [*args, "--out", str(tmp_path / "b"), "--fail-on-flag"])
    assert gated.exit_code == 1, gated.output
    assert "FAIL hot: " in gated.output
    assert "e_ratio" in gated.output
    bad = runner.invoke(app, [*args, "--out", str(tmp_path / "c"), "--max-auc", "2"])
    assert bad.exit_code == 2
    assert "--max-auc must be in [0, 1], got 2.0" in " ".join(bad.output.split())
