"""Readout segmentations of one layer: Cartesian, polar (r x alpha) and eta x phi grids.

Flattening order inside a layer (one convention for every segmentation): the cell index is
``slow * n_fast + fast`` where

- ``CartesianGrid``: slow = row (y), fast = column (x); the layer reshapes to ``(ny, nx)``.
- ``PolarGrid``: slow = alpha bin, fast = radial bin (the CaloChallenge order); reshapes to
  ``(n_alpha, n_r)``.
- ``EtaPhiGrid``: slow = eta bin, fast = phi bin; reshapes to ``(n_eta, n_phi)``.

Natural coordinates are mm for Cartesian grids, (r in mm, alpha in rad) for polar grids and
(eta, phi in rad) for eta x phi grids, all relative to the layer's axis / the cluster centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["CartesianGrid", "EtaPhiGrid", "PolarGrid", "Segmentation", "segmentation_from_dict"]


@dataclass(frozen=True)
class CartesianGrid:
    """A regular ``ny x nx`` grid of ``pitch_x_mm x pitch_y_mm`` cells centred on the axis."""

    nx: int
    ny: int
    pitch_x_mm: float
    pitch_y_mm: float
    kind: Literal["cartesian"] = "cartesian"

    @property
    def n_cells(self) -> int:
        return self.nx * self.ny

    @property
    def shape(self) -> tuple[int, int]:
        return (self.ny, self.nx)

    @property
    def coordinate_names(self) -> tuple[str, str]:
        return ("x", "y")

    def x_edges_mm(self) -> np.ndarray:
        return (np.arange(self.nx + 1) - self.nx / 2) * self.pitch_x_mm

    def y_edges_mm(self) -> np.ndarray:
        return (np.arange(self.ny + 1) - self.ny / 2) * self.pitch_y_mm

    def centres(self) -> np.ndarray:
        """(n_cells, 2) cell centres (x, y) in mm."""
        xe, ye = self.x_edges_mm(), self.y_edges_mm()
        xc, yc = 0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1])
        yy, xx = np.meshgrid(yc, xc, indexing="ij")
        return np.stack([xx.ravel(), yy.ravel()], axis=1)

    def sizes(self) -> np.ndarray:
        """(n_cells, 2) cell sizes (dx, dy) in mm."""
        return np.tile([self.pitch_x_mm, self.pitch_y_mm], (self.n_cells, 1)).astype(float)

    def centres_mm(self) -> np.ndarray:
        return self.centres()

    def sizes_mm(self) -> np.ndarray:
        return self.sizes()

    def areas_mm2(self) -> np.ndarray:
        return np.full(self.n_cells, self.pitch_x_mm * self.pitch_y_mm)

    def locate_mm(self, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
        """Flat cell index for lateral positions in mm, -1 outside the grid."""
        ix = np.floor(np.asarray(x_mm) / self.pitch_x_mm + self.nx / 2).astype(np.int64)
        iy = np.floor(np.asarray(y_mm) / self.pitch_y_mm + self.ny / 2).astype(np.int64)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        return np.where(inside, iy * self.nx + ix, -1)


@dataclass(frozen=True)
class PolarGrid:
    """Concentric rings (``r_edges_mm``) cut into ``n_alpha`` equal sectors in [-pi, pi)."""

    r_edges_mm: tuple[float, ...]
    n_alpha: int
    kind: Literal["polar"] = "polar"

    @property
    def n_r(self) -> int:
        return max(len(self.r_edges_mm) - 1, 0)

    @property
    def n_cells(self) -> int:
        return self.n_r * self.n_alpha

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_alpha, self.n_r)

    @property
    def coordinate_names(self) -> tuple[str, str]:
        return ("r", "alpha")

    def alpha_edges(self) -> np.ndarray:
        return np.linspace(-math.pi, math.pi, self.n_alpha + 1)

    def centres(self) -> np.ndarray:
        """(n_cells, 2) cell centres (r in mm, alpha in rad)."""
        re, ae = np.asarray(self.r_edges_mm, dtype=float), self.alpha_edges()
        rc, ac = 0.5 * (re[1:] + re[:-1]), 0.5 * (ae[1:] + ae[:-1])
        aa, rr = np.meshgrid(ac, rc, indexing="ij")
        return np.stack([rr.ravel(), aa.ravel()], axis=1)

    def sizes(self) -> np.ndarray:
        """(n_cells, 2) cell sizes (dr in mm, dalpha in rad)."""
        dr = np.diff(np.asarray(self.r_edges_mm, dtype=float))
        da = 2 * math.pi / self.n_alpha
        return np.stack([np.tile(dr, self.n_alpha), np.full(self.n_cells, da)], axis=1)

    def centres_mm(self) -> np.ndarray:
        """(n_cells, 2) Cartesian (x, y) of the cell centres in mm."""
        c = self.centres()
        return np.stack([c[:, 0] * np.cos(c[:, 1]), c[:, 0] * np.sin(c[:, 1])], axis=1)

    def sizes_mm(self) -> np.ndarray:
        """(n_cells, 2): radial size and arc length at the cell's mean radius, in mm."""
        c, s = self.centres(), self.sizes()
        return np.stack([s[:, 0], c[:, 0] * s[:, 1]], axis=1)

    def areas_mm2(self) -> np.ndarray:
        re = np.asarray(self.r_edges_mm, dtype=float)
        ring = math.pi * (re[1:] ** 2 - re[:-1] ** 2) / self.n_alpha
        return np.tile(ring, self.n_alpha)

    def locate_mm(self, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
        """Flat cell index for lateral positions in mm, -1 beyond the last ring."""
        x, y = np.asarray(x_mm, dtype=float), np.asarray(y_mm, dtype=float)
        if self.n_cells == 0:
            return np.full(np.shape(x), -1, dtype=np.int64)
        r = np.hypot(x, y)
        ir = np.searchsorted(np.asarray(self.r_edges_mm), r, side="right") - 1
        ia = np.floor((np.arctan2(y, x) + math.pi) / (2 * math.pi) * self.n_alpha).astype(np.int64)
        ia = np.clip(ia, 0, self.n_alpha - 1)
        inside = (ir >= 0) & (ir < self.n_r)
        return np.where(inside, ia * self.n_r + ir, -1)


@dataclass(frozen=True)
class EtaPhiGrid:
    """``n_eta x n_phi`` cells of ``d_eta x d_phi`` centred on the cluster centre.

    ``radius_mm`` is the distance from the beam line at which the layer's cells are converted
    to mm (transverse: r dphi; along eta: r cosh(eta0) deta, with ``eta0`` the cluster's eta).
    """

    n_eta: int
    n_phi: int
    d_eta: float
    d_phi: float
    radius_mm: float
    eta0: float = 0.225
    kind: Literal["etaphi"] = "etaphi"

    @property
    def n_cells(self) -> int:
        return self.n_eta * self.n_phi

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_eta, self.n_phi)

    @property
    def coordinate_names(self) -> tuple[str, str]:
        return ("eta", "phi")

    def centres(self, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        """(n_cells, 2) cell centres (deta, dphi) relative to the cluster centre.

        ``offset`` shifts the whole grid (used for the alignment configurations).
        """
        ec = (np.arange(self.n_eta) - (self.n_eta - 1) / 2) * self.d_eta + offset[0]
        pc = (np.arange(self.n_phi) - (self.n_phi - 1) / 2) * self.d_phi + offset[1]
        ee, pp = np.meshgrid(ec, pc, indexing="ij")
        return np.stack([ee.ravel(), pp.ravel()], axis=1)

    def sizes(self) -> np.ndarray:
        return np.tile([self.d_eta, self.d_phi], (self.n_cells, 1)).astype(float)

    @property
    def mm_per_eta(self) -> float:
        return self.radius_mm * math.cosh(self.eta0)

    @property
    def mm_per_phi(self) -> float:
        return self.radius_mm

    def centres_mm(self, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        """(n_cells, 2) centres in mm: (along eta, along phi) at ``radius_mm``."""
        c = self.centres(offset)
        return np.stack([c[:, 0] * self.mm_per_eta, c[:, 1] * self.mm_per_phi], axis=1)

    def sizes_mm(self) -> np.ndarray:
        return np.tile(
            [self.d_eta * self.mm_per_eta, self.d_phi * self.mm_per_phi], (self.n_cells, 1)
        )

    def areas_mm2(self) -> np.ndarray:
        s = self.sizes_mm()
        return s[:, 0] * s[:, 1]

    def locate_mm(
        self, u_mm: np.ndarray, v_mm: np.ndarray, offset: tuple[float, float] = (0.0, 0.0)
    ) -> np.ndarray:
        """Flat index for positions (u along eta, v along phi) in mm, -1 outside."""
        de = np.asarray(u_mm, dtype=float) / self.mm_per_eta - offset[0]
        dp = np.asarray(v_mm, dtype=float) / self.mm_per_phi - offset[1]
        ie = np.floor(de / self.d_eta + self.n_eta / 2).astype(np.int64)
        ip = np.floor(dp / self.d_phi + self.n_phi / 2).astype(np.int64)
        inside = (ie >= 0) & (ie < self.n_eta) & (ip >= 0) & (ip < self.n_phi)
        return np.where(inside, ie * self.n_phi + ip, -1)


Segmentation = CartesianGrid | PolarGrid | EtaPhiGrid


def segmentation_from_dict(d: dict) -> Segmentation:
    """Rebuild a segmentation from ``dataclasses.asdict`` output (the JSON form)."""
    kind = d.get("kind")
    fields = {k: v for k, v in d.items() if k != "kind"}
    if kind == "cartesian":
        return CartesianGrid(**fields)
    if kind == "polar":
        fields["r_edges_mm"] = tuple(float(r) for r in fields["r_edges_mm"])
        return PolarGrid(**fields)
    if kind == "etaphi":
        return EtaPhiGrid(**fields)
    msg = f"unknown segmentation kind {kind!r}; expected 'cartesian', 'polar' or 'etaphi'"
    raise ValueError(msg)
