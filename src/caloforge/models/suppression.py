"""Zero suppression of generated cells: per-cell thresholds at the data's empty-cell fraction.

A softmax or a dense output never gives exact zeros, so the GANs zero every cell at or below a
per-cell threshold; the threshold is the quantile of the generator's own values at the fraction
of showers in which the data leave that cell empty.
"""

from __future__ import annotations

import torch

__all__ = ["quantile_thresholds"]


def quantile_thresholds(raw: torch.Tensor, empty: torch.Tensor) -> torch.Tensor:
    """(n_cells,) thresholds that suppress (``x <= t``) the fraction ``empty`` (n_cells,) of each
    cell's generated values ``raw`` (B, n_cells): the round(empty x B)-th smallest value, 0
    where that is none. With B showers no quantile above (B - 1) / B can be placed: a cell the
    data leave empty more often keeps about 1 / (B + 1) of its values."""
    k = torch.round(empty * len(raw)).to(torch.int64)
    ordered = raw.sort(dim=0).values
    target = ordered.gather(0, (k - 1).clamp_min(0)[None, :])[0]
    return torch.where(k > 0, target, torch.zeros_like(target))
