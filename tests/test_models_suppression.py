"""The per-cell zero-suppression thresholds shared by the GANs."""

from __future__ import annotations

import torch

from caloforge.models.suppression import quantile_thresholds


def test_thresholds_suppress_exactly_the_empty_fraction_of_each_cell() -> None:
    """Cells of 8 values 1..8 (shuffled): an empty fraction of 0 gives 0 (nothing suppressed),
    0.25 the 2nd smallest (2: values <= 2 suppressed, 6 of 8 kept), 1 the largest (all
    suppressed); 0.3 rounds to 2 of 8."""
    values = torch.arange(1.0, 9.0)
    raw = torch.stack(
        [values[torch.randperm(8, generator=torch.Generator().manual_seed(c))] for c in range(4)],
        dim=1,
    )
    empty = torch.tensor([0.0, 0.25, 1.0, 0.3])
    t = quantile_thresholds(raw, empty)
    assert t.tolist() == [0.0, 2.0, 8.0, 2.0]
    kept = (raw > t).float().mean(dim=0)
    assert kept.tolist() == [1.0, 0.75, 0.0, 0.75]
