"""The electromagnetic cascade Monte Carlo (docs/simulate.md).

Condensed-history transport of e−, e+ and photons through a geometry's slab stack (slabs
infinite laterally, normal to z, dead material in front first), compiled with numba and parallel
over showers. Modules: :mod:`.physics` (cross sections, stopping powers, :class:`Cuts`),
:mod:`.stack` (the geometry as arrays), :mod:`.transport` (the kernel, with the exact meaning of
the per-shower energy bookkeeping).

Entry point: :func:`run_cascade` (the engine interface of
:mod:`caloforge.simulation.engine`).
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from caloforge.geometry import Geometry
from caloforge.simulation.cascade.physics import (
    ELECTRON_MASS_MEV,
    Cuts,
    PhysicsTables,
    build_tables,
)
from caloforge.simulation.cascade.stack import etaphi_shifts, flatten
from caloforge.simulation.cascade.transport import (
    BOOK_SIZE,
    ELECTRON,
    PHOTON,
    POSITRON,
    run_showers,
)
from caloforge.simulation.engine import EngineOutput, max_workers
from caloforge.simulation.gun import GunSample

__all__ = [
    "ELECTRON_MASS_MEV",
    "TRANSPORT_VERSION",
    "Cuts",
    "production_thresholds",
    "run_cascade",
]

#: Version of the cascade physics and stepping; bumped whenever showers for a seed change.
#: 1: Highland multiple scattering per step, Bohr fluctuations; 2: ``Cuts.step_scale``;
#: 3: modified-Tsai emission angles fixed (mean u = theta E / m_e = 1.6, was 3.1);
#: 4: multiple scattering from screened-Rutherford transport mean free paths (step
#: independent), Gaussian core plus single-scattering tail, random-hinge steps that meet faces
#: exactly, steps near faces limited to ``Cuts.lambda1_fraction`` lambda_1; 5: Urban's
#: energy-loss fluctuations (Landau–Vavilov shape in thin layers) instead of a clamped Gaussian;
#: 6: bremsstrahlung with Tsai's screening functions (incomplete screening below ~1 GeV: a
#: 10 MeV electron in W radiates 0.67 E / X0, was E / X0); 7: the continuous loss of a leg
#: spread along it in pieces of at most half a cell (was: at its midpoint), range rejection of
#: e± below ``Cuts.range_rejection_mev`` that cannot leave a passive slab; 8: e± steps far
#: from faces up to ``Cuts.safety_fraction`` of the distance to the nearer face, the hinge of
#: a long step with Lewis's first two moments (legs 2 lambda_1 tanh(tau / 2), plus a
#: Gaussian), no hard collisions sampled one by one beyond 2 transport lengths; 9: positron
#: annihilation in flight (Heitler), pair energy sharing with Tsai's screening functions;
#: 10: production thresholds per material from a range cut (``Cuts.range_cut_mm``, 0.7 mm,
#: Geant4's convention; were 0.1 MeV photons and 1 MeV delta rays everywhere).
TRANSPORT_VERSION = "10"

_PTYPE = {"photon": PHOTON, "electron": ELECTRON, "positron": POSITRON}


@functools.lru_cache(maxsize=32)
def _tables(materials: tuple[str, ...], cuts: Cuts) -> PhysicsTables:
    return build_tables(materials, cuts)


def production_thresholds(geometry: Geometry, cuts: Cuts | None = None) -> dict[str, list[float]]:
    """{material: [photon, e±] production threshold in MeV} of ``geometry``'s materials
    under ``cuts`` (what its files record in their provenance)."""
    tab = _tables(flatten(geometry).materials, cuts or Cuts())
    return {
        name: [float(tab.photon_production_mev[m]), float(tab.electron_production_mev[m])]
        for m, name in enumerate(tab.materials)
    }


def run_cascade(
    geometry: Geometry, sample: GunSample, *, workers: int | None = None, cuts: Cuts | None = None
) -> EngineOutput:
    """Simulate the showers of ``sample`` in ``geometry`` on ``workers`` threads (default: all).

    Each shower uses only its own seed (``sample.shower_seed[i]``), so the output does not
    depend on ``workers`` or on how the showers are batched. Returns the cells (MeV, float32)
    and the per-shower bookkeeping described in :mod:`.transport`; ``visible_mev`` is all the
    energy deposited in active slabs (inside the readout cells or not).
    """
    cuts = cuts or Cuts()
    if sample.particle not in _PTYPE:
        msg = f"the cascade simulates {', '.join(_PTYPE)}; got particle {sample.particle!r}"
        raise ValueError(msg)
    energy = np.ascontiguousarray(sample.energy_mev, dtype=np.float64)
    if energy.size and not (np.isfinite(energy).all() and energy.min() > 0):
        msg = "run_cascade: incident energies must be finite and > 0 MeV"
        raise ValueError(msg)
    flat = flatten(geometry)
    tab = _tables(flat.materials, cuts)
    n = len(energy)
    sh_eta, sh_phi = etaphi_shifts(
        geometry, sample.offset_eta, sample.offset_phi, sample.conditions.get("config")
    )
    cells = np.zeros((n, flat.n_cells))
    book = np.zeros((n, BOOK_SIZE))
    ok = np.ones(n, dtype=np.bool_)
    cutv = cuts.kernel_vector()
    previous = numba.get_num_threads()
    threads = max_workers() if workers is None else int(workers)
    if not 1 <= threads <= max_workers():
        msg = f"workers must be in 1..{max_workers()}, got {workers}"
        raise ValueError(msg)
    numba.set_num_threads(threads)
    try:
        run_showers(
            energy,
            _PTYPE[sample.particle],
            np.ascontiguousarray(sample.x_mm, dtype=np.float64),
            np.ascontiguousarray(sample.y_mm, dtype=np.float64),
            np.ascontiguousarray(sample.direction, dtype=np.float64),
            np.ascontiguousarray(sample.shower_seed, dtype=np.uint64),
            np.ascontiguousarray(sh_eta),
            np.ascontiguousarray(sh_phi),
            flat.z_lo,
            flat.z_hi,
            flat.slab_material,
            flat.slab_active,
            flat.slab_layer,
            flat.kind,
            flat.cell_offset,
            flat.int_par,
            flat.float_par,
            flat.r_edges,
            flat.pitch,
            tab.kernel_tuple(),
            cutv,
            cells,
            book,
            ok,
        )
    finally:
        numba.set_num_threads(previous)
    if not ok.all():
        bad = int(np.argmin(ok))
        msg = f"cascade particle stack overflowed in shower {bad} (E = {energy[bad]:g} MeV)"
        raise RuntimeError(msg)
    return EngineOutput(
        cells=cells.astype(np.float32),
        active_mev=book[:, 0].copy(),
        passive_mev=book[:, 1].copy(),
        escaped_mev=book[:, 2].copy(),
        below_cut_mev=book[:, 3].copy(),
        visible_mev=book[:, 4].copy(),
        charged_steps=book[:, 5].astype(np.int64),
        passive_steps=book[:, 6].astype(np.int64),
    )
