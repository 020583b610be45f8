"""The compiled shower loop: one GFlash shower per iteration of a parallel loop.

Every shower draws from its own counter-based generator (SplitMix64, Steele, Lea & Flood,
OOPSLA 2014) seeded with its 64-bit seed, so the output does not depend on the thread count.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["KIND_GRID", "KIND_NONE", "KIND_POLAR", "gamma_p", "simulate_showers"]

KIND_NONE, KIND_GRID, KIND_POLAR = -1, 0, 1

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0


@nb.njit(cache=True, inline="always")
def _uniform(state: np.ndarray) -> float:
    """Uniform in the open interval (0, 1); advances ``state[0]``."""
    state[0] += _GOLDEN
    z = state[0]
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return (float(z >> _S11) + 0.5) * _TWO_M53


@nb.njit(cache=True)
def _normal(state: np.ndarray) -> float:
    u1 = _uniform(state)
    u2 = _uniform(state)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@nb.njit(cache=True)
def _gamma_unit(state: np.ndarray, k: float) -> float:
    """Gamma(shape k, scale 1) variate (Marsaglia & Tsang 2000; boosted for k < 1)."""
    boost = 1.0
    if k < 1.0:
        boost = _uniform(state) ** (1.0 / k)
        k += 1.0
    d = k - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = _normal(state)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = _uniform(state)
        if math.log(u) < 0.5 * x * x + d - d * v + d * math.log(v):
            return d * v * boost


@nb.njit(cache=True)
def gamma_p(a: float, x: float) -> float:
    """Regularised lower incomplete gamma function P(a, x) (series / continued fraction)."""
    if x <= 0.0:
        return 0.0
    log_pref = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        term = 1.0 / a
        total = term
        ap = a
        for _ in range(1000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return min(1.0, total * math.exp(log_pref))
    # Lentz continued fraction for Q(a, x)
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < tiny:
            d = tiny
        c = b + an / c
        if abs(c) < tiny:
            c = tiny
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return max(0.0, 1.0 - math.exp(log_pref) * h)


@nb.njit(cache=True)
def _radial(
    coef: np.ndarray, e_gev: float, z: float, tau: float, one_minus_ehat: float, inv_fs: float
) -> tuple[float, float, float]:
    """GP 2.2 + 3: (R_C, R_T, p) in Molière radii at tau = t/T (see parameters.RADIAL_SPOT_ORDER)."""
    ln_e = math.log(e_gev)
    rc = coef[0] + coef[1] * ln_e + (coef[2] + coef[3] * z) * tau
    k1 = coef[4] + coef[5] * z
    k2 = coef[6]
    k4 = coef[8] + coef[9] * ln_e
    rt = k1 * (math.exp(coef[7] * (tau - k2)) + math.exp(k4 * (tau - k2)))
    p3 = coef[14] + coef[15] * ln_e
    q = (coef[12] + coef[13] * z - tau) / p3
    p = (coef[10] + coef[11] * z) * math.exp(q - math.exp(q))
    # sampling-calorimeter corrections (vanish for e_hat = 1 and 1/F_s = 0)
    rc += coef[16] * one_minus_ehat + coef[17] * inv_fs * math.exp(-tau)
    rt += coef[18] * one_minus_ehat + coef[19] * inv_fs * math.exp(-tau)
    p += one_minus_ehat * (coef[20] + coef[21] * inv_fs * math.exp(-((tau - 1.0) ** 2)))
    return max(rc, 1e-3), max(rt, 1e-3), min(max(p, 0.0), 1.0)


@nb.njit(cache=True, parallel=True)
def simulate_showers(
    energy: np.ndarray,
    seeds: np.ndarray,
    moments: np.ndarray,
    n_spot: np.ndarray,
    base: np.ndarray,
    slope: np.ndarray,
    photon: bool,
    conversion_x0: float,
    t_edges: np.ndarray,
    z_edges: np.ndarray,
    step_layer: np.ndarray,
    layer_kind: np.ndarray,
    layer_offset: np.ndarray,
    layer_int: np.ndarray,
    layer_float: np.ndarray,
    r_edges: np.ndarray,
    visible: np.ndarray,
    samp_term: np.ndarray,
    medium: np.ndarray,
    coef: np.ndarray,
    spot_coef: np.ndarray,
    n_cells: int,
    cells: np.ndarray,
    book: np.ndarray,
) -> None:
    """Simulate ``len(energy)`` showers into ``cells`` (n, n_cells) and ``book`` (n, 3) =
    (active, passive, escaped) MeV.

    ``moments`` (n, 10): mu/sigma of ln T, ln alpha and rho, sampled-medium then homogeneous;
    ``base`` (n, n_layers, 2): impact in each layer's lateral coordinates; ``slope`` (n, 3):
    (dx/dz, dy/dz, dz) of the shower axis; ``layer_int`` (n_layers, 5): (n_a, n_b, stride_a,
    stride_b, edge start); ``layer_float`` (n_layers, 4): (pitch_a, pitch_b, scale_a, scale_b);
    ``medium``: (Z_eff, R_M mm, 1/F_s, 1 - e_hat).
    """
    n = energy.shape[0]
    n_steps = step_layer.shape[0]
    z_eff, rm_mm, inv_fs, one_minus_ehat = medium[0], medium[1], medium[2], medium[3]
    for i in nb.prange(n):
        state = np.empty(1, dtype=np.uint64)
        state[0] = seeds[i]
        _uniform(state)
        buf = np.zeros(n_cells)
        e_mev = energy[i]
        e_gev = e_mev / 1000.0
        # ---- longitudinal profile: correlated (ln T, ln alpha), GP 2.1 / 3
        z1 = _normal(state)
        z2 = _normal(state)
        m = moments[i]
        c1, c2 = math.sqrt(0.5 * (1.0 + m[4])), math.sqrt(0.5 * (1.0 - m[4]))
        t_max = max(1.0, math.exp(m[0] + m[2] * (c1 * z1 + c2 * z2)))
        alpha = max(1.1, math.exp(m[1] + m[3] * (c1 * z1 - c2 * z2)))
        beta = (alpha - 1.0) / t_max
        c1h, c2h = math.sqrt(0.5 * (1.0 + m[9])), math.sqrt(0.5 * (1.0 - m[9]))
        t_hom = math.exp(m[5] + m[7] * (c1h * z1 + c2h * z2))
        a_hom = math.exp(m[6] + m[8] * (c1h * z1 - c2h * z2))
        # ---- spot profile, GP 2.3
        t_spot = max(0.5, t_hom * (spot_coef[0] + spot_coef[1] * z_eff))
        a_spot = max(1.1, a_hom * (spot_coef[2] + spot_coef[3] * z_eff))
        b_spot = (a_spot - 1.0) / t_spot
        start = -conversion_x0 * math.log(_uniform(state)) if photon else 0.0
        dxdz, dydz, dz = slope[i, 0], slope[i, 1], slope[i, 2]
        # ---- integrate step by step
        active = 0.0
        deposited = 0.0
        s_lo = t_edges[0] / dz - start
        cdf_e_lo = gamma_p(alpha, beta * s_lo) if s_lo > 0.0 else 0.0
        cdf_s_lo = gamma_p(a_spot, b_spot * s_lo) if s_lo > 0.0 else 0.0
        for j in range(n_steps):
            if cdf_e_lo >= 1.0 and cdf_s_lo >= 1.0:
                break  # both profiles exhausted: nothing left to deposit
            s_hi = t_edges[j + 1] / dz - start
            if s_hi <= 0.0:
                continue
            cdf_e_hi = gamma_p(alpha, beta * s_hi)
            cdf_s_hi = gamma_p(a_spot, b_spot * s_hi)
            e_step = e_mev * (cdf_e_hi - cdf_e_lo)
            n_exp = n_spot[i] * (cdf_s_hi - cdf_s_lo)
            s_mid = 0.5 * (max(s_lo, 0.0) + s_hi)
            cdf_e_lo, cdf_s_lo, s_lo = cdf_e_hi, cdf_s_hi, s_hi
            deposited += e_step
            lay = step_layer[j]
            if lay < 0 or e_step <= 0.0 or visible[lay] <= 0.0:
                continue
            # visible energy of the step with sampling fluctuations (sigma/E = c/sqrt(E/GeV))
            vis = visible[lay] * e_step
            c = samp_term[lay]
            if c > 0.0:
                k = e_step / (c * c * 1000.0)
                vis *= _gamma_unit(state, k) / k
            active += vis
            kind = layer_kind[lay]
            if kind == KIND_NONE:
                continue
            # ---- spots: stochastic rounding of the expected number, at least one
            n_here = int(n_exp)
            if _uniform(state) < n_exp - n_here:
                n_here += 1
            n_here = max(n_here, 1)
            e_spot = vis / n_here
            rc, rt, p = _radial(coef, e_gev, z_eff, s_mid / t_max, one_minus_ehat, inv_fs)
            na, nb_, sa, sb, e0 = (
                layer_int[lay, 0],
                layer_int[lay, 1],
                layer_int[lay, 2],
                layer_int[lay, 3],
                layer_int[lay, 4],
            )
            pa, pb, ka, kb = (
                layer_float[lay, 0],
                layer_float[lay, 1],
                layer_float[lay, 2],
                layer_float[lay, 3],
            )
            off = layer_offset[lay]
            z_lo, z_hi = z_edges[j], z_edges[j + 1]
            for _ in range(n_here):
                z_mm = z_lo + (z_hi - z_lo) * _uniform(state)
                radius = rc if _uniform(state) < p else rt
                u = _uniform(state)
                r = rm_mm * radius * math.sqrt(u / (1.0 - u))
                phi = 2.0 * math.pi * _uniform(state)
                x = z_mm * dxdz + r * math.cos(phi)
                y = z_mm * dydz + r * math.sin(phi)
                a = base[i, lay, 0] + x * ka
                b = base[i, lay, 1] + y * kb
                if kind == KIND_GRID:
                    ia = math.floor(a / pa + 0.5 * na)
                    ib = math.floor(b / pb + 0.5 * nb_)
                    if 0 <= ia < na and 0 <= ib < nb_:
                        buf[off + ia * sa + ib * sb] += e_spot
                else:  # polar: a, b are x, y in mm; na = n_alpha, nb_ = n_r
                    rr = math.hypot(a, b)
                    if rr < r_edges[e0] or rr >= r_edges[e0 + nb_]:
                        continue
                    ir = 0
                    while rr >= r_edges[e0 + ir + 1]:
                        ir += 1
                    ia = math.floor((math.atan2(b, a) + math.pi) / (2.0 * math.pi) * na)
                    ia = min(max(ia, 0), na - 1)
                    buf[off + ia * nb_ + ir] += e_spot
        escaped = e_mev - deposited
        for c_i in range(n_cells):
            cells[i, c_i] = buf[c_i]
        book[i, 0] = active
        book[i, 1] = deposited - active
        book[i, 2] = escaped
