"""Under- and overflow in the report's histograms: counted in the end bins and shown (each
sample's fraction outside the range, in the legend's title)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.patches import StepPatch

from caloforge.evaluation.observables import ObservableSpec
from caloforge.evaluation.plots import (
    flow_fractions,
    flow_note,
    histogram_figure,
    response_histograms_figure,
)

EDGES = np.linspace(0.0, 10.0, 11)


def test_flow_fractions_of_constructed_values() -> None:
    values = np.array([-1.0, 0.0, 5.0, 9.99, 10.0, 12.0, 3.0, 4.0])
    assert flow_fractions(values, EDGES) == (1 / 8, 2 / 8)  # 10.0 is beyond the last bin
    assert flow_fractions(np.empty(0), EDGES) == (0.0, 0.0)
    assert flow_note(["a"], [np.array([1.0, 2.0])], EDGES) == ""
    note = flow_note(["reference", "gan"], [np.array([1.0, 2.0]), values], EDGES)
    assert note.splitlines() == [
        "under / overflow, in the end bins:",
        "reference 0% / 0%",
        "gan 12.5% / 25%",
    ]


def test_histogram_counts_and_shows_the_overflow() -> None:
    ref = np.repeat(np.arange(10) + 0.5, 10)  # 100 values, all inside
    cand = np.concatenate([ref, np.full(25, 50.0)])  # 25 of 125 far above the range
    fig = histogram_figure(ObservableSpec("x", "x", "MeV"), ref, [cand], labels=["c"], edges=EDGES)
    top = fig.axes[0]
    assert top.get_legend().get_title().get_text().endswith("c 0% / 20%")
    # counted: the last bin holds the overflow (10 + 25 of 125 entries in a unit-width bin)
    steps = [a.get_data().values for a in top.patches if isinstance(a, StepPatch)]
    assert any(h[-1] == pytest.approx(0.28) and h[0] == pytest.approx(0.08) for h in steps)


def test_response_panels_show_their_flow() -> None:
    rng = np.random.default_rng(0)
    ref = [rng.normal(1.0, 0.02, 2000)]
    # four leaking showers in 2000: below the pooled 0.2% quantile (the 8th smallest of 4000)
    cand = [np.concatenate([rng.normal(1.0, 0.02, 1996), [0.1, 0.2, 0.3, 0.4]])]
    fig = response_histograms_figure(["E_inc = 10 GeV"], ref, [cand], labels=["gan"])
    title = fig.axes[0].get_legend().get_title().get_text()
    under = float(title.splitlines()[2].split()[1].rstrip("%"))
    assert under == pytest.approx(0.2)
