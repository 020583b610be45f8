"""The numba transport kernel: one shower per ``prange`` iteration, its own RNG and LIFO stack.

Particles: 0 photon, 1 electron, 2 positron; energies are kinetic (MeV), positions mm,
directions unit vectors. Each shower seeds a SplitMix64 generator from its own 64-bit seed, so a
shower depends on nothing but its seed and inputs, whatever the number of threads.

Per shower ``book`` = (active, passive, escaped, below_cut, visible) in MeV, then two counts,
(e± steps, e± steps in passive slabs), the work the shower cost:

- ``active`` / ``passive``: continuous energy loss of e± along their steps (restricted
  ionisation and sub-cut bremsstrahlung) in active / passive slabs;
- ``escaped``: energy carried out of the stack (through the front or the back face) — for a
  positron its kinetic energy plus the 2 m_e c^2 its annihilation would have released;
- ``below_cut``: energy of particles stopped at, or created below, the tracking cuts
  (photo-electrons, Compton electrons, delta rays and photons below the cuts, e± ranging
  out), deposited where they stop;
- ``visible``: everything deposited in active slabs (active plus the below-cut part lying in
  active slabs), i.e. what the readout sees, also outside the readout cells.

- the steps: condensed-history steps of e± (every call of the step kernel), all of them and
  those in passive slabs (whose deposits are not read out).

active + passive + escaped + below_cut equals the incident kinetic energy for photons and
electrons, and the incident kinetic energy plus 2 m_e c^2 for positrons (the primary positron
annihilates with an atomic electron of the medium).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["BOOK_SIZE", "run_showers"]

#: slots of a shower's ``book`` (see the module): five energies, then two step counts; every
#: caller of the kernels allocates this many (they write without bounds checks)
BOOK_SIZE = 7

ME = 0.51099895
PHOTON, ELECTRON, POSITRON = 0, 1, 2
STACK_CAPACITY = 1 << 14
TWO_PI = 2.0 * math.pi
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0
# Taylor coefficients of sin (odd) and cos (even)
_SIN3, _SIN5, _SIN7, _SIN9 = -1.0 / 6.0, 1.0 / 120.0, -1.0 / 5040.0, 1.0 / 362880.0
_SIN11, _SIN13, _SIN15, _SIN17 = (
    -1.0 / 39916800.0,
    1.0 / 6227020800.0,
    -1.0 / 1307674368000.0,
    1.0 / 355687428096000.0,
)
_COS2, _COS4, _COS6, _COS8 = -0.5, 1.0 / 24.0, -1.0 / 720.0, 1.0 / 40320.0
_COS10, _COS12, _COS14 = -1.0 / 3628800.0, 1.0 / 479001600.0, -1.0 / 87178291200.0
_COS16, _COS18 = 1.0 / 20922789888000.0, -1.0 / 6402373705728000.0
#: hard (individually sampled) elastic collisions per transport mean free path
HARD_PER_LAMBDA1 = 3.0
#: beyond this many transport lengths a step's direction is taken as isotropic (e^-8 < 4e-4)
TAU_ISOTROPIC = 8.0
#: beyond this many transport lengths (mean cosine e^-2 = 0.14) the hard collisions are not
#: sampled one by one: the whole deflection is the truncated exponential in w of mean
#: 1 - e^-tau (a long step near no face; the hard ones would cost a rotation each)
TAU_MIXED = 2.0
# Urban's fluctuation model: lowest ionisation energy (MeV), share of the mean loss that goes
# to ionisation, width factor and count scale of the excitation level, count above which a
# Poisson number is summed as a Gaussian
FL_E0, FL_RATE, FL_FW, FL_A0, FL_NMAX = 1e-5, 0.56, 4.0, 42.0, 8.0
# cut parameter vector layout (:meth:`~.physics.Cuts.kernel_vector`); the production
# thresholds are per material, in the tables (``tabs[14]`` photons, ``tabs[15]`` e±)
C_GTRACK, C_ETRACK, C_FRAC, C_FINAL, C_LAMBDA1, C_SAFETY, C_RR = range(7)
#: a step of more transport lengths than this gets the second-moment displacement term
TAU_SPREAD = 0.3


# ---- random numbers ---------------------------------------------------------------------------
@nb.njit(cache=True)
def _uniform(state: np.ndarray) -> float:
    """SplitMix64 -> double in (0, 1)."""
    s = state[0] + _GOLDEN
    state[0] = s
    z = (s ^ (s >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return ((z >> _S11) + 0.5) * _INV53


@nb.njit(cache=True, inline="always")
def _cos_sin_2pi(v: float) -> tuple[float, float]:
    """(cos 2 pi v, sin 2 pi v) for v in [0, 1], to ~1e-16: quadrant from v itself (exact),
    Taylor series on |2 pi r| <= pi / 4 (truncation < 1e-19). Cheaper than libm's sincos,
    which took a fifth of the kernel's time (an azimuth and three normals per e± step)."""
    k = math.floor(4.0 * v + 0.5)
    a = TWO_PI * (v - 0.25 * k)
    z = a * a
    sn = a * (
        1.0
        + z
        * (
            _SIN3
            + z
            * (
                _SIN5
                + z
                * (_SIN7 + z * (_SIN9 + z * (_SIN11 + z * (_SIN13 + z * (_SIN15 + z * _SIN17)))))
            )
        )
    )
    cs = 1.0 + z * (
        _COS2
        + z
        * (
            _COS4
            + z
            * (
                _COS6
                + z
                * (_COS8 + z * (_COS10 + z * (_COS12 + z * (_COS14 + z * (_COS16 + z * _COS18)))))
            )
        )
    )
    q = int(k) & 3
    if q == 0:
        return cs, sn
    if q == 1:
        return -sn, cs
    if q == 2:
        return -cs, -sn
    return sn, -cs


@nb.njit(cache=True, inline="always")
def _normal(state: np.ndarray) -> float:
    r = math.sqrt(-2.0 * math.log(_uniform(state)))
    return r * _cos_sin_2pi(_uniform(state))[0]


@nb.njit(cache=True, inline="always")
def _azimuth(state: np.ndarray) -> tuple[float, float]:
    """(cos phi, sin phi) of a uniform azimuth phi = 2 pi u."""
    return _cos_sin_2pi(_uniform(state))


# ---- tables ---------------------------------------------------------------------------------------
@nb.njit(cache=True)
def _lerp(tab: np.ndarray, m: int, ln_e: float, ln_e0: float, inv_dln: float) -> float:
    f = (ln_e - ln_e0) * inv_dln
    if f <= 0.0:
        return tab[m, 0]
    n = tab.shape[1]
    i = int(f)
    if i >= n - 1:
        return tab[m, n - 1]
    w = f - i
    return tab[m, i] * (1.0 - w) + tab[m, i + 1] * w


@nb.njit(cache=True)
def _energy_from_range(
    rt: np.ndarray, m: int, r: float, ln_e0: float, inv_dln: float, hint: int
) -> float:
    """Kinetic energy whose range is ``r`` (linear in ln E between grid points). ``hint`` is a
    grid index near the answer (that of the energy before the step: the residual range only
    shrinks), walked from instead of a binary search; the bracket found, the largest i <= n - 2
    with row[i] < r, is the one ``np.searchsorted`` gives, whatever the hint."""
    row = rt[m]
    n = row.shape[0]
    if r <= row[0]:
        return math.exp(ln_e0) * r / row[0]
    i = min(max(hint, 0), n - 2)
    while i > 0 and row[i] >= r:
        i -= 1
    while i < n - 2 and row[i + 1] < r:
        i += 1
    w = (r - row[i]) / (row[i + 1] - row[i])
    return math.exp(ln_e0 + (i + w) / inv_dln)


# ---- geometry helpers ---------------------------------------------------------------------------
@nb.njit(cache=True, inline="always")
def _rotate(
    ux: float, uy: float, uz: float, cost: float, cp: float, sp: float
) -> tuple[float, float, float]:
    """Direction at polar angle acos(cost), azimuth phi (cp = cos phi, sp = sin phi) about
    (ux, uy, uz) (Geant4 rotateUz)."""
    sint = math.sqrt(max(0.0, 1.0 - cost * cost))
    perp2 = ux * ux + uy * uy
    if perp2 < 1e-20:
        return sint * cp, sint * sp, cost * (1.0 if uz >= 0 else -1.0)
    perp = math.sqrt(perp2)
    nx = (ux * uz * cp - uy * sp) * sint / perp + ux * cost
    ny = (uy * uz * cp + ux * sp) * sint / perp + uy * cost
    nz = -perp * sint * cp + uz * cost
    norm = 1.0 / math.sqrt(nx * nx + ny * ny + nz * nz)
    return nx * norm, ny * norm, nz * norm


@nb.njit(cache=True, inline="always")
def _tsai_cost(e_total: float, state: np.ndarray) -> float:
    """Polar angle cosine of a bremsstrahlung photon or pair lepton: the modified Tsai
    distribution (Geant4 G4ModifiedTsai), u = theta E / m_e with density
    f(u) = 1/4 b1^2 u e^(-b1 u) + 3/4 b2^2 u e^(-b2 u), b1 = 0.625, b2 = 1.875 = 3 b1:
    a Gamma(2) variate divided by b1 or b2, mean u = 1.6, truncated at u_max = 2 (1 + E / m_e).
    """
    u_max = 2.0 * (1.0 + e_total / ME)
    while True:
        u = -math.log(_uniform(state) * _uniform(state))
        u = u * 1.6 if _uniform(state) < 0.25 else u * 0.5333333333333333
        if u <= u_max:
            return 1.0 - 2.0 * u * u / (u_max * u_max)


@nb.njit(cache=True, inline="always")
def _cell(layer: int, x: float, y: float, ro: tuple) -> int:
    """Cell index of (x, y) in ``layer`` (-1 outside its cells); ``ro`` as in :func:`_deposit`."""
    kind, ipar, fpar, redges, sh_eta, sh_phi = ro[2], ro[4], ro[5], ro[6], ro[7], ro[8]
    k = kind[layer]
    if k == 0:
        nx, ny = ipar[layer, 0], ipar[layer, 1]
        ix = math.floor(x / fpar[layer, 0] + 0.5 * nx)
        iy = math.floor(y / fpar[layer, 1] + 0.5 * ny)
        if ix < 0 or ix >= nx or iy < 0 or iy >= ny:
            return -1
        return iy * nx + ix
    if k == 1:
        n_alpha, n_r = ipar[layer, 0], ipar[layer, 1]
        r = math.sqrt(x * x + y * y)
        if r < redges[layer, 0] or r >= redges[layer, n_r]:
            return -1
        ir = 0
        while r >= redges[layer, ir + 1]:
            ir += 1
        ia = math.floor((math.atan2(y, x) + math.pi) / TWO_PI * n_alpha)
        ia = min(max(ia, 0), n_alpha - 1)
        return ia * n_r + ir
    if k == 2:
        n_eta, n_phi = ipar[layer, 0], ipar[layer, 1]
        de = x / fpar[layer, 2] + sh_eta[layer]
        dp = y / fpar[layer, 3] + sh_phi[layer]
        ie = math.floor(de / fpar[layer, 0] + 0.5 * n_eta)
        ip = math.floor(dp / fpar[layer, 1] + 0.5 * n_phi)
        if ie < 0 or ie >= n_eta or ip < 0 or ip >= n_phi:
            return -1
        return ie * n_phi + ip
    return -1


@nb.njit(cache=True, inline="always")
def _deposit(
    edep: float,
    below: bool,
    x: float,
    y: float,
    slab: int,
    book: np.ndarray,
    cells: np.ndarray,
    ro: tuple,
) -> None:
    """Book ``edep`` deposited at (x, y) in ``slab``. ``ro`` (the readout of one shower):
    (slab_active, slab_layer, kind, cell_offset, int_par, float_par, r_edges, shift_eta,
    shift_phi, pitch)."""
    sact, slay, coff = ro[0], ro[1], ro[3]
    active = sact[slab]
    if below:
        book[3] += edep
    elif active:
        book[0] += edep
    else:
        book[1] += edep
    if active:
        book[4] += edep
        layer = slay[slab]
        if layer >= 0:
            c = _cell(layer, x, y, ro)
            if c >= 0:
                cells[coff[layer] + c] += edep


#: a straight leg in a read-out slab is deposited in pieces no longer (laterally) than this
#: fraction of the layer's smallest cell size, so that the cells a track crosses get their
#: share whatever the step length; at most LEG_PIECES_MAX pieces
LEG_PIECE_PITCH, LEG_PIECES_MAX = 0.5, 64


@nb.njit(cache=True)
def _deposit_leg(
    edep: float,
    xa: float,
    ya: float,
    xb: float,
    yb: float,
    slab: int,
    book: np.ndarray,
    cells: np.ndarray,
    ro: tuple,
) -> None:
    """Book the continuous loss ``edep`` of a straight leg from (xa, ya) to (xb, yb) in
    ``slab``, spread uniformly along it: in equal pieces at their midpoints, each at most
    :data:`LEG_PIECE_PITCH` of the smallest cell size long (laterally) when the slab is read
    out (``ro[9]``: the per-layer cell size; in polar layers the azimuthal size at the leg's
    radius counts too)."""
    layer = ro[1][slab]
    dx, dy = xb - xa, yb - ya
    pieces = 1
    if ro[0][slab] and layer >= 0:
        lat = math.sqrt(dx * dx + dy * dy)
        p = ro[9][layer]
        if ro[2][layer] == 1:
            r = math.sqrt((xa + 0.5 * dx) ** 2 + (ya + 0.5 * dy) ** 2)
            p = min(p, max(TWO_PI * r / ro[4][layer, 0], 0.05 * p))
        if lat > LEG_PIECE_PITCH * p:
            pieces = min(math.ceil(lat / (LEG_PIECE_PITCH * p)), LEG_PIECES_MAX)
    if pieces == 1:
        _deposit(edep, False, xa + 0.5 * dx, ya + 0.5 * dy, slab, book, cells, ro)
        return
    share = edep / pieces
    for i in range(pieces):
        f = (i + 0.5) / pieces
        _deposit(share, False, xa + f * dx, ya + f * dy, slab, book, cells, ro)


@nb.njit(cache=True, inline="always")
def _push(
    sf: np.ndarray,
    si: np.ndarray,
    n: int,
    ptype: int,
    e: float,
    x: float,
    y: float,
    z: float,
    ux: float,
    uy: float,
    uz: float,
    slab: int,
) -> int:
    """Push a particle; returns the new stack size, or -1 when the stack is full."""
    if n >= sf.shape[0]:
        return -1
    sf[n, 0] = e
    sf[n, 1] = x
    sf[n, 2] = y
    sf[n, 3] = z
    sf[n, 4] = ux
    sf[n, 5] = uy
    sf[n, 6] = uz
    si[n, 0] = ptype
    si[n, 1] = slab
    return n + 1


@nb.njit(cache=True, inline="always")
def _after_step(
    t: float,
    rng: float,
    s: float,
    m: int,
    lnt: float,
    rt: np.ndarray,
    tt: np.ndarray,
    lam1: np.ndarray,
    ln_e0: float,
    inv_dln: float,
) -> tuple[float, float]:
    """(mean kinetic energy after a true path ``s``, its number of transport lengths tau) for
    an e± of energy ``t`` (log ``lnt``) and residual range ``rng`` in material ``m``: tau is
    Lambda(t) - Lambda(t1) from the table ``tt``, or s / lambda_1 at the mid energy when the
    step loses under 5% (where the table difference would be dominated by interpolation)."""
    if s >= rng:
        return 0.0, _lerp(tt, m, lnt, ln_e0, inv_dln)
    hint = int((lnt - ln_e0) * inv_dln)
    t1 = min(_energy_from_range(rt, m, rng - s, ln_e0, inv_dln, hint), t)
    if t - t1 < 0.05 * t:
        return t1, s / _lerp(lam1, m, math.log(0.5 * (t + t1)), ln_e0, inv_dln)
    tau = _lerp(tt, m, lnt, ln_e0, inv_dln) - _lerp(tt, m, math.log(t1), ln_e0, inv_dln)
    return t1, max(tau, 0.0)


@nb.njit(cache=True)
def _soft_scale_newton(mean_w: float) -> float:
    """Scale b of the exponential distribution of w = 1 - cos theta truncated to [0, 2]
    whose mean is ``mean_w`` (in (0, 1)): solves b - 2 / (e^(2/b) - 1) = mean_w (Newton)."""
    if mean_w < 0.2:
        return mean_w + 2.0 / math.expm1(2.0 / mean_w)
    b = max(mean_w, 1.0 / (3.0 * (1.0 - mean_w)))
    for _ in range(8):
        x = 2.0 / b
        em = math.expm1(x)
        g = b - 2.0 / em - mean_w
        dg = 1.0 - x * x * (em + 1.0) / (em * em)
        b = max(b - g / dg, 0.5 * b)
    return b


#: :func:`_soft_scale` tabulated on mean w in [SOFT_W0, SOFT_W1] (linear interpolation there;
#: relative error < 4e-6, checked in the tests), Newton's method above
SOFT_W0, SOFT_W1, SOFT_N = 0.2, 0.95, 4097
_SOFT_TABLE = np.array(
    [_soft_scale_newton(w) for w in np.linspace(SOFT_W0, SOFT_W1, SOFT_N)], dtype=np.float64
)
_SOFT_INV_DW = (SOFT_N - 1) / (SOFT_W1 - SOFT_W0)


@nb.njit(cache=True, inline="always")
def _soft_scale(mean_w: float) -> float:
    """:func:`_soft_scale_newton`, from a table over the range the steps use (the Newton
    iterations, eight expm1 each, were a fifth of a step's cost)."""
    if mean_w < SOFT_W0:
        if mean_w < 0.04:  # 2 / expm1(2 / mean_w) < 1e-20 mean_w: below half an ulp
            return mean_w
        return mean_w + 2.0 / math.expm1(2.0 / mean_w)
    if mean_w >= SOFT_W1:
        return _soft_scale_newton(mean_w)
    f = (mean_w - SOFT_W0) * _SOFT_INV_DW
    i = int(f)
    w = f - i
    return _SOFT_TABLE[i] * (1.0 - w) + _SOFT_TABLE[i + 1] * w


@nb.njit(cache=True)
def _msc_deflect(
    ux: float, uy: float, uz: float, tau: float, a: float, state: np.ndarray
) -> tuple[float, float, float]:
    """Direction after a step of ``tau`` transport lengths in a medium of screening parameter
    ``a`` (screened Rutherford, :mod:`.physics`). Mixed scheme: the collisions with
    w = 1 - cos theta above w_c (chosen so that there are :data:`HARD_PER_LAMBDA1` of them per
    transport length) are sampled one by one (Poisson number, each from the screened
    Rutherford law above w_c: the single-scattering tail); the softer ones, many per step,
    are one deflection with a Gaussian small-angle core (w exponential, truncated at 2) whose
    mean w is 1 - exp(-tau_soft) (beyond :data:`TAU_MIXED` all of it is that one deflection).
    The mean cosine is exactly exp(-tau): steps compose, so the angular spread does not
    depend on how a path is cut into steps."""
    if tau <= 0.0:
        return ux, uy, uz
    if tau > TAU_ISOTROPIC:
        cp, sp = _azimuth(state)
        return _rotate(ux, uy, uz, 2.0 * _uniform(state) - 1.0, cp, sp)
    two_a = 2.0 * a
    big_l = math.log1p(1.0 / a) - 1.0 / (1.0 + a)
    inv_top = 1.0 / (2.0 + two_a)
    inv_c = HARD_PER_LAMBDA1 * big_l + inv_top
    hard = HARD_PER_LAMBDA1
    if tau > TAU_MIXED or inv_c * two_a >= 1.0:  # long step, or screening so strong
        # (A > ~0.01) that w_c would be <= 0: one deflection
        hard, inv_c, f_hard = 0.0, 1.0 / two_a, 0.0
    else:
        f_hard = (-math.log(inv_top / inv_c) + two_a * inv_top - two_a * inv_c) / big_l
    mean_w = -math.expm1(-(1.0 - f_hard) * tau)
    if mean_w > 0.0:
        if mean_w > 0.9999:
            w = 2.0 * _uniform(state)
        else:
            b = _soft_scale(mean_w)
            # truncation at w = 2: 1 - e^(-2/b), which is 1.0 in double precision for b < 0.05
            top = 1.0 if b < 0.05 else -math.expm1(-2.0 / b)
            w = -b * math.log1p(-_uniform(state) * top)
        cp, sp = _azimuth(state)
        ux, uy, uz = _rotate(ux, uy, uz, 1.0 - w, cp, sp)
    # Poisson number of hard collisions, mean HARD_PER_LAMBDA1 * tau (inversion)
    p = math.exp(-hard * tau)
    q = _uniform(state)
    while q > p:
        w = 1.0 / (inv_c - _uniform(state) * (inv_c - inv_top)) - two_a
        cp, sp = _azimuth(state)
        ux, uy, uz = _rotate(ux, uy, uz, 1.0 - w, cp, sp)
        q *= _uniform(state)
    return ux, uy, uz


@nb.njit(cache=True, inline="always")
def _to_face(z: float, uz: float, lo: float, hi: float) -> float:
    """Straight-line distance from depth z along a direction of z-cosine uz to the face of
    the slab [lo, hi] it heads for (inf when parallel to the faces)."""
    if uz > 0.0:
        return max(hi - z, 0.0) / uz
    if uz < 0.0:
        return max(z - lo, 0.0) / -uz
    return math.inf


@nb.njit(cache=True, inline="always")
def _poisson(mean: float, state: np.ndarray) -> int:
    """Poisson variate (inversion by products of uniforms; for the small means used here)."""
    p = math.exp(-mean)
    q = _uniform(state)
    k = 0
    while q > p:
        k += 1
        q *= _uniform(state)
    return k


@nb.njit(cache=True, inline="always")
def _gauss_within(mean: float, var: float, state: np.ndarray) -> float:
    """A Gaussian of ``mean`` and ``var`` restricted to [0, 2 mean] (uniform there when the
    width exceeds 4 mean): the mean is kept."""
    sig = math.sqrt(var)
    if mean < 0.25 * sig:
        return mean + (2.0 * _uniform(state) - 1.0) * mean
    while True:
        x = mean + sig * _normal(state)
        if 0.0 <= x <= 2.0 * mean:
            return x


@nb.njit(cache=True)
def _loss_fluctuation(mean_loss: float, tcut: float, ipot: float, state: np.ndarray) -> float:
    """Energy loss (MeV) of a step whose mean continuous loss is ``mean_loss``, restricted to
    energy transfers below ``tcut``, in a medium of mean excitation energy ``ipot`` (MeV):
    L. Urban's model as in Geant4's G4UniversalFluctuation. A fraction 1 - FL_RATE of the
    mean goes to excitations of one level near I (Poisson numbers, their widths widened),
    the rest to ionisations with a 1/E^2 spectrum from FL_E0 to tcut (Poisson number each
    sampled, the numerous soft ones summed as a Gaussian). Its mean is ``mean_loss``; thin
    layers get the Landau–Vavilov shape, thick ones a Gaussian."""
    if tcut <= FL_E0 or mean_loss <= 0.0:
        return mean_loss
    scaling = min(1.0 + 0.5e-3 / tcut, 1.5)
    ml = mean_loss / scaling
    a1 = 0.0
    e1 = ipot
    if tcut > e1:
        a1 = ml * (1.0 - FL_RATE) / e1
        if a1 < FL_A0:
            fwnow = 0.1 + (FL_FW - 0.1) * math.sqrt(a1 / FL_A0)
            a1 /= fwnow
            e1 *= fwnow
        else:
            a1 /= FL_FW
            e1 *= FL_FW
    w1 = tcut / FL_E0
    a3 = FL_RATE * ml * (tcut - FL_E0) / (FL_E0 * tcut * math.log(w1))
    if a1 <= 0.0:
        a3 /= FL_RATE
    loss = 0.0
    if a1 > FL_NMAX:
        loss += _gauss_within(a1 * e1, a1 * e1 * e1, state)
    elif a1 > 0.0:
        k = _poisson(a1, state)
        if k > 0:
            loss += ((k + 1) - 2.0 * _uniform(state)) * e1
    if a3 > 0.0:
        emean = 0.0
        sig2e = 0.0
        p3 = a3
        alfa = 1.0
        if a3 > FL_NMAX:
            alfa = w1 * (FL_NMAX + a3) / (w1 * FL_NMAX + a3)
            alfa1 = alfa * math.log(alfa) / (alfa - 1.0)
            namean = a3 * w1 * (alfa - 1.0) / ((w1 - 1.0) * alfa)
            emean = namean * FL_E0 * alfa1
            sig2e = FL_E0 * FL_E0 * namean * (alfa - alfa1 * alfa1)
            p3 = a3 - namean
        w3 = alfa * FL_E0
        if tcut > w3:
            w = (tcut - w3) / tcut
            for _ in range(_poisson(p3, state)):
                loss += w3 / (1.0 - w * _uniform(state))
        if sig2e > 0.0:
            loss += _gauss_within(emean, sig2e, state)
    return loss * scaling


@nb.njit(cache=True, inline="always")
def _tsai_terms(g: float, e: float) -> tuple[float, float, float, float]:
    """Tsai's Thomas–Fermi screening functions (phi_1, phi_1 - phi_2, psi_1, psi_1 - psi_2) at
    gamma = ``g`` and epsilon = ``e`` (:func:`~.physics._phi`, :func:`~.physics._psi`)."""
    p1 = 20.863 - 2.0 * math.log1p((0.55846 * g) ** 2)
    p1 -= 4.0 * (1.0 - 0.6 * math.exp(-0.9 * g) - 0.4 * math.exp(-1.5 * g))
    s1 = 28.340 - 2.0 * math.log1p((3.621 * e) ** 2)
    s1 -= 4.0 * (1.0 - 0.7 * math.exp(-8.0 * e) - 0.3 * math.exp(-29.2 * e))
    dp = (2.0 / 3.0) / (1.0 + 6.5 * g + 6.0 * g * g)
    ds = (2.0 / 3.0) / (1.0 + 40.0 * e + 400.0 * e * e)
    return p1, dp, s1, ds


@nb.njit(cache=True)
def _brems_ratio(el: np.ndarray, etot: float, k: float) -> float:
    """Tsai's screened over completely screened bremsstrahlung cross section for a photon
    ``k`` from an e± of total energy ``etot`` in a material whose elements are the rows of
    ``el`` (:func:`~.physics.brems_elements`; :func:`~.physics.brems_screening_ratio`)."""
    y = k / etot
    x = 100.0 * ME * k / (etot * max(etot - k, ME))
    shape = 4.0 / 3.0 - 4.0 / 3.0 * y + y * y
    tail = 2.0 / 3.0 * (1.0 - y)
    num = 0.0
    den = 0.0
    for j in range(el.shape[0]):
        n = el[j, 0]
        if n == 0.0:
            break
        z2, z, c = el[j, 3], el[j, 4], el[j, 5]
        p1, dp, s1, ds = _tsai_terms(x / el[j, 1], x / el[j, 2])
        num += n * (shape * (z2 * p1 + z * s1 + c) + tail * (z2 * dp + z * ds))
        den += n * (shape * (z2 * 20.863 + z * 28.340 + c) + tail * (2.0 / 3.0) * (z2 + z))
    return min(max(num / den, 0.0), 1.0)


#: pair energy sharing: uniform below this photon energy, Coulomb correction above the
#: second (:data:`~.physics.PAIR_UNIFORM_BELOW_MEV`, :data:`~.physics.PAIR_COULOMB_ABOVE_MEV`)
PAIR_UNIFORM_MEV, PAIR_COULOMB_MEV = 2.0, 50.0


@nb.njit(cache=True)
def _pair_f12(el: np.ndarray, x: float, coulomb: bool) -> tuple[float, float]:
    """(F1, F2) of the screened Bethe–Heitler pair cross section at Tsai's screening variable
    ``x`` = 100 m_e / (k eps (1 - eps)), summed over the elements ``el``:
    d sigma / d eps ~ 2/3 (eps - 1/2)^2 F1 + 1/3 F2 with F1 = 2 A + D, F2 = 2 A - D / 2,
    A = Z^2 phi_1 + Z psi_1 + c, D = Z^2 (phi_1 - phi_2) + Z (psi_1 - psi_2)
    (:func:`~.physics.pair_sharing`); both decrease with x."""
    f1 = 0.0
    f2 = 0.0
    for j in range(el.shape[0]):
        n = el[j, 0]
        if n == 0.0:
            break
        z2, z = el[j, 3], el[j, 4]
        c = el[j, 5] if coulomb else el[j, 5] + el[j, 6]
        p1, dp, s1, ds = _tsai_terms(x / el[j, 1], x / el[j, 2])
        a = z2 * p1 + z * s1 + c
        d = z2 * dp + z * ds
        f1 += n * (2.0 * a + d)
        f2 += n * (2.0 * a - 0.5 * d)
    return f1, f2


@nb.njit(cache=True)
def _pair_eps(el: np.ndarray, k: float, state: np.ndarray) -> float:
    """The electron's share eps of a photon ``k`` converting in the material ``el``: the
    Bethe–Heitler cross section with Tsai's screening functions (Coulomb correction above
    PAIR_COULOMB_MEV), uniform below PAIR_UNIFORM_MEV. Sampled as Geant4's
    G4BetheHeitlerModel does: on [m_e / k, 1/2] from the two terms
    2/3 (eps - 1/2)^2 F1 and 1/3 F2, their envelopes F1, F2 at eps = 1/2, the term chosen
    by its weight, eps from (eps - 1/2)^2 or uniform, accepted by F / F(1/2); then eps or
    1 - eps with equal odds (the cross section is symmetric)."""
    emin = ME / k
    half = 0.5 - emin
    if k < PAIR_UNIFORM_MEV:
        return emin + 2.0 * half * _uniform(state)
    coulomb = k > PAIR_COULOMB_MEV
    scr = 100.0 * ME / k
    f10, f20 = _pair_f12(el, 4.0 * scr, coulomb)
    w1 = max(f10, 0.0) * half * half
    w2 = max(1.5 * f20, 0.0)
    if w1 + w2 <= 0.0:
        return emin + 2.0 * half * _uniform(state)
    while True:
        if _uniform(state) * (w1 + w2) < w1:
            eps = 0.5 - half * _uniform(state) ** (1.0 / 3.0)
            f1 = _pair_f12(el, scr / (eps * (1.0 - eps)), coulomb)[0]
            acc = f1 / f10
        else:
            eps = emin + half * _uniform(state)
            f2 = _pair_f12(el, scr / (eps * (1.0 - eps)), coulomb)[1]
            acc = f2 / f20
        if _uniform(state) <= acc:
            break
    if _uniform(state) < 0.5:
        return 1.0 - eps
    return eps


@nb.njit(cache=True)
def _heitler_eps(t: float, state: np.ndarray) -> float:
    """Energy fraction (of T + 2 m_e) of the first photon of a positron of kinetic energy
    ``t`` annihilating in flight: Heitler's differential cross section
    S(eps) = -(g + 1)^2 + (g^2 + 4 g + 1) / eps - 1 / eps^2
    (:func:`~.physics.annihilation_sharing`),
    sampled as Geant4's G4eeToTwoGammaModel does: eps from 1 / eps on the kinematic range,
    accepted by eps S(eps) / (g + 1)^2 (at most 1)."""
    tau = t / ME
    gam = tau + 1.0
    tau2 = tau + 2.0
    half = 0.5 * math.sqrt(tau / tau2)
    lo = 0.5 - half
    lq = math.log((0.5 + half) / lo)
    while True:
        eps = lo * math.exp(lq * _uniform(state))
        if _uniform(state) <= 1.0 - eps + (2.0 * gam * eps - 1.0) / (eps * tau2 * tau2):
            return eps


@nb.njit(cache=True)
def _two_gamma(
    t: float, ux: float, uy: float, uz: float, state: np.ndarray
) -> tuple[float, float, float, float, float, float, float, float]:
    """(k1, v1, k2, v2) of the two photons of a positron of kinetic energy ``t`` and
    direction u annihilating with an electron at rest: k1 from :func:`_heitler_eps`, its
    polar angle from energy and momentum conservation,
    cos theta = (eps (tau + 2) - 1) / (eps sqrt(tau (tau + 2))), uniform azimuth; the second
    photon gets the rest, k2 = T + 2 m_e - k1 along p - k1 v1 (whose length is k2)."""
    tau = t / ME
    eps = _heitler_eps(t, state)
    cost = (eps * (tau + 2.0) - 1.0) / (eps * math.sqrt(tau * (tau + 2.0)))
    cost = min(max(cost, -1.0), 1.0)
    cp, sp = _azimuth(state)
    v1x, v1y, v1z = _rotate(ux, uy, uz, cost, cp, sp)
    etot = t + 2.0 * ME
    k1 = eps * etot
    k2 = etot - k1
    pp = math.sqrt(t * (t + 2.0 * ME))
    wx, wy, wz = pp * ux - k1 * v1x, pp * uy - k1 * v1y, pp * uz - k1 * v1z
    wn = math.sqrt(wx * wx + wy * wy + wz * wz)
    if wn > 0.0:
        return k1, v1x, v1y, v1z, k2, wx / wn, wy / wn, wz / wn
    return k1, v1x, v1y, v1z, k2, -v1x, -v1y, -v1z


# ---- one shower ------------------------------------------------------------------------------------
# The particle being transported is one float vector ``p`` (the per-step state):
# kinetic energy, position, direction, slab (an integer stored exactly as a float), and, for a
# positron, the annihilation envelope of its step (the in-flight cross section, 1/mm, at the
# lowest energy the step reaches) and the odds that a discrete point of the step is an
# annihilation candidate.
P_E, P_X, P_Y, P_Z, P_UX, P_UY, P_UZ, P_SLAB, P_SIGA, P_PANN = range(10)
# what ended an e± step (:func:`_charged_step`)
STEP_ON, STEP_DISCRETE, STEP_FACE, STEP_STOPPED = range(4)


@nb.njit(cache=True, inline="always")
def _emit_at(
    p: np.ndarray,
    ptype: int,
    e: float,
    vx: float,
    vy: float,
    vz: float,
    n: int,
    ctx: tuple,
    ro: tuple,
) -> int:
    """:func:`_emit` a secondary of energy ``e`` and direction v from where ``p`` is."""
    book, cells, sf, si, state, cutv = ctx[3], ctx[4], ctx[5], ctx[6], ctx[7], ctx[8]
    return _emit(
        ptype, e, p[P_X], p[P_Y], p[P_Z], vx, vy, vz, int(p[P_SLAB]), n, sf, si, state,
        cutv[C_ETRACK], cutv[C_GTRACK], book, cells, ro,
    )  # fmt: skip


@nb.njit(cache=True)
def _pair(p: np.ndarray, n: int, ctx: tuple, ro: tuple, el: np.ndarray) -> int:
    """Pair production in the material of elements ``el``: the e− takes a fraction eps of the
    photon energy (:func:`_pair_eps`, screened Bethe–Heitler), both leptons at modified-Tsai
    angles, the positron at phi + pi."""
    state = ctx[7]
    e = p[P_E]
    eps = _pair_eps(el, e, state)
    cp, sp = _azimuth(state)
    for lep in range(2):
        sgn = 1.0 if lep == 0 else -1.0
        etot = eps * e if lep == 0 else (1.0 - eps) * e
        t = etot - ME
        if t < 0.0:
            t = 0.0
        cost = _tsai_cost(etot, state)
        vx, vy, vz = _rotate(p[P_UX], p[P_UY], p[P_UZ], cost, sgn * cp, sgn * sp)
        n = _emit_at(p, ELECTRON if lep == 0 else POSITRON, t, vx, vy, vz, n, ctx, ro)
        if n < 0:
            return n
    return n


@nb.njit(cache=True)
def _annihilate_in_flight(p: np.ndarray, n: int, ctx: tuple, ro: tuple) -> int:
    """The positron ``p`` annihilates in flight with an atomic electron: two photons
    (:func:`_two_gamma`) carrying its kinetic energy plus 2 m_e c^2; the positron is gone."""
    k1, v1x, v1y, v1z, k2, v2x, v2y, v2z = _two_gamma(p[P_E], p[P_UX], p[P_UY], p[P_UZ], ctx[7])
    n = _emit_at(p, PHOTON, k1, v1x, v1y, v1z, n, ctx, ro)
    if n < 0:
        return n
    return _emit_at(p, PHOTON, k2, v2x, v2y, v2z, n, ctx, ro)


@nb.njit(cache=True)
def _photo_electron(p: np.ndarray, n: int, ctx: tuple, ro: tuple) -> int:
    """Photo-electric absorption: an isotropic photo-electron with all the energy."""
    state = ctx[7]
    cost = 2.0 * _uniform(state) - 1.0
    cp, sp = _azimuth(state)
    vx, vy, vz = _rotate(p[P_UX], p[P_UY], p[P_UZ], cost, cp, sp)
    return _emit_at(p, ELECTRON, p[P_E], vx, vy, vz, n, ctx, ro)


@nb.njit(cache=True)
def _compton(p: np.ndarray, n: int, ctx: tuple, ro: tuple) -> int:
    """Compton scattering (Klein–Nishina, Geant4 G4KleinNishinaCompton sampling): the photon
    in ``p`` scattered, the electron emitted by momentum conservation."""
    state = ctx[7]
    e = p[P_E]
    ux, uy, uz = p[P_UX], p[P_UY], p[P_UZ]
    k0 = e / ME
    eps0 = 1.0 / (1.0 + 2.0 * k0)
    eps0sq = eps0 * eps0
    a1 = -math.log(eps0)
    a2 = a1 + 0.5 * (1.0 - eps0sq)
    while True:
        if a1 > a2 * _uniform(state):
            eps = math.exp(-a1 * _uniform(state))
            epssq = eps * eps
        else:
            epssq = eps0sq + (1.0 - eps0sq) * _uniform(state)
            eps = math.sqrt(epssq)
        onecost = (1.0 - eps) / (eps * k0)
        sint2 = onecost * (2.0 - onecost)
        if 1.0 - eps * sint2 / (1.0 + epssq) >= _uniform(state):
            break
    e1 = eps * e
    cp, sp = _azimuth(state)
    gx, gy, gz = _rotate(ux, uy, uz, 1.0 - onecost, cp, sp)
    te = e - e1
    px, py, pz = e * ux - e1 * gx, e * uy - e1 * gy, e * uz - e1 * gz
    pn = math.sqrt(px * px + py * py + pz * pz)
    if pn > 0.0:
        n = _emit_at(p, ELECTRON, te, px / pn, py / pn, pz / pn, n, ctx, ro)
        if n < 0:
            return n
    else:
        _deposit(te, True, p[P_X], p[P_Y], int(p[P_SLAB]), ctx[3], ctx[4], ro)
    p[P_E] = e1
    p[P_UX], p[P_UY], p[P_UZ] = gx, gy, gz
    return n


@nb.njit(cache=True)
def _photon(p: np.ndarray, n: int, ctx: tuple, ro: tuple, tabs: tuple) -> int:
    """Transport the photon ``p`` to its end (absorbed, converted, below the tracking cut or
    out of the stack); returns the stack size (-1: overflow)."""
    z_lo, z_hi, smat, book, cells, state, cutv = ctx[0], ctx[1], ctx[2], ctx[3], ctx[4], ctx[7], ctx[8]  # fmt: skip
    ln_e0, inv_dln, mu_c, mu_pe, mu_pair = tabs[0], tabs[1], tabs[2], tabs[3], tabs[4]
    ns = z_lo.shape[0]
    while True:
        e = p[P_E]
        slab = int(p[P_SLAB])
        if e < cutv[C_GTRACK]:
            _deposit(e, True, p[P_X], p[P_Y], slab, book, cells, ro)
            return n
        m = smat[slab]
        lne = math.log(e)
        mc = _lerp(mu_c, m, lne, ln_e0, inv_dln)
        mp = _lerp(mu_pe, m, lne, ln_e0, inv_dln)
        mpr = _lerp(mu_pair, m, lne, ln_e0, inv_dln) if e > 2.0 * ME else 0.0
        mt = mc + mp + mpr
        d = -math.log(_uniform(state)) / mt
        uz = p[P_UZ]
        if uz > 0.0:
            db = (z_hi[slab] - p[P_Z]) / uz
        elif uz < 0.0:
            db = (z_lo[slab] - p[P_Z]) / uz
        else:
            db = math.inf
        if d >= db:
            p[P_X] += db * p[P_UX]
            p[P_Y] += db * p[P_UY]
            if uz > 0.0:
                p[P_Z] = z_hi[slab]
                slab += 1
            else:
                p[P_Z] = z_lo[slab]
                slab -= 1
            p[P_SLAB] = slab
            if slab < 0 or slab >= ns:
                book[2] += e
                return n
            continue
        p[P_X] += d * p[P_UX]
        p[P_Y] += d * p[P_UY]
        p[P_Z] += d * uz
        r = _uniform(state) * mt
        if r < mpr:
            return _pair(p, n, ctx, ro, tabs[12][m])
        if r < mpr + mp:
            return _photo_electron(p, n, ctx, ro)
        n = _compton(p, n, ctx, ro)
        if n < 0:
            return n


@nb.njit(cache=True, inline="always")
def _hinge_length(s: float, tau: float) -> float:
    """Geometric length of the two legs of a random hinge standing for a true path ``s`` of
    ``tau`` transport lengths: 2 (s / tau) tanh(tau / 2), so that the mean displacement along
    the initial direction, g (1 + e^-tau) / 2 for legs u g and (1 - u) g, is Lewis's
    lambda_1 (1 - e^-tau) for any tau (the plain hinge, g = s, overshoots it for tau >~ 1)."""
    if tau < 1e-3:
        return s * (1.0 - tau * tau / 12.0)
    return 2.0 * s / tau * math.tanh(0.5 * tau)


@nb.njit(cache=True, inline="always")
def _spread_variance(s: float, tau: float, g: float) -> float:
    """Variance per axis of the isotropic Gaussian added to the end of a hinge of legs
    totalling ``g`` (true path ``s``, ``tau`` transport lengths) so that its mean squared
    displacement is Lewis's 2 lambda_1^2 (tau - 1 + e^-tau) (the hinge alone gives
    g^2 (2 + e^-tau) / 3: 8% short at tau = 1, 60% at tau = 4)."""
    lam = s / tau
    e = math.exp(-tau)
    deficit = 2.0 * lam * lam * (tau - 1.0 + e) - g * g * (2.0 + e) / 3.0
    return max(deficit, 0.0) / 3.0


@nb.njit(cache=True)
def _charged_step(p: np.ndarray, pos: bool, ctx: tuple, ro: tuple, tabs: tuple) -> int:
    """One condensed-history step of the e± ``p`` (kinetic energy >= the tracking cut).

    Step length: a fraction of the range, the discrete cross sections, and, for an e± whose
    range reaches a face and which diffuses before ranging out (lambda_1 below its range),
    the larger of ``lambda1_fraction`` lambda_1 and ``safety_fraction`` of its distance to
    the nearer face (a step no longer than that distance cannot reach a face, whatever its
    multiple scattering). Geometry: a random hinge (straight for a uniform fraction u of the
    legs' length g, deflected there by the whole step's multiple scattering, straight for the
    rest) with g from :func:`_hinge_length`, plus, for long steps, the Gaussian of
    :func:`_spread_variance` at its end; a leg that meets a face ends the step there (the
    true path used scaled by s / g, the deflection applied only if its hinge was reached).
    The continuous loss (Urban's fluctuations) is deposited along the legs. A positron's
    discrete processes include annihilation in flight, at its envelope (``p[P_SIGA]``).
    Returns what ended the step (STEP_ON, STEP_DISCRETE, STEP_FACE with ``p`` on the face, or
    STEP_STOPPED)."""
    z_lo, z_hi, smat, book, cells, state, cutv = ctx[0], ctx[1], ctx[2], ctx[3], ctx[4], ctx[7], ctx[8]  # fmt: skip
    ln_e0, inv_dln, rng_tab, sig_b, sig_d, ipot = tabs[0], tabs[1], tabs[5], tabs[6], tabs[7], tabs[8]  # fmt: skip
    lam1_tab, screen, tau_tab = tabs[9], tabs[10], tabs[11]
    c = 1 if pos else 0
    rt, ttau, sd = rng_tab[c], tau_tab[c], sig_d[c]
    t = p[P_E]
    slab = int(p[P_SLAB])
    x, y, z = p[P_X], p[P_Y], p[P_Z]
    ux, uy, uz = p[P_UX], p[P_UY], p[P_UZ]
    lo, hi = z_lo[slab], z_hi[slab]
    m = smat[slab]
    lnt = math.log(t)
    rng = _lerp(rt, m, lnt, ln_e0, inv_dln)
    final_range = cutv[C_FINAL]
    s = rng if rng <= final_range else max(cutv[C_FRAC] * rng, final_range)
    lam1 = _lerp(lam1_tab, m, lnt, ln_e0, inv_dln)
    safety = min(z - lo, hi - z)
    if rng > safety and lam1 < rng:
        s = min(s, max(cutv[C_LAMBDA1] * lam1, cutv[C_SAFETY] * safety))
    lim = STEP_ON
    sig = _lerp(sig_b, m, lnt, ln_e0, inv_dln) + _lerp(sd, m, lnt, ln_e0, inv_dln)
    if pos:
        # annihilation in flight: its cross section grows as the positron slows, so the step
        # samples it from its value at the lowest energy the step reaches (the mean loss,
        # not below the tracking cut), thinned at the interaction (:func:`_charged`)
        t_low = cutv[C_ETRACK]
        if s < rng:
            hint = int((lnt - ln_e0) * inv_dln)
            t_low = max(_energy_from_range(rt, m, rng - s, ln_e0, inv_dln, hint), t_low)
        sa = _lerp(tabs[13], m, math.log(min(t_low, t)), ln_e0, inv_dln)
        p[P_SIGA] = sa
        p[P_PANN] = sa / (sig + sa) if sig + sa > 0.0 else 0.0
        sig += sa
    if sig > 0.0:
        sdisc = -math.log(_uniform(state)) / sig
        if sdisc < s:
            s = sdisc
            lim = STEP_DISCRETE
    t1, tau = _after_step(t, rng, s, m, lnt, rt, ttau, lam1_tab, ln_e0, inv_dln)
    g = _hinge_length(s, tau)
    xa, ya = x, y
    leg = _uniform(state) * g
    xh, yh = x, y
    used = g
    cross = 0
    d1 = _to_face(z, uz, lo, hi)
    if d1 <= leg:
        used = d1
        cross = 1 if uz > 0.0 else -1
        x += d1 * ux
        y += d1 * uy
        z = hi if uz > 0.0 else lo
    else:
        x += leg * ux
        y += leg * uy
        z += leg * uz
        xh, yh = x, y
        a_scr = _lerp(screen, m, math.log(max(0.5 * (t + t1), 1e-3)), ln_e0, inv_dln)
        ux, uy, uz = _msc_deflect(ux, uy, uz, tau, a_scr, state)
        rest = g - leg
        d2 = _to_face(z, uz, lo, hi)
        if d2 <= rest:
            used = leg + d2
            cross = 1 if uz > 0.0 else -1
            x += d2 * ux
            y += d2 * uy
            z = hi if uz > 0.0 else lo
        else:
            x += rest * ux
            y += rest * uy
            z += rest * uz
            if tau > TAU_SPREAD:
                sd_r = math.sqrt(_spread_variance(s, tau, g))
                dz = sd_r * _normal(state)
                if lo < z + dz < hi:
                    x += sd_r * _normal(state)
                    y += sd_r * _normal(state)
                    z += dz
    if cross != 0:
        lim = STEP_FACE
        if used < g:
            t1 = _after_step(t, rng, used * s / g, m, lnt, rt, ttau, lam1_tab, ln_e0, inv_dln)[0]
    dt = t - t1
    if used * s < rng * g and dt > 0.0:
        tcut = min(tabs[15][m], t if pos else 0.5 * t)
        dt = min(_loss_fluctuation(dt, tcut, ipot[m], state), t)
    if dt > 0.0:
        f1 = min(leg, used) / used if used > 0.0 else 1.0
        _deposit_leg(dt * f1, xa, ya, xh, yh, slab, book, cells, ro)
        if f1 < 1.0:
            _deposit_leg(dt - dt * f1, xh, yh, x, y, slab, book, cells, ro)
    p[P_E] = t - dt
    p[P_X], p[P_Y], p[P_Z] = x, y, z
    p[P_UX], p[P_UY], p[P_UZ] = ux, uy, uz
    if p[P_E] <= 0.0:
        return STEP_STOPPED
    if lim == STEP_FACE:
        p[P_SLAB] = slab + (1 if cross > 0 else -1)
    return lim


@nb.njit(cache=True)
def _brems(p: np.ndarray, m: int, n: int, ctx: tuple, ro: tuple, tabs: tuple) -> int:
    """A bremsstrahlung photon above the production cut from the e± ``p`` (1/k envelope,
    accepted by the complete-screening shape times Tsai's screening ratio), at a modified-Tsai
    angle; the e± keeps its direction."""
    state, kprod = ctx[7], tabs[14][m]
    t = p[P_E]
    if t <= kprod:
        return n
    etot = t + ME
    el = tabs[12][m]
    while True:
        k = kprod * (t / kprod) ** _uniform(state)
        yy = k / etot
        f = (4.0 / 3.0 - 4.0 / 3.0 * yy + yy * yy) * _brems_ratio(el, etot, k)
        if _uniform(state) * 4.0 / 3.0 <= f:
            break
    cost = _tsai_cost(etot, state)
    cp, sp = _azimuth(state)
    vx, vy, vz = _rotate(p[P_UX], p[P_UY], p[P_UZ], cost, cp, sp)
    n = _emit_at(p, PHOTON, k, vx, vy, vz, n, ctx, ro)
    p[P_E] = t - k
    return n


@nb.njit(cache=True)
def _delta_ray(p: np.ndarray, pos: bool, tprod: float, n: int, ctx: tuple, ro: tuple) -> int:
    """A Møller (e−) or Bhabha (e+) delta ray above the production threshold ``tprod`` from
    ``p``; the e± recoils by momentum conservation."""
    state = ctx[7]
    t = p[P_E]
    xmax = 1.0 if pos else 0.5
    xmin = tprod / t
    if xmin >= xmax:
        return n
    gam = t / ME + 1.0
    beta2 = 1.0 - 1.0 / (gam * gam)
    b1 = b2 = b3 = b4 = gg = 0.0
    if pos:
        yb = 1.0 / (gam + 1.0)
        y12 = 1.0 - 2.0 * yb
        b1, b2 = 2.0 - yb * yb, y12 * (3.0 + yb * yb)
        b4 = y12 * y12 * y12
        b3 = b4 + y12 * y12
        hmax = 1.0 + beta2 * (b2 + b4)
    else:
        gg = (2.0 * gam - 1.0) / (gam * gam)
        hmax = 2.25
    while True:
        q = _uniform(state)
        xd = xmin * xmax / (xmin * (1.0 - q) + xmax * q)
        if pos:
            h = 1.0 - beta2 * xd * (b1 - xd * (b2 - xd * (b3 - xd * b4)))
        else:
            h = 1.0 + xd * xd / ((1.0 - xd) * (1.0 - xd)) + (1.0 - gg) * xd * xd
            h -= gg * xd / (1.0 - xd)
        if _uniform(state) * hmax <= h:
            break
    ed = xd * t
    cosd = min(math.sqrt(ed * (t + 2.0 * ME) / (t * (ed + 2.0 * ME))), 1.0)
    cp, sp = _azimuth(state)
    ux, uy, uz = p[P_UX], p[P_UY], p[P_UZ]
    vx, vy, vz = _rotate(ux, uy, uz, cosd, cp, sp)
    p0 = math.sqrt(t * (t + 2.0 * ME))
    pd = math.sqrt(ed * (ed + 2.0 * ME))
    n = _emit_at(p, ELECTRON, ed, vx, vy, vz, n, ctx, ro)
    if n < 0:
        return n
    px, py, pz = p0 * ux - pd * vx, p0 * uy - pd * vy, p0 * uz - pd * vz
    pn = math.sqrt(px * px + py * py + pz * pz)
    if pn > 0.0:
        p[P_UX], p[P_UY], p[P_UZ] = px / pn, py / pn, pz / pn
    p[P_E] = t - ed
    return n


@nb.njit(cache=True)
def _charged(p: np.ndarray, pos: bool, n: int, ctx: tuple, ro: tuple, tabs: tuple) -> int:
    """Transport the e± ``p`` to its end (ranged out, below the tracking cut, range-rejected
    or out of the stack, a positron then annihilating at rest; or a positron annihilated in
    flight); returns the stack size (-1: overflow)."""
    z_lo, z_hi, smat, book, cells, sf, si, state, cutv = ctx
    ln_e0, inv_dln, rng_tab, sig_b, sig_d = tabs[0], tabs[1], tabs[5], tabs[6], tabs[7]
    sd = sig_d[1] if pos else sig_d[0]
    rt = rng_tab[1] if pos else rng_tab[0]
    ns = z_lo.shape[0]
    while True:
        t = p[P_E]
        slab = int(p[P_SLAB])
        x, y, z = p[P_X], p[P_Y], p[P_Z]
        stop = t < cutv[C_ETRACK]
        if not stop and t <= cutv[C_RR] and not ro[0][slab] and t <= tabs[15][smat[slab]]:
            # range rejection: it cannot leave this passive slab, makes no delta ray
            # (t <= the delta-ray threshold) and radiates little: deposited here at once
            m = smat[slab]
            rng = _lerp(rt, m, math.log(t), ln_e0, inv_dln)
            stop = rng < min(z - z_lo[slab], z_hi[slab] - z)
        if stop:
            _deposit(t, True, x, y, slab, book, cells, ro)
            if pos:
                return _annihilate(x, y, z, slab, n, sf, si, state)
            return n
        m = smat[slab]
        book[5] += 1.0
        if not ro[0][slab]:
            book[6] += 1.0
        end = _charged_step(p, pos, ctx, ro, tabs)
        if end == STEP_STOPPED:
            if pos:
                return _annihilate(p[P_X], p[P_Y], p[P_Z], slab, n, sf, si, state)
            return n
        if end == STEP_FACE:
            nxt = int(p[P_SLAB])
            if nxt < 0 or nxt >= ns:
                book[2] += p[P_E] + (2.0 * ME if pos else 0.0)
                return n
            continue
        if end != STEP_DISCRETE:
            continue
        # discrete interaction at the end of the step: bremsstrahlung, a delta ray or (e+)
        # annihilation in flight, the latter kept with odds sigma_a(T) / its step envelope
        t = p[P_E]
        lnt = math.log(t)
        if pos and _uniform(state) < p[P_PANN]:
            if _uniform(state) * p[P_SIGA] <= _lerp(tabs[13], m, lnt, ln_e0, inv_dln):
                return _annihilate_in_flight(p, n, ctx, ro)
            continue
        sb = _lerp(sig_b, m, lnt, ln_e0, inv_dln)
        sdd = _lerp(sd, m, lnt, ln_e0, inv_dln)
        if sb + sdd <= 0.0:
            continue
        if _uniform(state) * (sb + sdd) < sb:
            n = _brems(p, m, n, ctx, ro, tabs)
        else:
            n = _delta_ray(p, pos, tabs[15][m], n, ctx, ro)
        if n < 0:
            return n


@nb.njit(cache=True)
def _shower(
    e0: float,
    ptype0: int,
    x0: float,
    y0: float,
    ux0: float,
    uy0: float,
    uz0: float,
    seed: np.uint64,
    cells: np.ndarray,
    book: np.ndarray,
    z_lo: np.ndarray,
    z_hi: np.ndarray,
    smat: np.ndarray,
    ro: tuple,
    tabs: tuple,
    cutv: np.ndarray,
    sf: np.ndarray,
    si: np.ndarray,
) -> bool:
    """Transport one shower; returns False if the particle stack overflowed. ``ro``: its
    readout (see :func:`_deposit`); ``tabs``: (ln_e0, inv_dln, mu_compton, mu_photo, mu_pair,
    range, sigma_brems, sigma_delta, mean_excitation, lambda1, screening, msc_tau,
    brems_elements, sigma_annihilation, photon and e± production thresholds) of
    :class:`~.physics.PhysicsTables`. Particles are popped from the LIFO stack into the state
    vector ``p`` and handed to :func:`_photon` or :func:`_charged`."""
    state = np.empty(1, dtype=np.uint64)
    state[0] = seed
    ctx = (z_lo, z_hi, smat, book, cells, sf, si, state, cutv)
    p = np.empty(10)
    n = _push(sf, si, 0, ptype0, e0, x0, y0, z_lo[0], ux0, uy0, uz0, 0)
    while n > 0:
        n -= 1
        for j in range(7):
            p[j] = sf[n, j]
        ptype = si[n, 0]
        p[P_SLAB] = si[n, 1]
        if ptype == PHOTON:
            n = _photon(p, n, ctx, ro, tabs)
        else:
            n = _charged(p, ptype == POSITRON, n, ctx, ro, tabs)
        if n < 0:
            return False
    return True


@nb.njit(cache=True, inline="always")
def _annihilate(
    x: float,
    y: float,
    z: float,
    slab: int,
    n: int,
    sf: np.ndarray,
    si: np.ndarray,
    state: np.ndarray,
) -> int:
    """Positron annihilation at rest: two back-to-back 511 keV photons, isotropic."""
    cost = 2.0 * _uniform(state) - 1.0
    sint = math.sqrt(max(0.0, 1.0 - cost * cost))
    cp, sp = _azimuth(state)
    vx, vy, vz = sint * cp, sint * sp, cost
    n = _push(sf, si, n, PHOTON, ME, x, y, z, vx, vy, vz, slab)
    if n < 0:
        return n
    return _push(sf, si, n, PHOTON, ME, x, y, z, -vx, -vy, -vz, slab)


@nb.njit(cache=True, inline="always")
def _emit(
    ptype: int,
    e: float,
    x: float,
    y: float,
    z: float,
    ux: float,
    uy: float,
    uz: float,
    slab: int,
    n: int,
    sf: np.ndarray,
    si: np.ndarray,
    state: np.ndarray,
    etrack: float,
    gtrack: float,
    book: np.ndarray,
    cells: np.ndarray,
    ro: tuple,
) -> int:
    """A new secondary: pushed if above its tracking cut, else deposited on the spot (a
    positron below the cut also annihilates there)."""
    cut = gtrack if ptype == PHOTON else etrack
    if e >= cut:
        return _push(sf, si, n, ptype, e, x, y, z, ux, uy, uz, slab)
    if e > 0.0:
        _deposit(
            e,
            True,
            x,
            y,
            slab,
            book,
            cells,
            ro,
        )
    if ptype == POSITRON:
        return _annihilate(x, y, z, slab, n, sf, si, state)
    return n


@nb.njit(cache=True, parallel=True)
def run_showers(
    energy: np.ndarray,
    ptype: int,
    x0: np.ndarray,
    y0: np.ndarray,
    dirs: np.ndarray,
    seeds: np.ndarray,
    sh_eta: np.ndarray,
    sh_phi: np.ndarray,
    z_lo: np.ndarray,
    z_hi: np.ndarray,
    smat: np.ndarray,
    sact: np.ndarray,
    slay: np.ndarray,
    kind: np.ndarray,
    coff: np.ndarray,
    ipar: np.ndarray,
    fpar: np.ndarray,
    redges: np.ndarray,
    pitch: np.ndarray,
    tabs: tuple,
    cutv: np.ndarray,
    cells: np.ndarray,
    book: np.ndarray,
    ok: np.ndarray,
) -> None:
    """Simulate shower ``i`` into ``cells[i]`` and ``book[i]`` for every i, in parallel;
    ``tabs``: :meth:`~.physics.PhysicsTables.kernel_tuple`, ``cutv``:
    :meth:`~.physics.Cuts.kernel_vector`."""
    for i in nb.prange(energy.shape[0]):
        sf = np.empty((STACK_CAPACITY, 7))
        si = np.empty((STACK_CAPACITY, 2), dtype=np.int64)
        ro = (sact, slay, kind, coff, ipar, fpar, redges, sh_eta[i], sh_phi[i], pitch)
        ok[i] = _shower(
            energy[i], ptype, x0[i], y0[i], dirs[i, 0], dirs[i, 1], dirs[i, 2], seeds[i],
            cells[i], book[i], z_lo, z_hi, smat, ro, tabs, cutv, sf, si,
        )  # fmt: skip
