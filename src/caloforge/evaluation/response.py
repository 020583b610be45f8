"""Linearity and resolution versus incident energy.

Per incident-energy point (each distinct energy when the reference has at most
``MAX_DISCRETE_POINTS`` of them, otherwise ``n_bins`` logarithmic bins spanning the reference's
range, applied unchanged to every candidate):

- both from the per-shower response ``r = E_tot / E_inc``, so that a logarithmic bin does not
  count the spread of its incident energies as resolution (at a discrete point E_inc is one
  number and these are the usual ``mean(E_tot) / E_inc`` and ``sigma / mu`` of E_tot);
- linearity: ``mean(r)`` with error ``std(r) / sqrt(n)``;
- resolution: ``std(r) / mean(r)``, with the large-sample error
  ``(sigma/mu) sqrt(1 / (2 (n - 1)) + (sigma/mu)^2 / n)``;
- effective resolution: ``effective_sigma(r) / mean(r)`` (half the shortest interval holding
  68.3% of the showers: the Gaussian sigma of the core, blind to a leakage tail that can
  dominate the r.m.s.), its error the standard deviation over ``BOOTSTRAP`` resamples (a fixed
  seed per point, so the numbers are reproducible).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MAX_DISCRETE_POINTS",
    "EnergyBinning",
    "effective_sigma",
    "energy_binning",
    "energy_response",
]

MAX_DISCRETE_POINTS = 30
#: resamples of the effective resolution's bootstrap error
BOOTSTRAP = 100


@dataclass(frozen=True)
class EnergyBinning:
    """Either discrete incident energies (MeV) or log-spaced bin edges (MeV)."""

    points: np.ndarray | None = None
    edges: np.ndarray | None = None

    def __len__(self) -> int:
        """The number of points or bins."""
        if self.points is not None:
            return len(self.points)
        assert self.edges is not None
        return len(self.edges) - 1

    def assign(self, incident_energy: np.ndarray) -> np.ndarray:
        """Point/bin index of each shower, -1 where it matches none."""
        e = np.asarray(incident_energy, dtype=np.float64)
        if self.points is not None:
            idx = np.full(e.shape, -1, dtype=np.int64)
            for k, p in enumerate(self.points):
                idx[np.isclose(e, p, rtol=1e-6)] = k
            return idx
        assert self.edges is not None
        idx = np.searchsorted(self.edges, e, side="right") - 1
        idx[e == self.edges[-1]] = len(self.edges) - 2
        return np.where((idx >= 0) & (idx < len(self.edges) - 1), idx, -1)


def effective_sigma(values: np.ndarray, coverage: float = 0.683) -> float:
    """Half the width of the shortest interval holding ``coverage`` of ``values`` (the
    Gaussian sigma for a Gaussian; robust to a leakage tail, unlike the r.m.s.)."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if len(x) < 2 or not np.isfinite(x).all():
        msg = f"effective_sigma needs at least 2 finite values, got {len(x)} (finite: {np.isfinite(x).sum()})"
        raise ValueError(msg)
    if not 0.0 < coverage < 1.0:
        msg = f"coverage must be in (0, 1), got {coverage}"
        raise ValueError(msg)
    k = max(1, int(np.ceil(coverage * len(x))))
    return float(0.5 * (x[k - 1 :] - x[: len(x) - k + 1]).min())


def energy_binning(reference_incident_energy: np.ndarray, n_bins: int = 10) -> EnergyBinning:
    """Discrete points when the reference has few distinct energies, log bins otherwise."""
    e = np.asarray(reference_incident_energy, dtype=np.float64)
    unique = np.unique(e)
    if len(unique) <= MAX_DISCRETE_POINTS:
        return EnergyBinning(points=unique)
    return EnergyBinning(edges=np.geomspace(unique[0], unique[-1], n_bins + 1))


def energy_response(
    incident_energy: np.ndarray, e_tot: np.ndarray, binning: EnergyBinning
) -> dict[str, list[float]]:
    """Linearity and resolution per energy point (lists, JSON-ready; empty points skipped)."""
    e_inc = np.asarray(incident_energy, dtype=np.float64)
    e_dep = np.asarray(e_tot, dtype=np.float64)
    idx = binning.assign(e_inc)
    keys = (
        "e_inc_mev",
        "n",
        "linearity",
        "linearity_err",
        "resolution",
        "resolution_err",
        "resolution_eff",
        "resolution_eff_err",
    )
    out: dict[str, list[float]] = {k: [] for k in keys}
    for k in range(len(binning)):
        sel = idx == k
        n = int(sel.sum())
        if n < 2:
            continue
        r = e_dep[sel] / e_inc[sel]
        mu, sigma = r.mean(), r.std(ddof=1)
        res = sigma / mu if mu > 0 else 0.0
        out["e_inc_mev"].append(float(e_inc[sel].mean()))
        out["n"].append(n)
        out["linearity"].append(float(mu))
        out["linearity_err"].append(float(sigma / np.sqrt(n)))
        out["resolution"].append(float(res))
        out["resolution_err"].append(float(res * np.sqrt(1.0 / (2 * (n - 1)) + res**2 / n)))
        eff, eff_err = _effective_resolution(r, seed=k)
        out["resolution_eff"].append(eff)
        out["resolution_eff_err"].append(eff_err)
    return out


def _effective_resolution(r: np.ndarray, seed: int) -> tuple[float, float]:
    """``effective_sigma(r) / mean(r)`` and its bootstrap error (0 where the mean is not > 0)."""
    mu = float(r.mean())
    if not mu > 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    draws = [
        effective_sigma(s) / float(s.mean())
        for s in (r[rng.integers(0, len(r), len(r))] for _ in range(BOOTSTRAP))
    ]
    return effective_sigma(r) / mu, float(np.std(draws, ddof=1))
