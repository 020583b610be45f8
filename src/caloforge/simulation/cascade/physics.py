"""Cross sections and stopping powers of the cascade, tabulated per material (numpy, built once).

Everything is tabulated on one logarithmic energy grid (:data:`GRID_MIN_MEV` to
:data:`GRID_MAX_MEV`, :data:`GRID_PER_DECADE` points per decade) and interpolated linearly in
ln E by the transport kernel. Lengths are mm, energies MeV, cross sections per mm
(macroscopic). Material constants (density, X0, Z/A, I, composition) come only from
:mod:`caloforge.materials`.

Photons
    - Compton scattering: Klein–Nishina on free electrons (binding neglected), electron density
      from the material's Z/A.
    - Photo-electric absorption: an empirical fit, per atom,
      ``sigma(Z, E) = 1789 b (Z/82)^4.3 f(E)``, where ``f`` interpolates (log-log) the lead
      photo-absorption of NIST XCOM (100 keV: 5.2, 200 keV: 0.84, 500 keV: 0.080, 1 MeV:
      0.0175, 1.5 MeV: 0.0095 cm^2/g, i.e. total minus Compton minus Rayleigh), extrapolated
      below 100 keV as E^-m with m = 2.65 (Z = 82) ... 3.4 (Z = 18) and above 1.5 MeV as E^-1.1.
      Absorption edges are ignored. The 4.3 power of Z reproduces XCOM's Ar/Pb ratio at 100 keV.
    - Pair production: the energy dependence of L. Urban's fit used by Geant4
      (G4BetheHeitlerModel, 1.5 MeV - 100 GeV; (E - 2 m_e)^2 below 1.5 MeV), normalised so that
      the high-energy limit is exactly the PDG ``7 / (9 X0)``. Energy sharing
      (:func:`pair_sharing`): the Bethe–Heitler cross section with Tsai's Thomas–Fermi
      screening functions (the same phi_1,2, psi_1,2 as bremsstrahlung, screening variable
      ``100 m_e / (k eps (1 - eps) Z^(1/3))``; Tsai's pair formula, the crossed
      bremsstrahlung one), the Coulomb correction above 50 MeV only and uniform sharing below
      2 MeV, as Geant4's G4BetheHeitlerModel does (the Born high-energy cross section would
      turn negative near threshold; it is clipped at 0).
Electrons and positrons
    - Bremsstrahlung: the complete-screening spectrum of the PDG review,
      ``dsigma/dk = (1 / (X0 k)) (4/3 - 4/3 y + y^2)``, ``y = k / E``, times Tsai's ratio of
      the screened to the completely screened Bethe–Heitler cross section
      (:func:`brems_screening_ratio`; Thomas–Fermi screening functions phi_1,2 and psi_1,2
      of Tsai, Rev. Mod. Phys. 46 (1974) 815, eqs. 3.9, 3.38-3.41, with the Coulomb
      correction), so that the radiation of electrons below ~1 GeV (incomplete screening)
      is reduced as in theory; its high-energy limit is E/X0 exactly. Discrete above the
      photon production cut ``k_c``, its energy loss below ``k_c`` continuous.
    - Ionisation: restricted Berger–Seltzer stopping power (as in Geant4's
      G4MollerBhabhaModel) below the delta-ray production cut, with the asymptotic
      Sternheimer density effect in the general Sternheimer–Peierls form
      (:func:`density_effect`); Møller (e−) / Bhabha (e+) delta rays above it.
    - Positron annihilation in flight into two photons: Heitler's cross section per atomic
      electron (:func:`heitler_sigma_mm2`, as Geant4's G4eeToTwoGammaModel) times the electron
      density; its differential cross section in the photon energy fraction
      (:func:`annihilation_sharing`). A positron that stops annihilates at rest.
    - The continuous loss of a step comes from the range table (restricted ionisation plus
      sub-cut bremsstrahlung); its fluctuations follow L. Urban's model (Geant4
      G4UniversalFluctuation): excitations of one effective level plus ionisations with a
      1/E^2 spectrum up to the cut, so that thin layers get the Landau–Vavilov shape and thick
      ones a Gaussian.
    - Multiple scattering: elastic scattering on atoms (nucleus and its Z electrons) by the
      screened Rutherford (Wentzel) cross section
      ``dsigma/dOmega = Z(Z+1) r_e^2 (m_e / (p beta))^2 / (1 - cos theta + 2A)^2`` with
      Molière's screening parameter ``A = (hbar / (2 p a))^2 (1.13 + 3.76 (alpha Z / beta)^2)``,
      ``a = 0.885 a_0 Z^(-1/3)`` (:func:`screening_parameter`). Its transport cross section
      ``2 pi Z(Z+1) r_e^2 (m_e / (p beta))^2 [ln(1 + 1/A) - 1/(1 + A)]`` gives the transport
      mean free path ``lambda_1`` (:func:`transport_mfp_mm`), step independent; the kernel
      takes the number of transport lengths of a step from the table of
      ``Lambda(T) = int_0^T dT' / (S(T') lambda_1(T'))`` (S: the continuous loss).
      Compounds: lambda_1 sums the elements; one effective screening parameter (that of the
      same mean ``ln(1 + 1/A) - 1/(1 + A)``, weighted by n Z(Z+1)) shapes the angles.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from caloforge.materials import ELEMENT_MASS, Material, get_material
from caloforge.simulation.cascade.range_cut import electron_threshold_mev, photon_threshold_mev

__all__ = [
    "ELECTRON_MASS_MEV",
    "GRID_MAX_MEV",
    "GRID_MIN_MEV",
    "GRID_PER_DECADE",
    "Cuts",
    "PhysicsTables",
    "annihilation_sharing",
    "build_tables",
    "heitler_sigma_mm2",
    "klein_nishina_sigma_mm2",
    "pair_shape",
    "pair_sharing",
    "photoelectric_sigma_barn",
    "screening_parameter",
    "transport_mfp_mm",
]

ELECTRON_MASS_MEV = 0.51099895
CLASSICAL_RADIUS_MM = 2.8179403262e-12
AVOGADRO = 6.02214076e23
BARN_MM2 = 1e-22
FINE_STRUCTURE = 1.0 / 137.035999084
BOHR_RADIUS_MM = 5.29177210903e-8
HBARC_MEV_MM = 1.973269804e-10
GRID_MIN_MEV = 1e-3
GRID_MAX_MEV = 1e6
GRID_PER_DECADE = 40


@dataclass(frozen=True)
class Cuts:
    """Production and tracking cuts and electron step limits of the cascade.

    Production: ``range_cut_mm`` (Geant4's default 0.7 mm) is converted per material into the
    energies above which bremsstrahlung photons and delta rays (Møller/Bhabha) are produced
    and tracked (:mod:`.range_cut`, Geant4's convention; the loss to softer ones is
    continuous): at 0.7 mm ~0.1 MeV photons and 1.0 MeV delta rays in lead, 1.6 MeV in
    tungsten, 0.42 MeV in silicon, 0.27 MeV in liquid argon. ``photon_production_mev`` /
    ``electron_production_mev``, when given, replace the converted threshold by one energy in
    every material. Either is raised to its tracking cut. ``photon_tracking_mev`` /
    ``electron_tracking_mev``: particles below these (kinetic) energies are stopped and their
    energy deposited where they are (booked as below-cut). Step limits: an e± step is at most
    ``range_fraction`` of its residual range, unless the range is below ``final_range_mm``
    (then it may be the whole range); an e± whose range reaches a slab face and whose
    transport mean free path lambda_1 is below its range steps at most the larger of
    ``lambda1_fraction * lambda_1`` and ``safety_fraction`` times its distance to the nearer
    face (a step shorter than that distance cannot reach the face: far from faces steps are
    long, near them short). Steps are random hinges with Lewis's first two moments (see
    :mod:`.transport`), so a face is met exactly, not through a boundary step. The defaults
    are the finest of the step limits measured on transport 8 whose halving moves the sampling
    fraction of 3 GeV photons in calochallenge-2 and ild-ecal by less than 0.6% (the first
    defaults, twice as long, moved it 1.5% and 0.5%; see docs/simulate.md).
    ``step_scale``: every e± step limit (``range_fraction`` and ``safety_fraction``, capped
    at 1, ``final_range_mm``, ``lambda1_fraction``) is multiplied by it, so that halving it
    checks step-size convergence. ``range_rejection_mev``: an e± in a passive slab below this
    energy (and below the slab's delta-ray threshold, so that it makes no delta ray) whose
    range is shorter than its distance to either face is deposited on the spot (booked
    below-cut); the bremsstrahlung it would still emit (a radiative yield of ~3% at 1 MeV in
    W, photons mostly absorbed in the same slab) stays there too. Not done in active slabs: the
    few bremsstrahlung photons of the electrons ranging out there reach far cells, and the
    mean number of hit cells of a 10 GeV atlas-em-barrel shower fell by 5% (95 to 90) when
    they were.
    """

    range_cut_mm: float = 0.7
    photon_production_mev: float | None = None
    electron_production_mev: float | None = None
    photon_tracking_mev: float = 0.02
    electron_tracking_mev: float = 0.1
    range_fraction: float = 0.1
    final_range_mm: float = 0.1
    lambda1_fraction: float = 0.125
    safety_fraction: float = 0.2
    step_scale: float = 1.0
    range_rejection_mev: float = 1.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is not None and not (math.isfinite(value) and value > 0):
                msg = f"Cuts: {name} must be finite and > 0, got {value}"
                raise ValueError(msg)
        for name in ("range_fraction", "safety_fraction"):
            if getattr(self, name) > 1:
                msg = f"Cuts: {name} must be <= 1, got {getattr(self, name)}"
                raise ValueError(msg)
        if self.photon_production_mev is not None and (
            self.photon_production_mev < self.photon_tracking_mev
        ):
            msg = "Cuts: photon_production_mev must be >= photon_tracking_mev"
            raise ValueError(msg)
        if self.electron_production_mev is not None and (
            self.electron_production_mev < self.electron_tracking_mev
        ):
            msg = "Cuts: electron_production_mev must be >= electron_tracking_mev"
            raise ValueError(msg)

    def production_thresholds(
        self, material: Material, mu_total_per_mm: np.ndarray
    ) -> tuple[float, float]:
        """(photon, e±) production thresholds (MeV) in ``material``, whose total photon
        attenuation on :func:`energy_grid` is ``mu_total_per_mm``."""
        k = self.photon_production_mev
        if k is None:
            k = photon_threshold_mev(energy_grid(), mu_total_per_mm, self.range_cut_mm)
        t = self.electron_production_mev
        if t is None:
            t = electron_threshold_mev(material, self.range_cut_mm)
        return max(k, self.photon_tracking_mev), max(t, self.electron_tracking_mev)

    def kernel_vector(self) -> np.ndarray:
        """The tracking cuts, step limits and range-rejection energy as the transport
        kernel reads them (its ``C_*`` layout)."""
        return np.array(
            [
                self.photon_tracking_mev,
                self.electron_tracking_mev,
                *self.step_limits(),
                self.range_rejection_mev,
            ]
        )

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)

    def step_limits(self) -> tuple[float, float, float, float]:
        """(range fraction, final range mm, step in lambda_1 near faces, step in distances to
        the nearer face) with ``step_scale`` applied."""
        f = self.step_scale
        return (
            min(self.range_fraction * f, 1.0),
            self.final_range_mm * f,
            self.lambda1_fraction * f,
            min(self.safety_fraction * f, 1.0),
        )


def energy_grid() -> np.ndarray:
    """The tabulation grid in MeV (log-spaced)."""
    n = round(math.log10(GRID_MAX_MEV / GRID_MIN_MEV) * GRID_PER_DECADE) + 1
    return np.geomspace(GRID_MIN_MEV, GRID_MAX_MEV, n)


# ---- photons ----------------------------------------------------------------------------------
def klein_nishina_sigma_mm2(energy_mev: np.ndarray) -> np.ndarray:
    """Klein–Nishina total cross section per free electron, mm^2."""
    k = np.asarray(energy_mev, dtype=float) / ELECTRON_MASS_MEV
    l2k = np.log1p(2 * k)
    s = (1 + k) / k**2 * (2 * (1 + k) / (1 + 2 * k) - l2k / k) + l2k / (2 * k)
    s -= (1 + 3 * k) / (1 + 2 * k) ** 2
    return 2 * math.pi * CLASSICAL_RADIUS_MM**2 * s


# lead photo-absorption (b/atom) at these energies, from NIST XCOM (see module docstring)
_PE_E_MEV = np.array([0.1, 0.2, 0.5, 1.0, 1.5])
_PE_PB_BARN = np.array([5.2, 0.84, 0.080, 0.0175, 0.0095]) * (207.2 / 0.602214076)


def photoelectric_sigma_barn(z: int, energy_mev: np.ndarray) -> np.ndarray:
    """Photo-electric cross section per atom (barn), the empirical fit of the module doc."""
    e = np.asarray(energy_mev, dtype=float)
    ln_pb = np.interp(np.log(e), np.log(_PE_E_MEV), np.log(_PE_PB_BARN))
    m_low = float(np.clip(3.4 - 0.75 * (z - 18) / 64.0, 2.65, 3.5))
    low = e < _PE_E_MEV[0]
    ln_pb = np.where(low, math.log(_PE_PB_BARN[0]) - m_low * np.log(e / _PE_E_MEV[0]), ln_pb)
    high = e > _PE_E_MEV[-1]
    ln_pb = np.where(high, math.log(_PE_PB_BARN[-1]) - 1.1 * np.log(e / _PE_E_MEV[-1]), ln_pb)
    return np.exp(ln_pb) * (z / 82.0) ** 4.3


def _urban_pair_barn(z: float, energy_mev: np.ndarray) -> np.ndarray:
    """L. Urban's pair-production fit per atom (barn), as in Geant4's G4BetheHeitlerModel."""
    a = (8.7842e2, -1.9625e3, 1.2949e3, -2.0028e2, 1.2575e1, -2.8333e-1)
    b = (-1.0342e1, 1.7692e1, -8.2381, 1.3063, -9.0815e-2, 2.3586e-3)
    c = (-4.5263e2, 1.1161e3, -8.6749e2, 2.1773e2, -2.0467e1, 6.5372e-1)
    e = np.asarray(energy_mev, dtype=float)
    e_fit = np.clip(e, 1.5, 1e5)
    x = np.log(e_fit / ELECTRON_MASS_MEV)
    f1, f2, f3 = (sum(cf[i] * x**i for i in range(6)) for cf in (a, b, c))
    sigma = (z + 1) * (f1 * z + f2 * z * z + f3) * 1e-6
    below = e < 1.5
    t = np.clip((e - 2 * ELECTRON_MASS_MEV) / (1.5 - 2 * ELECTRON_MASS_MEV), 0.0, None)
    sigma = np.where(below, sigma * t * t, sigma)
    return np.where(e <= 2 * ELECTRON_MASS_MEV, 0.0, sigma)


def pair_shape(material: Material, energy_mev: np.ndarray) -> np.ndarray:
    """Pair cross section relative to its high-energy limit (1 at >= 100 GeV)."""
    num = np.zeros_like(np.asarray(energy_mev, dtype=float))
    den = 0.0
    for z, w in material.composition:
        n_atoms = w / ELEMENT_MASS[z]
        num += n_atoms * _urban_pair_barn(z, energy_mev)
        den += n_atoms * float(_urban_pair_barn(z, np.array([1e5]))[0])
    return num / den


# ---- electrons ----------------------------------------------------------------------------------
def electron_density_mm3(material: Material) -> float:
    return material.density_g_cm3 * AVOGADRO * material.z_over_a / 1000.0


def restricted_collision_dedx(
    material: Material, t_mev: np.ndarray, cut_mev: float, *, positron: bool
) -> np.ndarray:
    """Restricted (delta rays below ``cut_mev``) collision stopping power, MeV/mm."""
    me = ELECTRON_MASS_MEV
    t = np.asarray(t_mev, dtype=float)
    tau = t / me
    gam = tau + 1
    g2 = gam * gam
    bg2 = tau * (tau + 2)
    beta2 = bg2 / g2
    eexc2 = (material.mean_excitation_ev * 1e-6 / me) ** 2
    tmax = t if positron else 0.5 * t
    d = np.minimum(cut_mev, tmax) / me
    lead = np.log(2 * (tau + 2) / eexc2)
    if positron:
        d2 = 0.5 * d * d
        d3 = d2 * d / 1.5
        d4 = d3 * d * 0.75
        y = 1 / (1 + gam)
        f = (
            np.log(tau * d)
            - beta2 * (tau + 2 * d - y * (3 * d2 + y * (d - d3 + y * (d2 - tau * d3 + d4)))) / tau
        )
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            f = (
                -1
                - beta2
                + np.log((tau - d) * d)
                + tau / (tau - d)
                + (0.5 * d * d + (2 * tau + 1) * np.log1p(-d / tau)) / g2
            )
    delta = density_effect(material, np.log10(np.sqrt(bg2)))
    dedx = (lead + f - delta) * 2 * math.pi * me * CLASSICAL_RADIUS_MM**2
    dedx *= electron_density_mm3(material) / beta2
    return np.maximum(np.nan_to_num(dedx, nan=0.0), 0.0)


def density_effect(material: Material, x: np.ndarray) -> np.ndarray:
    """Sternheimer's density-effect correction delta at x = log10(beta gamma), with the
    general parameters of Sternheimer & Peierls (Phys. Rev. B 3 (1971) 3681) for condensed
    media, derived from I and the plasma energy: C = 2 ln(I / hbar omega_p) + 1,
    x1 = 2 (I < 100 eV) or 3, x0 from C, a from continuity, k = 3."""
    plasma_ev = 28.816 * math.sqrt(material.density_g_cm3 * material.z_over_a)
    c_bar = 2 * math.log(material.mean_excitation_ev / plasma_ev) + 1
    if material.mean_excitation_ev < 100:
        x1, x0 = 2.0, (0.2 if c_bar < 3.681 else 0.326 * c_bar - 1.0)
    else:
        x1, x0 = 3.0, (0.2 if c_bar < 5.215 else 0.326 * c_bar - 1.5)
    a = (c_bar - 4.6052 * x0) / (x1 - x0) ** 3
    x = np.asarray(x, dtype=float)
    high = 4.6052 * x - c_bar
    mid = high + a * (x1 - x) ** 3
    return np.where(x >= x1, high, np.where(x >= x0, mid, 0.0))


def coulomb_correction(z: float) -> float:
    """Davies–Bethe–Maximon Coulomb correction f(Z) (Tsai's eq. 3.3)."""
    a2 = (FINE_STRUCTURE * z) ** 2
    return a2 * (1 / (1 + a2) + 0.20206 - 0.0369 * a2 + 0.0083 * a2 * a2 - 0.002 * a2**3)


def _phi(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tsai's Thomas–Fermi screening functions of the nucleus: (phi_1, phi_1 - phi_2)."""
    phi1 = 20.863 - 2 * np.log1p((0.55846 * g) ** 2) - 4 * (1 - 0.6 * np.exp(-0.9 * g) - 0.4 * np.exp(-1.5 * g))  # fmt: skip
    return phi1, (2.0 / 3.0) / (1 + 6.5 * g + 6 * g * g)


def _psi(e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tsai's screening functions of the atomic electrons: (psi_1, psi_1 - psi_2)."""
    psi1 = 28.340 - 2 * np.log1p((3.621 * e) ** 2) - 4 * (1 - 0.7 * np.exp(-8 * e) - 0.3 * np.exp(-29.2 * e))  # fmt: skip
    return psi1, (2.0 / 3.0) / (1 + 40 * e + 400 * e * e)


def brems_elements(material: Material) -> np.ndarray:
    """(4, 7) per element of ``material`` (zero rows pad): (atoms per mm^3, Z^(1/3),
    Z^(2/3), Z^2, Z, Z^2 (-4/3 ln Z - 4 f) - 8/3 Z ln Z, 4 Z^2 f): what the kernel needs to
    evaluate :func:`brems_screening_ratio` for a sampled photon and :func:`pair_sharing` for
    a pair (the last column: the Coulomb correction, left out there below 50 MeV)."""
    out = np.zeros((4, 7))
    if len(material.composition) > 4:
        msg = f"{material.name}: at most 4 elements for the bremsstrahlung screening"
        raise ValueError(msg)
    for j, (z, w) in enumerate(material.composition):
        n = material.density_g_cm3 * w / ELEMENT_MASS[z] * AVOGADRO / 1000.0
        lz = math.log(z)
        fc = coulomb_correction(z)
        c = z * z * (-4 / 3 * lz - 4 * fc) - 8 / 3 * z * lz
        out[j] = (n, z ** (1 / 3), z ** (2 / 3), z * z, z, c, 4 * z * z * fc)
    return out


def _tsai_sum(
    material: Material, x: np.ndarray, shape: np.ndarray, tail: np.ndarray, *, coulomb: bool
) -> np.ndarray:
    """Tsai's screened cross-section bracket summed over the elements (atoms per mm^3 times
    ``shape (Z^2 phi_1 + Z psi_1 + c) + tail (Z^2 (phi_1 - phi_2) + Z (psi_1 - psi_2))``),
    the screening functions at gamma = x / Z^(1/3) and epsilon = x / Z^(2/3); ``c`` from
    :func:`brems_elements`, without the Coulomb correction when ``coulomb`` is False. The
    common core of bremsstrahlung (eq. 3.9) and of pair production (its crossed form)."""
    acc = np.zeros(np.broadcast(x, shape, tail).shape)
    for n, z3, z23, z2, z, c, fc in brems_elements(material):
        if n == 0:
            continue
        p1, dp = _phi(x / z3)
        s1, ds = _psi(x / z23)
        cc = c if coulomb else c + fc
        acc += n * (shape * (z2 * p1 + z * s1 + cc) + tail * (z2 * dp + z * ds))
    return acc


def brems_screening_ratio(material: Material, t_mev: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Tsai's bremsstrahlung cross section (eq. 3.9, screening functions eqs. 3.38-3.41,
    summed over the elements) divided by its complete-screening limit, for e± of kinetic
    energy ``t_mev`` emitting a photon of k = y E (E the total energy). In [0, 1]; 1 at
    high energies."""
    t = np.asarray(t_mev, dtype=float)
    y = np.asarray(y, dtype=float)
    e = t + ELECTRON_MASS_MEV
    k = y * e
    x = 100 * ELECTRON_MASS_MEV * k / (e * np.maximum(e - k, ELECTRON_MASS_MEV))
    shape = 4 / 3 - 4 / 3 * y + y * y
    tail = 2 / 3 * (1 - y)
    num = _tsai_sum(material, x, shape, tail, coulomb=True)
    den = _tsai_sum(material, np.zeros_like(x), shape, tail, coulomb=True)
    return np.clip(num / den, 0.0, 1.0)


#: below this photon energy the pair energy sharing is uniform, above it the Coulomb
#: correction enters the screened Bethe–Heitler shape (Geant4 G4BetheHeitlerModel's choices)
PAIR_UNIFORM_BELOW_MEV, PAIR_COULOMB_ABOVE_MEV = 2.0, 50.0


def pair_sharing(material: Material, k_mev: float, eps: np.ndarray) -> np.ndarray:
    """Bethe–Heitler d sigma / d eps of pair production by a photon of ``k_mev`` in
    ``material``, eps the fraction of k taken by the electron (total energy), up to a
    constant: Tsai's pair cross section (the crossed bremsstrahlung one) summed over the
    elements, ``[eps^2 + (1 - eps)^2] A_1 + 2/3 eps (1 - eps) A_2``
    (A_i: Z^2 phi_i + Z psi_i + c, i.e.
    ``(1 - 4/3 u) A_1 - 2/3 u (A_1 - A_2)`` with u = eps (1 - eps)), screening variable
    ``x = 100 m_e / (k u)``, clipped at 0; the Coulomb correction only above 50 MeV; uniform
    below 2 MeV; 0 outside m_e / k <= eps <= 1 - m_e / k. Complete screening (x -> 0) gives
    ``(1 - 4/3 u) A_1(0) - 4/9 u (Z^2 + Z)``, the PDG shape ``1 - 4/3 u`` within 1.5%."""
    eps = np.asarray(eps, dtype=float)
    emin = ELECTRON_MASS_MEV / k_mev
    inside = (eps >= emin) & (eps <= 1 - emin)
    if k_mev < PAIR_UNIFORM_BELOW_MEV:
        return np.where(inside, 1.0, 0.0)
    u = np.clip(eps * (1 - eps), 0.5 * emin * (1 - emin), None)  # outside: any value
    x = 100 * ELECTRON_MASS_MEV / (k_mev * u)
    coulomb = k_mev > PAIR_COULOMB_ABOVE_MEV
    f = _tsai_sum(material, x, 1 - 4 / 3 * u, -2 / 3 * u, coulomb=coulomb)
    return np.where(inside, np.maximum(f, 0.0), 0.0)


def _brems_spectrum_integrals(
    material: Material, t_mev: np.ndarray, kc_mev: float
) -> tuple[np.ndarray, np.ndarray]:
    """(number of photons above ``kc_mev`` per mm, energy per mm below it) of the screened
    spectrum ``(1 / (X0 k)) (4/3 - 4/3 y + y^2) R(t, y)``, by Simpson's rule in ln k (above)
    and in k (below)."""
    t = np.asarray(t_mev, dtype=float)[:, None]
    e = t + ELECTRON_MASS_MEV
    u = np.linspace(0.0, 1.0, 129)[None, :]
    wts = np.ones(129)
    wts[1:-1:2], wts[2:-1:2] = 4.0, 2.0
    wts /= 3 * 128
    # above the cut: k = kc (T / kc)^u, dk / k = ln(T / kc) du
    top = np.maximum(t, kc_mev)
    k = kc_mev * (top / kc_mev) ** u
    y = k / e
    f = (4 / 3 - 4 / 3 * y + y * y) * brems_screening_ratio(material, t, y)
    sigma = (f * wts).sum(axis=1) * np.log(top[:, 0] / kc_mev)
    # below the cut: k = kmax u, energy k dsigma/dk dk = (1 / X0) shape R dk
    kmax = np.minimum(t, kc_mev)
    y = kmax * u / e
    f = (4 / 3 - 4 / 3 * y + y * y) * brems_screening_ratio(material, t, y)
    loss = (f * wts).sum(axis=1) * kmax[:, 0]
    return sigma / material.x0_mm, loss / material.x0_mm


def brems_continuous_dedx(material: Material, t_mev: np.ndarray, kc_mev: float) -> np.ndarray:
    """Energy loss (MeV/mm) to bremsstrahlung photons below ``kc_mev`` (screened spectrum)."""
    return _brems_spectrum_integrals(material, t_mev, kc_mev)[1]


def brems_sigma(material: Material, t_mev: np.ndarray, kc_mev: float) -> np.ndarray:
    """Macroscopic cross section (1/mm) for bremsstrahlung photons above ``kc_mev``."""
    t = np.asarray(t_mev, dtype=float)
    return np.where(t > kc_mev, _brems_spectrum_integrals(material, t, kc_mev)[0], 0.0)


def delta_sigma(
    material: Material, t_mev: np.ndarray, cut_mev: float, *, positron: bool
) -> np.ndarray:
    """Macroscopic Møller (e−) / Bhabha (e+) cross section (1/mm) for delta rays above the cut,
    integrated numerically from the differential cross sections the kernel samples."""
    me = ELECTRON_MASS_MEV
    out = np.zeros(len(t_mev))
    for i, t in enumerate(np.asarray(t_mev, dtype=float)):
        xmax = 1.0 if positron else 0.5
        xmin = cut_mev / t
        if xmin >= xmax:
            continue
        x = np.geomspace(xmin, xmax, 400)
        gam = t / me + 1
        beta2 = 1 - 1 / gam**2
        h = delta_shape(x, gam, positron=positron)
        integrand = h / x**2
        integral = float(np.sum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(x)))
        out[i] = 2 * math.pi * CLASSICAL_RADIUS_MM**2 * me / (beta2 * t) * integral
    return out * electron_density_mm3(material)


def delta_shape(x: np.ndarray, gam: float, *, positron: bool) -> np.ndarray:
    """x^2 beta^2 T / (2 pi r_e^2 m_e) dsigma/dx for delta rays of energy fraction x
    (the rejection function of the kernel's 1/x^2 sampling)."""
    beta2 = 1 - 1 / gam**2
    if positron:
        y = 1 / (gam + 1)
        y12 = 1 - 2 * y
        b1, b2 = 2 - y * y, y12 * (3 + y * y)
        b4 = y12**3
        b3 = b4 + y12**2
        return 1 - beta2 * x * (b1 - x * (b2 - x * (b3 - x * b4)))
    gg = (2 * gam - 1) / gam**2
    return 1 + x * x / (1 - x) ** 2 + (1 - gg) * x * x - gg * x / (1 - x)


# ---- positron annihilation in flight --------------------------------------------------------
def heitler_sigma_mm2(t_mev: np.ndarray) -> np.ndarray:
    """Heitler's cross section (mm^2) of two-photon annihilation of a positron of kinetic energy
    ``t_mev`` with a free electron at rest (G4eeToTwoGammaModel):
    ``pi r_e^2 / (g + 1) [(g^2 + 4 g + 1) / (g^2 - 1) ln(g + sqrt(g^2 - 1))
    - (g + 3) / sqrt(g^2 - 1)]``, g the positron's Lorentz factor."""
    t = np.asarray(t_mev, dtype=float)
    tau = t / ELECTRON_MASS_MEV
    g = tau + 1
    bg2 = tau * (tau + 2)
    bg = np.sqrt(bg2)
    s = ((g * g + 4 * g + 1) * np.log(g + bg) - (g + 3) * bg) / (bg2 * (g + 1))
    return math.pi * CLASSICAL_RADIUS_MM**2 * s


def annihilation_sharing(t_mev: float, eps: np.ndarray) -> np.ndarray:
    """Heitler's d sigma / d eps (mm^2 per electron) for one photon to take the fraction
    ``eps`` of the available energy T + 2 m_e: ``pi r_e^2 / ((g + 1) (g^2 - 1)) S(eps)``,
    ``S(eps) = -(g + 1)^2 + (g^2 + 4 g + 1) / eps - 1 / eps^2`` on
    ``[(1 - b) / 2, (1 + b) / 2]``, b = sqrt((g - 1) / (g + 1)) (0 outside); it integrates
    to :func:`heitler_sigma_mm2`. (The photons are identical: the pair of fractions
    {eps, 1 - eps} has the same law whether the first photon follows S(eps) or its
    symmetrisation.)"""
    eps = np.asarray(eps, dtype=float)
    g = t_mev / ELECTRON_MASS_MEV + 1
    b = math.sqrt((g - 1) / (g + 1))
    lo, hi = 0.5 * (1 - b), 0.5 * (1 + b)
    e = np.clip(eps, lo, hi)
    s = -((g + 1) ** 2) + (g * g + 4 * g + 1) / e - 1 / (e * e)
    pref = math.pi * CLASSICAL_RADIUS_MM**2 / ((g + 1) * (g * g - 1))
    return np.where((eps >= lo) & (eps <= hi), pref * s, 0.0)


# ---- multiple scattering -------------------------------------------------------------------------
def screening_parameter(z: int, t_mev: np.ndarray) -> np.ndarray:
    """Molière's screening parameter A of the screened Rutherford cross section of element z
    for e± of kinetic energy ``t_mev``: ``(hbar / (2 p a))^2 (1.13 + 3.76 (alpha Z / beta)^2)``,
    Thomas–Fermi radius ``a = 0.885 a_0 Z^(-1/3)``."""
    t = np.asarray(t_mev, dtype=float)
    pc = np.sqrt(t * (t + 2 * ELECTRON_MASS_MEV))
    beta2 = pc**2 / (t + ELECTRON_MASS_MEV) ** 2
    a_tf = 0.885 * BOHR_RADIUS_MM * z ** (-1.0 / 3.0)
    return (HBARC_MEV_MM / (2 * pc * a_tf)) ** 2 * (1.13 + 3.76 * (FINE_STRUCTURE * z) ** 2 / beta2)


def transport_log(a: np.ndarray) -> np.ndarray:
    """``ln(1 + 1/A) - 1/(1 + A)``: the transport cross section of the screened Rutherford
    distribution in units of ``2 pi Z(Z+1) r_e^2 (m_e / (p beta))^2``."""
    a = np.asarray(a, dtype=float)
    return np.log1p(1.0 / a) - 1.0 / (1.0 + a)


def _rutherford_strength_mm(material: Material, t_mev: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Per element z of ``material``: ``2 pi n_z Z(Z+1) r_e^2 (m_e / (p beta))^2`` (1/mm)."""
    t = np.asarray(t_mev, dtype=float)
    pbeta = t * (t + 2 * ELECTRON_MASS_MEV) / (t + ELECTRON_MASS_MEV)
    out = []
    for z, w in material.composition:
        n_mm3 = material.density_g_cm3 * w / ELEMENT_MASS[z] * AVOGADRO / 1000.0
        k = 2 * math.pi * n_mm3 * z * (z + 1) * CLASSICAL_RADIUS_MM**2
        out.append((z, k * (ELECTRON_MASS_MEV / pbeta) ** 2))
    return out


def transport_mfp_mm(material: Material, t_mev: np.ndarray) -> np.ndarray:
    """Transport mean free path lambda_1 (mm) of e± of kinetic energy ``t_mev`` (screened
    Rutherford, summed over the elements of ``material``)."""
    inv = sum(
        k * transport_log(screening_parameter(z, t_mev))
        for z, k in _rutherford_strength_mm(material, t_mev)
    )
    return 1.0 / np.asarray(inv)


def effective_screening(material: Material, t_mev: np.ndarray) -> np.ndarray:
    """One screening parameter for the angles in ``material``: the A whose
    :func:`transport_log` is the n Z(Z+1)-weighted mean of its elements' (for an element, its
    own A)."""
    parts = _rutherford_strength_mm(material, t_mev)
    total = sum(k for _, k in parts)
    target = sum(k * transport_log(screening_parameter(z, t_mev)) for z, k in parts) / total
    lo = np.full_like(np.asarray(target), -60.0)
    hi = np.full_like(lo, 10.0)
    for _ in range(80):  # bisection in ln A: transport_log decreases with A
        mid = 0.5 * (lo + hi)
        big = transport_log(np.exp(mid)) > target
        lo, hi = np.where(big, mid, lo), np.where(big, hi, mid)
    return np.exp(0.5 * (lo + hi))


@dataclass(frozen=True)
class PhysicsTables:
    """Per-material tables for the kernel, rows in ``materials`` order; columns on
    :func:`energy_grid`. ``range_mm[c, m]`` and ``msc_tau[c, m]`` (Lambda(T), the number of
    transport lengths on the way from T to rest) for c = 0 (e−), 1 (e+); ``lambda1_mm[m]``
    the transport mean free path, ``screening[m]`` the effective screening parameter A;
    ``brems_elements[m]`` the per-element constants of :func:`brems_elements`;
    ``sigma_annihilation[m]`` the macroscopic cross section (1/mm) of positron annihilation
    in flight (Heitler); ``photon_production_mev[m]`` / ``electron_production_mev[m]`` the
    production thresholds (:meth:`Cuts.production_thresholds`) the brems, delta-ray and
    restricted-loss tables were built with."""

    materials: tuple[str, ...]
    ln_e0: float
    inv_dln: float
    mu_compton: np.ndarray
    mu_photo: np.ndarray
    mu_pair: np.ndarray
    range_mm: np.ndarray
    sigma_brems: np.ndarray
    sigma_delta: np.ndarray
    x0_mm: np.ndarray
    mean_excitation_mev: np.ndarray
    lambda1_mm: np.ndarray
    screening: np.ndarray
    msc_tau: np.ndarray
    brems_elements: np.ndarray
    sigma_annihilation: np.ndarray
    photon_production_mev: np.ndarray
    electron_production_mev: np.ndarray

    def kernel_tuple(self) -> tuple:
        """The tables in the order the transport kernel reads them (its ``tabs``)."""
        return (
            self.ln_e0, self.inv_dln, self.mu_compton, self.mu_photo, self.mu_pair,
            self.range_mm, self.sigma_brems, self.sigma_delta, self.mean_excitation_mev,
            self.lambda1_mm, self.screening, self.msc_tau, self.brems_elements,
            self.sigma_annihilation, self.photon_production_mev, self.electron_production_mev,
        )  # fmt: skip


def build_tables(materials: tuple[str, ...], cuts: Cuts) -> PhysicsTables:
    """Tabulate every process for ``materials`` with ``cuts``."""
    grid = energy_grid()
    nm, ng = len(materials), len(grid)
    mu_c, mu_pe, mu_pair = np.zeros((nm, ng)), np.zeros((nm, ng)), np.zeros((nm, ng))
    rng_tab = np.zeros((2, nm, ng))
    sig_b, sig_d = np.zeros((nm, ng)), np.zeros((2, nm, ng))
    x0, ipot = np.zeros(nm), np.zeros(nm)
    lam1, screen, tau_tab = np.zeros((nm, ng)), np.zeros((nm, ng)), np.zeros((2, nm, ng))
    brem_el = np.zeros((nm, 4, 7))
    sig_a = np.zeros((nm, ng))
    kprod, tprod = np.zeros(nm), np.zeros(nm)
    kn = klein_nishina_sigma_mm2(grid)
    heitler = heitler_sigma_mm2(grid)
    for m, name in enumerate(materials):
        mat = get_material(name)
        x0[m] = mat.x0_mm
        mu_c[m] = electron_density_mm3(mat) * kn
        sig_a[m] = electron_density_mm3(mat) * heitler
        for z, w in mat.composition:
            atoms_mm3 = mat.density_g_cm3 * w / ELEMENT_MASS[z] * AVOGADRO / 1000.0
            mu_pe[m] += atoms_mm3 * photoelectric_sigma_barn(z, grid) * BARN_MM2
        mu_pair[m] = 7.0 / (9.0 * mat.x0_mm) * pair_shape(mat, grid)
        kprod[m], tprod[m] = cuts.production_thresholds(mat, mu_c[m] + mu_pe[m] + mu_pair[m])
        sig_b[m] = brems_sigma(mat, grid, kprod[m])
        brem_el[m] = brems_elements(mat)
        sb = brems_continuous_dedx(mat, grid, kprod[m])
        lam1[m] = transport_mfp_mm(mat, grid)
        screen[m] = effective_screening(mat, grid)
        for c, positron in enumerate((False, True)):
            dedx = restricted_collision_dedx(mat, grid, tprod[m], positron=positron)
            total = np.maximum(dedx + sb, 1e-12)
            # range from the grid's first point (taken as T/S there) by trapezoids in T
            inv = 1.0 / total
            steps = 0.5 * (inv[1:] + inv[:-1]) * np.diff(grid)
            rng_tab[c, m] = grid[0] * inv[0] + np.concatenate([[0.0], np.cumsum(steps)])
            # Lambda(T): from the first grid point as (T / S) / lambda_1 there, then trapezoids
            inv_t = inv / lam1[m]
            steps_t = 0.5 * (inv_t[1:] + inv_t[:-1]) * np.diff(grid)
            tau_tab[c, m] = grid[0] * inv_t[0] + np.concatenate([[0.0], np.cumsum(steps_t)])
            sig_d[c, m] = delta_sigma(mat, grid, tprod[m], positron=positron)
        ipot[m] = mat.mean_excitation_ev * 1e-6
    return PhysicsTables(
        materials=tuple(materials),
        ln_e0=math.log(grid[0]),
        inv_dln=1.0 / math.log(grid[1] / grid[0]),
        mu_compton=mu_c,
        mu_photo=mu_pe,
        mu_pair=mu_pair,
        range_mm=rng_tab,
        sigma_brems=sig_b,
        sigma_delta=sig_d,
        x0_mm=x0,
        mean_excitation_mev=ipot,
        lambda1_mm=lam1,
        screening=screen,
        msc_tau=tau_tab,
        brems_elements=brem_el,
        sigma_annihilation=sig_a,
        photon_production_mev=kprod,
        electron_production_mev=tprod,
    )
