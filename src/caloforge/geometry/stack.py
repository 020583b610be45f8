"""The physical slab stack: slabs of one material, active (read out) or passive."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from caloforge.materials import get_material

__all__ = [
    "E_OVER_MIP_Z",
    "Slab",
    "e_over_mip",
    "em_sampling_fraction",
    "mass_weighted_z",
    "mip_loss_mev",
    "mip_sampling_fraction",
    "mip_weights",
    "sampling_stack",
]

#: e/mip = 1 / (1 + E_OVER_MIP_Z (Z_passive - Z_active)), mass-weighted Z (Grindhammer and
#: Peters, hep-ex/0001020): the electromagnetic visible fraction relative to a MIP's
E_OVER_MIP_Z = 0.007


@dataclass(frozen=True)
class Slab:
    """A slab of ``material`` (a key of :data:`caloforge.materials.MATERIALS`), ``thickness_mm``
    thick; ``active`` slabs are read out (their deposits reach the cells)."""

    material: str
    thickness_mm: float
    active: bool

    def __post_init__(self) -> None:
        get_material(self.material)  # validates the name
        if not self.thickness_mm > 0:
            msg = f"slab of {self.material}: thickness_mm must be > 0, got {self.thickness_mm}"
            raise ValueError(msg)

    @property
    def x0(self) -> float:
        """Thickness in radiation lengths."""
        return self.thickness_mm / get_material(self.material).x0_mm


def mip_loss_mev(slabs: Sequence[Slab]) -> float:
    """Mean energy (MeV) a minimum-ionising particle at normal incidence leaves in the active
    slabs: the sum of their PDG dE/dx_min x thickness (0 without active slabs)."""
    return sum(get_material(s.material).dedx_min_mev_mm * s.thickness_mm for s in slabs if s.active)


def mip_sampling_fraction(slabs: Sequence[Slab]) -> float:
    """Fraction of a minimum-ionising particle's energy loss that falls in the active slabs,
    from the PDG dE/dx_min of each material (0 when the slabs lose nothing)."""
    loss = [get_material(s.material).dedx_min_mev_mm * s.thickness_mm for s in slabs]
    total = sum(loss)
    return sum(e for e, s in zip(loss, slabs, strict=True) if s.active) / total if total else 0.0


def mip_weights(stacks: Sequence[Sequence[Slab]]) -> np.ndarray | None:
    """(n_layers,) 1 / f_mip of each layer's slab stack (:func:`mip_sampling_fraction`): the
    CALICE MIP-weighting that turns a sampling calorimeter's layer energies into its calibrated
    energy. None when some layer has no active slab (no MIP scale)."""
    if not stacks or not all(any(s.active for s in slabs) for slabs in stacks):
        return None
    return np.array([1.0 / mip_sampling_fraction(slabs) for slabs in stacks])


def mass_weighted_z(slabs: Sequence[Slab]) -> float:
    """Mean atomic number of ``slabs`` weighted by their mass per unit area."""
    mass = [get_material(s.material).density_g_cm3 * s.thickness_mm for s in slabs]
    z = [get_material(s.material).z_eff for s in slabs]
    return sum(m * zi for m, zi in zip(mass, z, strict=True)) / sum(mass)


def e_over_mip(slabs: Sequence[Slab], c: float = E_OVER_MIP_Z) -> float:
    """Grindhammer and Peters' e/mip of a stack, ``1 / (1 + c (Z_passive - Z_active))``; 1 when
    it has no passive or no active slab."""
    active = [s for s in slabs if s.active]
    passive = [s for s in slabs if not s.active]
    if not active or not passive:
        return 1.0
    return 1.0 / (1.0 + c * (mass_weighted_z(passive) - mass_weighted_z(active)))


def em_sampling_fraction(slabs: Sequence[Slab], c: float = E_OVER_MIP_Z) -> float:
    """Fraction of an electromagnetic shower's deposit seen by the active slabs:
    ``e/mip x f_mip`` (:func:`e_over_mip`, :func:`mip_sampling_fraction`); 0 without active
    slabs, ``f_mip`` without passive ones."""
    if not any(s.active for s in slabs):
        return 0.0
    return e_over_mip(slabs, c) * mip_sampling_fraction(tuple(slabs))


def sampling_stack(
    absorber: str,
    absorber_mm: float,
    active: str,
    active_mm: float,
    *,
    n_units: int | None = None,
    total_mm: float | None = None,
) -> tuple[Slab, ...]:
    """Alternating absorber/active slabs, either ``n_units`` whole units or filling
    ``total_mm`` exactly (the last unit is truncated, absorber first)."""
    unit = absorber_mm + active_mm
    if (n_units is None) == (total_mm is None):
        msg = "sampling_stack: give exactly one of n_units or total_mm"
        raise ValueError(msg)
    slabs: list[Slab] = []
    if n_units is not None:
        for _ in range(n_units):
            slabs += [Slab(absorber, absorber_mm, False), Slab(active, active_mm, True)]
        return tuple(slabs)
    assert total_mm is not None
    n_full = int(total_mm // unit + 1e-9)
    slabs = list(sampling_stack(absorber, absorber_mm, active, active_mm, n_units=n_full))
    rest = total_mm - n_full * unit
    if rest > 1e-9:
        a = min(absorber_mm, rest)
        slabs.append(Slab(absorber, a, False))
        if rest - a > 1e-9:
            slabs.append(Slab(active, rest - a, True))
    return tuple(slabs)
