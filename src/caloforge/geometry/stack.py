"""The physical slab stack: slabs of one material, active (read out) or passive."""

from __future__ import annotations

from dataclasses import dataclass

from caloforge.materials import get_material

__all__ = ["Slab", "mip_loss_mev", "mip_sampling_fraction", "sampling_stack"]


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


def mip_loss_mev(slabs: tuple[Slab, ...] | list[Slab]) -> float:
    """Mean energy (MeV) a minimum-ionising particle at normal incidence leaves in the active
    slabs: the sum of their PDG dE/dx_min x thickness (0 without active slabs)."""
    return sum(get_material(s.material).dedx_min_mev_mm * s.thickness_mm for s in slabs if s.active)


def mip_sampling_fraction(slabs: tuple[Slab, ...] | list[Slab]) -> float:
    """Fraction of a minimum-ionising particle's energy loss that falls in the active slabs,
    from the PDG dE/dx_min of each material (0 when the slabs lose nothing)."""
    loss = [get_material(s.material).dedx_min_mev_mm * s.thickness_mm for s in slabs]
    total = sum(loss)
    return sum(e for e, s in zip(loss, slabs, strict=True) if s.active) / total if total else 0.0


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
