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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from caloforge.geometry import Geometry
from caloforge.geometry.atlas import MIDDLE_DPHI, N_CONFIGS, alignment

__all__ = ["GUN_PARTICLES", "GunSample", "ParticleGun"]

#: particles the electromagnetic simulators accept, and their charge
GUN_PARTICLES: dict[str, int] = {"photon": 0, "electron": -1, "positron": +1}


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
        if self.energy_range_mev is not None and not (
            self.energy_range_mev[0] < self.energy_range_mev[1]
        ):
            msg = f"particle gun: energy range must have min < max, got {self.energy_range_mev}"
            raise ValueError(msg)
        norm = math.sqrt(sum(d * d for d in self.direction))
        if not (norm > 0 and self.direction[2] > 0):
            msg = f"particle gun: direction must point into the calorimeter (z > 0), got {self.direction}"
            raise ValueError(msg)

    def sample(self, n: int, geometry: Geometry, seed: int) -> GunSample:
        """Fire ``n`` showers at ``geometry`` with the given seed."""
        if n <= 0:
            msg = f"number of showers must be > 0, got {n}"
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
