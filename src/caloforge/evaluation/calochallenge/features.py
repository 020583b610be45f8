"""The challenge's high-level features and classifier inputs, from cells in its voxel order.

Per shower (cells below the read-out threshold set to 0 first, incident energy E_inc in MeV):

- ``e_tot``: sum of all cells; ``e_layer[l]``: sum of layer ``l``'s cells;
- ``sparsity[l]``: fraction of layer ``l``'s cells that are 0;
- ``ec_r[l]``, ``width_r[l]``: energy-weighted mean and standard deviation of the radial bin
  centre (mm);
- for layers binned in alpha (more than one sector): ``ec_eta``/``ec_phi`` and ``width_eta``/
  ``width_phi``, the same moments of ``eta = r cos(alpha)`` and ``phi = r sin(alpha)`` at the
  cell centres (alpha centres of ``n_alpha`` equal sectors of [-pi, pi)).

Means divide by ``E_layer + 1e-16`` and the variance is clipped at 0 before the square root, as
in the challenge. "Relevant" layers are those with cells. The high-level classifier inputs are,
in order: log10 E_inc, log10(E_layer + 1e-8), EC_eta/100, EC_phi/100, width_eta/100,
width_phi/100, log10(E_tot + 1e-8), sparsity, EC_r/100, width_r/100; the low-level inputs are
log10 E_inc and the cells divided by E_inc.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from caloforge.geometry import Geometry
from caloforge.geometry.segmentation import PolarGrid

__all__ = [
    "ChallengeFeatures",
    "apply_threshold",
    "compute_features",
    "high_level_inputs",
    "layer_coordinates",
    "low_level_inputs",
]


def apply_threshold(cells: np.ndarray, threshold_mev: float) -> np.ndarray:
    """Cells (N, n_cells) with every value below ``threshold_mev`` set to 0 (a copy)."""
    c = np.asarray(cells)
    return np.where(c < threshold_mev, np.zeros_like(c), c)


def layer_coordinates(grid: PolarGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(r, eta, phi)`` at the cell centres of a polar layer (mm), in the cells' order."""
    edges = np.asarray(grid.r_edges_mm, dtype=np.float64)
    r_mid = 0.5 * (edges[1:] + edges[:-1])
    alpha_edges = np.linspace(-np.pi, np.pi, grid.n_alpha + 1)
    alpha_mid = 0.5 * (alpha_edges[1:] + alpha_edges[:-1])
    r = np.tile(r_mid, grid.n_alpha)
    alpha = np.repeat(alpha_mid, len(r_mid))
    return r, r * np.cos(alpha), r * np.sin(alpha)


@dataclass
class ChallengeFeatures:
    """High-level features of N showers (see the module). Dicts are keyed by layer id."""

    incident_energy: np.ndarray
    e_tot: np.ndarray
    e_layer: dict[int, np.ndarray] = field(default_factory=dict)
    sparsity: dict[int, np.ndarray] = field(default_factory=dict)
    ec_r: dict[int, np.ndarray] = field(default_factory=dict)
    width_r: dict[int, np.ndarray] = field(default_factory=dict)
    ec_eta: dict[int, np.ndarray] = field(default_factory=dict)
    ec_phi: dict[int, np.ndarray] = field(default_factory=dict)
    width_eta: dict[int, np.ndarray] = field(default_factory=dict)
    width_phi: dict[int, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.e_tot)

    @property
    def relevant_layers(self) -> list[int]:
        return list(self.e_layer)

    @property
    def alpha_layers(self) -> list[int]:
        return list(self.ec_eta)

    @classmethod
    def concatenate(cls, parts: list[ChallengeFeatures]) -> ChallengeFeatures:
        """Features of consecutive chunks joined in order."""
        first = parts[0]

        def join(name: str) -> dict[int, np.ndarray]:
            d: dict[int, np.ndarray] = getattr(first, name)
            return {k: np.concatenate([getattr(p, name)[k] for p in parts]) for k in d}

        return cls(
            np.concatenate([p.incident_energy for p in parts]),
            np.concatenate([p.e_tot for p in parts]),
            **{
                n: join(n)
                for n in (
                    "e_layer",
                    "sparsity",
                    "ec_r",
                    "width_r",
                    "ec_eta",
                    "ec_phi",
                    "width_eta",
                    "width_phi",
                )
            },
        )


def _moments(x: np.ndarray, energy: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = (energy @ x) / (total + 1e-16)
    second = (energy @ (x * x)) / (total + 1e-16)
    return mean, np.sqrt(np.clip(second - mean**2, 0.0, None))


def compute_features(
    cells: np.ndarray, incident_energy: np.ndarray, geometry: Geometry
) -> ChallengeFeatures:
    """Features of already thresholded ``cells`` (N, n_cells) in MeV; ``incident_energy`` (N,)
    in MeV. Every layer of ``geometry`` must be a :class:`PolarGrid` (the challenge's binning)."""
    c = np.asarray(cells, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != geometry.n_cells:
        msg = f"cells of shape {c.shape}; expected (N, {geometry.n_cells}) for {geometry.name!r}"
        raise ValueError(msg)
    out = ChallengeFeatures(np.asarray(incident_energy, np.float64).reshape(-1), c.sum(axis=1))
    for i, layer in enumerate(geometry.layers):
        grid = layer.segmentation
        if not isinstance(grid, PolarGrid):
            msg = f"geometry {geometry.name!r}: layer {i} is not polar (r, alpha) binned"
            raise ValueError(msg)
        if grid.n_cells == 0:
            continue
        e = c[:, geometry.layer_slice(i)]
        total = e.sum(axis=1)
        out.e_layer[i] = total
        out.sparsity[i] = 1.0 - (e > 0).mean(axis=1)
        r, eta, phi = layer_coordinates(grid)
        out.ec_r[i], out.width_r[i] = _moments(r, e, total)
        if grid.n_alpha > 1:
            out.ec_eta[i], out.width_eta[i] = _moments(eta, e, total)
            out.ec_phi[i], out.width_phi[i] = _moments(phi, e, total)
    return out


def _stack(d: dict[int, np.ndarray], n: int) -> np.ndarray:
    return np.stack(list(d.values()), axis=1) if d else np.zeros((n, 0))


def high_level_inputs(f: ChallengeFeatures) -> np.ndarray:
    """(N, d) float64 high-level classifier (and FPD/KPD) inputs in the challenge's order."""
    n = len(f)
    return np.concatenate(
        [
            np.log10(f.incident_energy)[:, None],
            np.log10(_stack(f.e_layer, n) + 1e-8),
            _stack(f.ec_eta, n) / 1e2,
            _stack(f.ec_phi, n) / 1e2,
            _stack(f.width_eta, n) / 1e2,
            _stack(f.width_phi, n) / 1e2,
            np.log10(f.e_tot + 1e-8)[:, None],
            _stack(f.sparsity, n),
            _stack(f.ec_r, n) / 1e2,
            _stack(f.width_r, n) / 1e2,
        ],
        axis=1,
    )


def low_level_inputs(cells: np.ndarray, incident_energy: np.ndarray) -> np.ndarray:
    """(N, 1 + n_cells) low-level classifier inputs: log10 E_inc, then thresholded cells / E_inc."""
    e = np.asarray(incident_energy, dtype=np.float64).reshape(-1, 1)
    return np.concatenate([np.log10(e), np.asarray(cells, dtype=np.float64) / e], axis=1)
