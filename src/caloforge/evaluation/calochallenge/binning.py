"""The challenge's histogram binnings and its separation power on them.

Separation power (triangular discrimination, eq. 15 of arXiv:2009.03796) as the challenge
computes it: both samples are histogrammed on the same edges as *densities* of the entries
inside the edges (entries outside are dropped, not folded in), turned into probabilities by
multiplying with the bin widths, and ``S = 1/2 sum_i (p_i - q_i)^2 / (p_i + q_i + 1e-16)``.
A sample with no entry inside the edges gives NaN, as in the challenge.

Binnings (values in the calibrated energy scale, MeV; positions in mm):

- E_tot / E_inc: 100 equal bins on [0.5, 1.5]; for dataset 1 also per incident energy
  ``2^8 .. 2^22`` MeV: 20 bins on [0.4, 1.4] ([0.9, 1.1] for photons above the fourth energy);
- energy per layer: 39 log bins from the read-out threshold to the reference's maximum;
- centre of energy in eta and phi: 100 bins on [-30, 30] mm (datasets 2, 3), [-500, 500] mm
  (dataset 1, layers 12 and 13), [-100, 100] mm (other dataset-1 layers);
- widths in eta and phi: 100 bins on [0, 30], [0, 400], [0, 100] mm likewise;
- voxel energies (all cells pooled): 49 log bins from the threshold to the reference maximum.
"""

from __future__ import annotations

import numpy as np

from caloforge.evaluation.metrics import separation_floor

__all__ = [
    "DS1_ENERGIES_MEV",
    "centre_edges",
    "counts_separation",
    "density_separation",
    "etot_einc_discrete_edges",
    "etot_einc_edges",
    "log_edges",
    "separation_floor_on",
    "width_edges",
]

#: incident energies of dataset 1 (MeV): 2^8 .. 2^23, bin boundaries of the per-energy histograms
DS1_ENERGIES_MEV = 2.0 ** np.linspace(8, 23, 16)


def density_separation(reference: np.ndarray, candidate: np.ndarray, edges: np.ndarray) -> float:
    """Separation power of two samples on ``edges`` as the challenge defines it (see module)."""
    e = np.asarray(edges, dtype=np.float64)
    a = np.asarray(reference, dtype=np.float64).reshape(-1)
    b = np.asarray(candidate, dtype=np.float64).reshape(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.histogram(a, bins=e, density=True)[0] * np.diff(e)
        q = np.histogram(b, bins=e, density=True)[0] * np.diff(e)
        return float(0.5 * np.sum((p - q) ** 2 / (p + q + 1e-16)))


def separation_floor_on(reference: np.ndarray, candidate: np.ndarray, edges: np.ndarray) -> float:
    """Expected separation power of two samples of one distribution with these sizes on these
    edges: ``(B - 1)(1/N + 1/M) / 4``, ``B`` the bins filled by either sample and ``N``, ``M``
    the entries inside the edges (see :func:`caloforge.evaluation.metrics.separation_floor`)."""
    e = np.asarray(edges, dtype=np.float64)
    p = np.histogram(np.asarray(reference, dtype=np.float64).reshape(-1), bins=e)[0]
    q = np.histogram(np.asarray(candidate, dtype=np.float64).reshape(-1), bins=e)[0]
    return separation_floor(int(((p + q) > 0).sum()), int(p.sum()), int(q.sum()))


def counts_separation(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    """:func:`density_separation` from histogram counts on the same edges (NaN if one is empty)."""
    p = np.asarray(p_counts, dtype=np.float64)
    q = np.asarray(q_counts, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p, q = p / p.sum(), q / q.sum()
        return float(0.5 * np.sum((p - q) ** 2 / (p + q + 1e-16)))


def etot_einc_edges() -> np.ndarray:
    """Edges of the E_tot / E_inc histogram: 100 bins on [0.5, 1.5]."""
    return np.linspace(0.5, 1.5, 101)


def etot_einc_discrete_edges(index: int, photons: bool) -> np.ndarray:
    """Edges of dataset 1's E_tot / E_inc histogram at its ``index``-th incident energy."""
    if index > 3 and photons:
        return np.linspace(0.9, 1.1, 21)
    return np.linspace(0.4, 1.4, 21)


def log_edges(threshold_mev: float, reference_max_mev: float, n_edges: int) -> np.ndarray:
    """``n_edges`` log-spaced edges from the read-out threshold to the reference's maximum."""
    return np.logspace(np.log10(threshold_mev), np.log10(reference_max_mev), n_edges)


def _limits(dataset_1: bool, layer: int, outer: float, inner: float, par04: float) -> float:
    if not dataset_1:
        return par04
    return outer if layer in (12, 13) else inner


def centre_edges(dataset_1: bool, layer: int) -> np.ndarray:
    """Edges (mm) of the centre-of-energy histograms in eta and phi of ``layer``."""
    lim = _limits(dataset_1, layer, 500.0, 100.0, 30.0)
    return np.linspace(-lim, lim, 101)


def width_edges(dataset_1: bool, layer: int) -> np.ndarray:
    """Edges (mm) of the width histograms in eta and phi of ``layer``."""
    return np.linspace(0.0, _limits(dataset_1, layer, 400.0, 100.0, 30.0), 101)
