"""Production thresholds from a range cut, per material, in Geant4's convention.

Geant4 takes one cut in range (0.7 mm by default) and converts it, at start, into a kinetic
energy threshold per material and particle (Physics Reference Manual, "Conversion from cut in
range to energy threshold"); a delta ray or bremsstrahlung photon is produced only above it.
A 0.7 mm cut thus means ~0.09 MeV photons and 1.0 MeV delta rays in lead but ~12 keV photons
and 0.42 MeV delta rays in silicon (a 1 mm cut: 1.37 MeV and 0.55 MeV, as Geant4 prints): the
dense absorbers make few secondaries, the thin active layers resolve theirs.

- e± (:func:`electron_threshold_mev`): the energy whose range equals the cut, the range from
  Geant4's *approximate* loss, not from the transport's stopping power, so that a cut means
  the same energies as in Geant4: per element the Berger–Seltzer collision loss without
  density effect and with ``I = 16 eV Z^0.9``, plus an empirical bremsstrahlung term
  ``0.1 Z (Z + 1) (0.02 - 5.7e-5 Z)(1 + 0.072 ln(T / 1 GeV)) tau / beta^2`` (in units of
  ``2 pi r_e^2 m_e c^2``), above 10 keV; below, the loss scales as ``1 / sqrt(T)`` (range
  ``prop. T^1.5``). The same threshold serves e− and e+ (Geant4's e+ one is a few % lower).
- photons (:func:`photon_threshold_mev`): the lowest energy at which five absorption lengths
  (``5 / mu``, mu = photo-electric + Compton + pair of the transport's own tables) reach the
  cut.

Both are floored at Geant4's lowest threshold, 990 eV; the cascade then raises them to its
tracking cuts (a particle created below them would be stopped at once).
"""

from __future__ import annotations

import math

import numpy as np

from caloforge.materials import ELEMENT_MASS, Material

__all__ = ["LOWEST_THRESHOLD_MEV", "electron_threshold_mev", "photon_threshold_mev"]

#: Geant4's lower limit of a production threshold (990 eV)
LOWEST_THRESHOLD_MEV = 990e-6
_ME = 0.51099895
_TWO_PI_RE2_MC2 = 2.0 * math.pi * (2.8179403262e-12) ** 2 * _ME  # MeV mm^2
_AVOGADRO = 6.02214076e23
_T_LOW = 0.01  # MeV: below it the loss goes as 1/sqrt(T)
_GRID = np.geomspace(_T_LOW, 1e4, 4001)  # MeV


def _atoms_per_mm3(material: Material) -> list[tuple[int, float]]:
    rho = material.density_g_cm3
    return [(z, rho * w / ELEMENT_MASS[z] * _AVOGADRO / 1000.0) for z, w in material.composition]


def _approximate_loss(z: int, t_mev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geant4's approximate e− loss per atom (MeV mm^2) at ``t_mev`` >= 10 keV: its collision
    and its bremsstrahlung parts."""
    tau = t_mev / _ME
    beta2 = tau * (tau + 2.0) / (tau + 1.0) ** 2
    ln_i = math.log(16e-6 * z**0.9 / _ME)
    f = 1.0 - beta2 + np.log(0.5 * tau * tau)
    f += (0.5 + 0.25 * tau * tau + (1.0 + 2.0 * tau) * math.log(0.5)) / (tau + 1.0) ** 2
    collision = z * (np.log(2.0 * tau + 4.0) - 2.0 * ln_i + f) / beta2
    brems = 0.1 * z * (z + 1.0) * (0.02 - 5.7e-5 * z) * (1.0 + 0.072 * np.log(t_mev / 1000.0))
    return _TWO_PI_RE2_MC2 * collision, _TWO_PI_RE2_MC2 * brems * tau / beta2


def _approximate_range_mm(material: Material) -> np.ndarray:
    """Range (mm) on :data:`_GRID` from Geant4's approximate loss."""
    loss = np.zeros_like(_GRID)
    loss_low = 0.0
    for z, n in _atoms_per_mm3(material):
        collision, brems = _approximate_loss(z, _GRID)
        loss += n * (collision + brems)
        loss_low += n * float(collision[0])  # the 1/sqrt(T) law below 10 keV: no brems
    # dE/dx = c / sqrt(T) below 10 keV: range to 10 keV = 2 T^1.5 / (3 c) = 2 T / (3 dE/dx)
    start = 2.0 * _T_LOW / (3.0 * loss_low)
    inv = 1.0 / loss
    steps = 0.5 * (inv[1:] + inv[:-1]) * np.diff(_GRID)
    return start + np.concatenate([[0.0], np.cumsum(steps)])


def electron_threshold_mev(material: Material, cut_mm: float) -> float:
    """The e± production threshold (MeV) of a ``cut_mm`` range cut in ``material``."""
    rng = _approximate_range_mm(material)
    if cut_mm <= rng[0]:
        # below 10 keV: range = 2 T^1.5 / (3 c), i.e. T = 10 keV (cut / range(10 keV))^(2/3)
        t = _T_LOW * (cut_mm / rng[0]) ** (2.0 / 3.0)
    elif cut_mm >= rng[-1]:
        t = float(_GRID[-1])
    else:
        t = float(np.exp(np.interp(cut_mm, rng, np.log(_GRID))))
    return max(t, LOWEST_THRESHOLD_MEV)


def photon_threshold_mev(grid_mev: np.ndarray, mu_per_mm: np.ndarray, cut_mm: float) -> float:
    """The photon production threshold (MeV): the lowest energy of ``grid_mev`` at which five
    absorption lengths, ``5 / mu_per_mm`` (the total attenuation on that grid), reach
    ``cut_mm`` (interpolated in ln E between grid points)."""
    length = 5.0 / np.maximum(mu_per_mm, 1e-300)
    long = np.nonzero(length >= cut_mm)[0]
    if long.size == 0:
        return float(grid_mev[-1])
    i = int(long[0])
    if i == 0:
        return max(float(grid_mev[0]), LOWEST_THRESHOLD_MEV)
    a, b = math.log(length[i - 1]), math.log(length[i])
    w = (math.log(cut_mm) - a) / (b - a)
    e = math.exp(math.log(grid_mev[i - 1]) + w * math.log(grid_mev[i] / grid_mev[i - 1]))
    return max(e, LOWEST_THRESHOLD_MEV)
