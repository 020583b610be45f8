"""The Grindhammer–Peters parameter values and the formulas that use them.

Reference: G. Grindhammer and S. Peters, "The parameterized simulation of electromagnetic
showers in homogeneous and sampling calorimeters", hep-ex/0001020 (GP below), and its Geant4
implementation (``GVFlashHomoShowerTuning`` / ``GFlashSamplingShowerTuning``, whose member
names are given in brackets). Comments cite GP by section: 2.1 homogeneous longitudinal
profiles, 2.2 homogeneous radial profiles, 2.3 fluctuations / spots, 3 sampling calorimeters.

Units: ``y = E / Ec`` dimensionless, depths ``t`` in X0 of the effective medium, radii in
Molière radii of the effective medium, energies in the radial/spot formulas in GeV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from caloforge.geometry.stack import E_OVER_MIP_Z

__all__ = ["GFlashParameters", "LongitudinalMoments", "longitudinal_moments"]


@dataclass(frozen=True)
class GFlashParameters:
    """All coefficients of the parametrisation, defaults as published (GP / Geant4 tuning)."""

    # ---- GP 2.1, homogeneous media: individual profiles, ln T and ln alpha correlated normal
    t_hom_ln: float = -0.812  # <ln T_hom> = ln(ln y + t)                         [ParAveT1]
    a_hom_0: float = 0.81  # <ln a_hom> = ln(a0 + (a1 + a2 / Z) ln y)           [ParAveA1]
    a_hom_1: float = 0.458  #                                                   [ParAveA2]
    a_hom_2: float = 2.26  #                                                    [ParAveA3]
    sig_lnt_hom_0: float = -1.4  # sigma(ln T_hom) = 1 / (s0 + s1 ln y)          [ParSigLogT1]
    sig_lnt_hom_1: float = 1.26  #                                              [ParSigLogT2]
    sig_lna_hom_0: float = -0.58  # sigma(ln a_hom) = 1 / (s0 + s1 ln y)         [ParSigLogA1]
    sig_lna_hom_1: float = 0.86  #                                              [ParSigLogA2]
    rho_hom_0: float = 0.705  # rho(ln T, ln a) = r0 + r1 ln y                  [ParRho1]
    rho_hom_1: float = -0.023  #                                                [ParRho2]
    # ---- GP 2.1, average profiles (used only to document / test <T_hom>, <a_hom>)
    t_hom_mean: float = -0.858  # <T_hom> = ln y + t  (electrons)
    a_hom_mean_0: float = 0.21  # <a_hom> = a0 + (a1 + a2 / Z) ln y
    a_hom_mean_1: float = 0.492
    a_hom_mean_2: float = 2.38

    # ---- GP 3, sampling media: corrections with F_s^-1 and (1 - e_hat)
    t_sam_fs: float = -0.55  # <ln T_sam> = ln(exp<ln T_hom> + t1/F_s + t2 (1 - e)) [ParsAveT1]
    t_sam_e: float = -0.69  #                                                   [ParsAveT2]
    a_sam_fs: float = -0.476  # <ln a_sam> = ln(exp<ln a_hom> + a1/F_s)         [ParsAveA1]
    sig_lnt_sam_0: float = -2.5  # sigma(ln T_sam) = 1 / (s0 + s1 ln y)          [ParsSigLogT1]
    sig_lnt_sam_1: float = 1.25  #                                              [ParsSigLogT2]
    sig_lna_sam_0: float = -0.82  # sigma(ln a_sam) = 1 / (s0 + s1 ln y)         [ParsSigLogA1]
    sig_lna_sam_1: float = 0.79  #                                              [ParsSigLogA2]
    rho_sam_0: float = 0.784  # rho = r0 + r1 ln y                              [ParsRho1]
    rho_sam_1: float = -0.023  #                                                [ParsRho2]
    e_hat_z: float = E_OVER_MIP_Z  # e/mip: e_hat = 1 / (1 + c (Z_passive - Z_active))

    # ---- GP 2.2, homogeneous radial profile f(r) = p core(R_C) + (1 - p) tail(R_T), tau = t/T
    rc_0: float = 0.0251  # R_C = z1 + z2 tau, z1 = c0 + c1 ln E                [ParRC1]
    rc_1: float = 0.00319  #                                                    [ParRC2]
    rc_2: float = 0.1162  # z2 = c2 + c3 Z                                      [ParRC3]
    rc_3: float = -0.000381  #                                                  [ParRC4]
    rt_0: float = 0.659  # R_T = k1 (exp(k3 (tau - k2)) + exp(k4 (tau - k2))), k1 = t0 + t1 Z
    rt_1: float = -0.00309  #                                                   [ParRT2]
    rt_k2: float = 0.645  #                                                     [ParRT3]
    rt_k3: float = -2.59  #                                                     [ParRT4]
    rt_4: float = 0.3585  # k4 = t4 + t5 ln E                                   [ParRT5]
    rt_5: float = 0.0412  #                                                     [ParRT6]
    p_0: float = 2.632  # p = p1 exp((p2 - tau)/p3 - exp((p2 - tau)/p3)), p1 = c0 + c1 Z
    p_1: float = -0.00094  #                                                    [ParWC2]
    p_2: float = 0.401  # p2 = c2 + c3 Z                                        [ParWC3]
    p_3: float = 0.00187  #                                                     [ParWC4]
    p_4: float = 1.313  # p3 = c4 + c5 ln E                                     [ParWC5]
    p_5: float = -0.0686  #                                                     [ParWC6]
    # ---- GP 3, sampling radial corrections
    rc_sam_e: float = -0.0203  # R_C += c1 (1 - e) + c2/F_s exp(-tau)            [ParsRC1]
    rc_sam_fs: float = 0.0397  #                                                [ParsRC2]
    rt_sam_e: float = -0.14  # R_T += t1 (1 - e) + t2/F_s exp(-tau)             [ParsRT1]
    rt_sam_fs: float = -0.495  #                                                [ParsRT2]
    p_sam_e: float = 0.348  # p += (1 - e)(c1 + c2/F_s exp(-(tau - 1)^2))       [ParsWC1]
    p_sam_fs: float = -0.642  #                                                 [ParsWC2]

    # ---- GP 2.3 / 3, spots: number and longitudinal distribution (Gamma, T_s, a_s)
    nspot_hom_0: float = 93.0  # N_spot = n0 ln(Z) E^n1                          [ParSpotN1]
    nspot_hom_1: float = 0.876  #                                               [ParSpotN2]
    nspot_sam_0: float = 10.3  # N_spot = n0 / c_sam E^n1                       [ParsSpotN1]
    nspot_sam_1: float = 0.959  #                                               [ParsSpotN2]
    tspot_hom_0: float = 0.698  # T_s = T_hom (t0 + t1 Z)                        [ParSpotT1]
    tspot_hom_1: float = 0.00212  #                                             [ParSpotT2]
    aspot_hom_0: float = 0.639  # a_s = a_hom (a0 + a1 Z)                        [ParSpotA1]
    aspot_hom_1: float = 0.00334  #                                             [ParSpotA2]
    tspot_sam_0: float = 0.813  # sampling media                                [ParsSpotT1]
    tspot_sam_1: float = 0.0019  #                                              [ParsSpotT2]
    aspot_sam_0: float = 0.844  #                                               [ParsSpotA1]
    aspot_sam_1: float = 0.0026  #                                              [ParsSpotA2]

    # ---- sampling fluctuations: sigma/E = c_sam / sqrt(E/GeV), applied per depth step as a
    # Gamma-distributed visible energy. None: c_sam = k sqrt(d_active/mm / f_mip) (the rule of
    # the PDG calorimetry review for sampling calorimeters), computed per readout layer.
    sampling_term: float | None = None
    sampling_rule_k: float = 0.027

    # ---- our implementation choices (not GP)
    step_x0: float = 0.5  # longest longitudinal integration step, X0
    photon_conversion_x0: float = 9.0 / 7.0  # photons start after an Exp(9/7 X0) depth
    medium_depth_x0: float = 20.0  # effective medium: readout layers starting within this depth
    es_mev: float = 21.2052  # scale energy of the Molière radius (PDG)

    def radial_spot_array(self) -> np.ndarray:
        """The radial and spot coefficients in the order the compiled kernel reads them."""
        return np.array([getattr(self, name) for name in RADIAL_SPOT_ORDER], dtype=np.float64)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if not math.isfinite(value):
                msg = f"GFlashParameters.{f.name} must be finite, got {value}"
                raise ValueError(msg)
        for name in ("step_x0", "photon_conversion_x0", "medium_depth_x0", "es_mev"):
            if not getattr(self, name) > 0:
                msg = f"GFlashParameters.{name} must be > 0, got {getattr(self, name)}"
                raise ValueError(msg)
        if self.sampling_term is not None and not self.sampling_term >= 0:
            msg = f"GFlashParameters.sampling_term must be >= 0 or None, got {self.sampling_term}"
            raise ValueError(msg)


#: order of :meth:`GFlashParameters.radial_spot_array` (read by index in the kernel)
RADIAL_SPOT_ORDER: tuple[str, ...] = (
    "rc_0", "rc_1", "rc_2", "rc_3",
    "rt_0", "rt_1", "rt_k2", "rt_k3", "rt_4", "rt_5",
    "p_0", "p_1", "p_2", "p_3", "p_4", "p_5",
    "rc_sam_e", "rc_sam_fs", "rt_sam_e", "rt_sam_fs", "p_sam_e", "p_sam_fs",
)  # fmt: skip


@dataclass(frozen=True)
class LongitudinalMoments:
    """Per shower (arrays of shape (n,)): means, widths and correlation of (ln T, ln alpha);
    ``*_hom`` are the homogeneous-medium values (the base of the spot profile)."""

    mu_lnt: np.ndarray
    mu_lna: np.ndarray
    sig_lnt: np.ndarray
    sig_lna: np.ndarray
    rho: np.ndarray
    mu_lnt_hom: np.ndarray
    mu_lna_hom: np.ndarray
    sig_lnt_hom: np.ndarray
    sig_lna_hom: np.ndarray
    rho_hom: np.ndarray


def _inverse_width(a: float, b: float, ln_y: np.ndarray) -> np.ndarray:
    # 1 / (a + b ln y), capped at 0.5 (as Geant4) where the fit's denominator is small
    d = a + b * ln_y
    return np.where(d > 2.0, 1.0 / np.maximum(d, 2.0), 0.5)


def longitudinal_moments(
    p: GFlashParameters,
    y: np.ndarray,
    z_eff: float,
    fs: float,
    e_hat: float,
    sampling: bool,
) -> LongitudinalMoments:
    """GP 2.1 and 3: the bivariate normal of (ln T, ln alpha) for ``y = E/Ec`` (array)."""
    ln_y = np.log(np.maximum(np.asarray(y, dtype=float), 1.0 + 1e-9))
    mu_t_h = np.log(np.maximum(ln_y + p.t_hom_ln, 0.1))
    mu_a_h = np.log(np.maximum(p.a_hom_0 + (p.a_hom_1 + p.a_hom_2 / z_eff) * ln_y, 0.1))
    s_t_h = _inverse_width(p.sig_lnt_hom_0, p.sig_lnt_hom_1, ln_y)
    s_a_h = _inverse_width(p.sig_lna_hom_0, p.sig_lna_hom_1, ln_y)
    r_h = np.clip(p.rho_hom_0 + p.rho_hom_1 * ln_y, -0.99, 0.99)
    if not sampling:
        return LongitudinalMoments(
            mu_t_h, mu_a_h, s_t_h, s_a_h, r_h, mu_t_h, mu_a_h, s_t_h, s_a_h, r_h
        )
    t_arg = np.exp(mu_t_h) + p.t_sam_fs / fs + p.t_sam_e * (1.0 - e_hat)
    a_arg = np.exp(mu_a_h) + p.a_sam_fs / fs
    return LongitudinalMoments(
        np.log(np.maximum(t_arg, 0.1)),
        np.log(np.maximum(a_arg, 0.1)),
        _inverse_width(p.sig_lnt_sam_0, p.sig_lnt_sam_1, ln_y),
        _inverse_width(p.sig_lna_sam_0, p.sig_lna_sam_1, ln_y),
        np.clip(p.rho_sam_0 + p.rho_sam_1 * ln_y, -0.99, 0.99),
        mu_t_h,
        mu_a_h,
        s_t_h,
        s_a_h,
        r_h,
    )
