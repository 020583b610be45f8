"""The particle gun: particle, energies, impact point and direction of every shower.

Energies: a fixed list (``energies_mev``, assigned round-robin so each point gets n/K showers),
or a range (``energy_range_mev``), uniform or log-uniform. Impact point: ``position_mm`` on the
front face (Cartesian and polar geometries; the polar/CaloChallenge axis is the shower axis),
or, for geometries with alignment configurations (``atlas-em-barrel``), an (eta, phi) point drawn
uniformly in ``eta_range`` x ``phi_range``, from which the configuration and the offset of the
impact from the cluster centre follow (:func:`caloforge.geometry.atlas.alignment`).
The default ranges span 2 middle cells in eta and 16 in phi, so all 8 configurations occur
equally often.

Every shower also gets its own 64-bit seed, derived from (seed, shower index) only, so that a
simulation gives the same showers whatever the number of workers or batches.

Sanity bounds, checked before any work (one-line ValueErrors):

- incident energies per engine, :data:`ENGINE_ENERGY_RANGE_MEV` (:meth:`ParticleGun.check_engine`):

  - ``cascade``: 100 keV to 1 TeV. Its cross-section tables end at 1 TeV
    (``cascade.physics.GRID_MAX_MEV``); it has no Landau-Pomeranchuk-Migdal suppression, which
    starts to lengthen showers at a few TeV (E_LPM = 7.7 TeV/cm X0: 2.7 TeV in W, 4.3 TeV in Pb);
    its photo-absorption ignores the K edges (W 69.5 keV, Pb 88.0 keV), so below 100 keV it is
    not a description of the detector.
  - ``gflash``: 1 GeV to 10 TeV. The Grindhammer-Peters parameters were fitted from 1 to
    100 GeV; below 1 GeV the fluctuation widths 1 / (s0 + s1 ln(E/Ec)) exceed 0.2 in ln T and
    the few-particle shower is not a smooth Gamma profile; above 100 GeV it is an extrapolation,
    bounded at 10 TeV for the same (LPM) reason as the cascade.

  Any gun refuses energies above :data:`MAX_ENERGY_MEV` (the highest engine bound) when built.
- number of showers: at most :data:`MAX_SHOWERS` (:meth:`ParticleGun.sample`), and no more than
  the output's disk can hold uncompressed (:func:`check_shower_count`).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from caloforge.geometry import Geometry
from caloforge.geometry.atlas import MIDDLE_DPHI, N_CONFIGS, alignment
from caloforge.units import check_energies_within, format_energy

__all__ = [
    "ENGINE_ENERGY_RANGE_MEV",
    "GUN_PARTICLES",
    "MAX_ENERGY_MEV",
    "MAX_SHOWERS",
    "GunSample",
    "ParticleGun",
    "check_shower_count",
    "output_bytes",
]

#: particles the electromagnetic simulators accept, and their charge
GUN_PARTICLES: dict[str, int] = {"photon": 0, "electron": -1, "positron": +1}

#: incident energies (MeV, inclusive) each engine's physics is valid for (module docstring)
ENGINE_ENERGY_RANGE_MEV: dict[str, tuple[float, float]] = {
    "cascade": (0.1, 1e6),
    "gflash": (1e3, 1e7),
}
#: no gun fires above this (MeV): the highest engine bound, 10 TeV
MAX_ENERGY_MEV: float = max(hi for _, hi in ENGINE_ENERGY_RANGE_MEV.values())
#: most showers one job may ask for: 1e9 (4 TB for 1000 cells; more than a day at 1e4 showers/s)
MAX_SHOWERS: int = 1_000_000_000


def output_bytes(n: int, geometry: Geometry) -> int:
    """Bytes ``n`` showers take in an uncompressed shower file: float32 cells, the float64
    incident energy and, for alignment geometries, the conditions (int64 config, float64 eta
    and phi)."""
    per_shower = 4 * geometry.n_cells + 8
    if geometry.alignment_configs == N_CONFIGS:
        per_shower += 3 * 8
    return int(n) * per_shower


def check_shower_count(n: int, geometry: Geometry, out: str | Path | None = None) -> int:
    """Raise ValueError (one line) unless ``1 <= n <= MAX_SHOWERS`` and, with ``out``, the free
    space of ``out``'s folder holds :func:`output_bytes` (uncompressed; a file being replaced
    counts as free). Returns the estimated bytes. Call it before any work."""
    if not 1 <= n <= MAX_SHOWERS:
        msg = f"number of showers must be between 1 and {MAX_SHOWERS:.0e}, got {n}"
        raise ValueError(msg)
    need = output_bytes(n, geometry)
    if out is not None:
        out = Path(out)
        folder = out.parent if str(out.parent) else Path(".")
        if folder.is_dir():
            free = shutil.disk_usage(folder).free
            if out.is_file() and not out.is_symlink():
                free += out.stat().st_size
            if need > free:
                msg = (
                    f"{out}: {n} showers of {geometry.name!r} ({geometry.n_cells} cells) need "
                    f"about {need / 1e9:.3g} GB, but {folder} has {free / 1e9:.3g} GB free"
                )
                raise ValueError(msg)
    return need


@dataclass(frozen=True)
class GunSample:
    """What the gun fired, one row per shower.

    ``energy_mev`` (n,), ``x_mm``/``y_mm`` (n,) impact point relative to the geometry axis (zero
    for eta x phi geometries), ``direction`` (n, 3) unit vectors (z = depth), ``offset_eta`` /
    ``offset_phi`` (n,) impact minus cluster centre (eta x phi geometries, else zero),
    ``shower_seed`` (n,) uint64, and ``conditions`` to store with the showers
    (``config``, ``impact_eta``, ``impact_phi`` for ``atlas-em-barrel``).
    """

    particle: str
    energy_mev: np.ndarray
    x_mm: np.ndarray
    y_mm: np.ndarray
    direction: np.ndarray
    offset_eta: np.ndarray
    offset_phi: np.ndarray
    shower_seed: np.ndarray
    conditions: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.energy_mev)

    def __getitem__(self, index: slice) -> GunSample:
        return GunSample(
            self.particle,
            self.energy_mev[index],
            self.x_mm[index],
            self.y_mm[index],
            self.direction[index],
            self.offset_eta[index],
            self.offset_phi[index],
            self.shower_seed[index],
            {k: v[index] for k, v in self.conditions.items()},
        )


@dataclass(frozen=True)
class ParticleGun:
    particle: str = "photon"
    energies_mev: tuple[float, ...] = ()
    energy_range_mev: tuple[float, float] | None = None
    log_uniform: bool = False
    position_mm: tuple[float, float] = (0.0, 0.0)
    direction: tuple[float, float, float] = (0.0, 0.0, 1.0)
    eta_range: tuple[float, float] = (0.20, 0.25)
    phi_range: tuple[float, float] = (0.0, 16 * MIDDLE_DPHI)

    def __post_init__(self) -> None:
        if self.particle not in GUN_PARTICLES:
            msg = f"unknown particle {self.particle!r}; the gun fires: {', '.join(GUN_PARTICLES)}"
            raise ValueError(msg)
        if bool(self.energies_mev) == (self.energy_range_mev is not None):
            msg = (
                "particle gun: give either a list of energies or an energy range, not both/neither"
            )
            raise ValueError(msg)
        energies = list(self.energies_mev) + list(self.energy_range_mev or ())
        for e in energies:
            if not (math.isfinite(e) and e > 0):
                msg = f"particle gun: energies must be finite and > 0 MeV, got {e}"
                raise ValueError(msg)
            if e > MAX_ENERGY_MEV:
                msg = (
                    f"particle gun: energy {format_energy(e)} is above {format_energy(MAX_ENERGY_MEV)}, "
                    "the highest energy any engine is valid for"
                )
                raise ValueError(msg)
        if self.energy_range_mev is not None and not (
            self.energy_range_mev[0] < self.energy_range_mev[1]
        ):
            msg = f"particle gun: energy range must have min < max, got {self.energy_range_mev}"
            raise ValueError(msg)
        norm = math.sqrt(sum(d * d for d in self.direction))
        if not (norm > 0 and self.direction[2] > 0):
            msg = f"particle gun: direction must point into the calorimeter (z > 0), got {self.direction}"
            raise ValueError(msg)

    def check_engine(self, engine: str) -> None:
        """Raise ValueError (one line) if an energy of this gun is outside the range ``engine``'s
        physics is valid for (:data:`ENGINE_ENERGY_RANGE_MEV`)."""
        if engine not in ENGINE_ENERGY_RANGE_MEV:
            msg = f"unknown engine {engine!r}; engines: {', '.join(ENGINE_ENERGY_RANGE_MEV)}"
            raise ValueError(msg)
        low, high = ENGINE_ENERGY_RANGE_MEV[engine]
        energies = list(self.energies_mev) + list(self.energy_range_mev or ())
        check_energies_within(energies, low, high, what=f"the {engine} engine")

    def sample(self, n: int, geometry: Geometry, seed: int) -> GunSample:
        """Fire ``n`` showers at ``geometry`` with the given seed (``1 <= n <= MAX_SHOWERS``)."""
        if n <= 0:
            msg = f"number of showers must be > 0, got {n}"
            raise ValueError(msg)
        if n > MAX_SHOWERS:
            msg = f"number of showers must be at most {MAX_SHOWERS:.0e}, got {n}"
            raise ValueError(msg)
        ss = np.random.SeedSequence(seed)
        gun_ss, shower_ss = ss.spawn(2)
        rng = np.random.default_rng(gun_ss)
        if self.energies_mev:
            energy = np.resize(np.asarray(self.energies_mev, dtype=float), n)
        else:
            lo, hi = self.energy_range_mev  # type: ignore[misc]
            u = rng.random(n)
            energy = lo * (hi / lo) ** u if self.log_uniform else lo + (hi - lo) * u
        d = np.asarray(self.direction, dtype=float)
        direction = np.tile(d / np.linalg.norm(d), (n, 1))
        zeros = np.zeros(n)
        conditions: dict[str, np.ndarray] = {}
        off_eta, off_phi = zeros, zeros
        x, y = np.full(n, self.position_mm[0]), np.full(n, self.position_mm[1])
        if geometry.alignment_configs == N_CONFIGS:
            eta = rng.uniform(*self.eta_range, n)
            phi = rng.uniform(*self.phi_range, n)
            config, eta_c, phi_c = alignment(eta, phi)
            off_eta, off_phi = eta - eta_c, phi - phi_c
            x, y = zeros, zeros
            conditions = {"config": config.astype(np.int64), "impact_eta": eta, "impact_phi": phi}
        seeds = shower_ss.generate_state(n, dtype=np.uint64)
        return GunSample(
            self.particle, energy, x, y, direction, off_eta, off_phi, seeds, conditions
        )
