"""Material constants for the slab stacks, in one table with their source.

Every number comes from the PDG "Atomic and Nuclear Properties of Materials" tables
(https://pdg.lbl.gov/2024/AtomicNuclearProperties/), columns: density, radiation length X0,
critical energy Ec for electrons (Rossi definition as tabulated there), Molière radius R_M,
minimum ionisation loss dE/dx|min, mean excitation energy I. Compounds list their elemental
composition by mass fraction (Z, mass fraction) so that simulators can build cross sections.

Units: density g/cm^3, lengths mm, energies MeV, dE/dx in MeV cm^2/g, I in eV.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ELEMENT_MASS", "MATERIALS", "Material", "get_material"]


@dataclass(frozen=True)
class Material:
    """One absorber or active medium (values from the PDG tables, see module docstring)."""

    name: str
    density_g_cm3: float
    x0_g_cm2: float
    critical_energy_mev: float
    moliere_radius_mm: float
    dedx_min_mev_cm2_g: float
    mean_excitation_ev: float
    z_over_a: float
    composition: tuple[tuple[int, float], ...]  # (Z, mass fraction)
    atomic_mass: float  # g/mol, mean (for compounds, of the formula unit / atoms)

    @property
    def x0_mm(self) -> float:
        """Radiation length in mm."""
        return 10.0 * self.x0_g_cm2 / self.density_g_cm3

    @property
    def dedx_min_mev_mm(self) -> float:
        """Minimum ionisation energy loss in MeV/mm."""
        return 0.1 * self.dedx_min_mev_cm2_g * self.density_g_cm3

    @property
    def z_eff(self) -> float:
        """Mass-fraction-weighted mean Z (enough for labels; cross sections use composition)."""
        return sum(z * w for z, w in self.composition)


def _m(
    name: str,
    rho: float,
    x0: float,
    ec: float,
    rm_cm: float,
    dedx: float,
    i_ev: float,
    z_over_a: float,
    composition: tuple[tuple[int, float], ...],
    atomic_mass: float,
) -> Material:
    return Material(name, rho, x0, ec, 10.0 * rm_cm, dedx, i_ev, z_over_a, composition, atomic_mass)


#: PDG 2024 Atomic and Nuclear Properties (Ec for e-, R_M as tabulated).
MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        _m("Pb", 11.35, 6.37, 7.43, 1.602, 1.122, 823.0, 0.39575, ((82, 1.0),), 207.2),
        _m("W", 19.30, 6.76, 7.97, 0.9327, 1.145, 727.0, 0.40250, ((74, 1.0),), 183.84),
        _m("Fe", 7.874, 13.84, 21.68, 1.719, 1.451, 286.0, 0.46557, ((26, 1.0),), 55.845),
        _m("Cu", 8.960, 12.86, 19.42, 1.568, 1.403, 322.0, 0.45636, ((29, 1.0),), 63.546),
        _m("Al", 2.699, 24.01, 42.70, 4.419, 1.615, 166.0, 0.48181, ((13, 1.0),), 26.9815),
        _m("LAr", 1.396, 19.55, 32.84, 9.043, 1.508, 188.0, 0.45059, ((18, 1.0),), 39.948),
        _m("Si", 2.329, 21.82, 40.19, 4.944, 1.664, 173.0, 0.49848, ((14, 1.0),), 28.0855),
        _m(
            "PbWO4",
            8.300,
            7.39,
            9.64,
            1.959,
            1.229,
            600.7,
            0.41315,
            ((82, 0.455347), (74, 0.404011), (8, 0.140640)),
            455.04 / 6.0,
        ),
        _m(
            "Scintillator",  # polystyrene
            1.060,
            43.79,
            93.11,
            9.410,
            1.936,
            68.7,
            0.53768,
            ((1, 0.077418), (6, 0.922582)),
            104.15 / 16.0,
        ),
    )
}


#: standard atomic weights (g/mol) of the elements in the compositions above, by Z
#: (PDG 2024 "Atomic and Nuclear Properties", element pages; same source as the table)
ELEMENT_MASS: dict[int, float] = {
    1: 1.008,
    6: 12.011,
    8: 15.999,
    13: 26.9815,
    14: 28.0855,
    18: 39.948,
    26: 55.845,
    29: 63.546,
    74: 183.84,
    82: 207.2,
}


def get_material(name: str) -> Material:
    """Look a material up by name; unknown names list the known ones."""
    try:
        return MATERIALS[name]
    except KeyError:
        msg = f"unknown material {name!r}; known materials: {', '.join(sorted(MATERIALS))}"
        raise ValueError(msg) from None
