"""Energies with units, as typed on the command line: ``50GeV``, ``500 MeV``, ``16GeV,32GeV``.

The package works in MeV; these parsers are the one place where text with a unit becomes MeV,
and :func:`format_energy` the one place where MeV becomes text for a message. A bare number is an error: ``50`` could be GeV or MeV, and a silent factor of
1000 is the worst bug a simulation can have.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "ENERGY_UNITS",
    "check_energies_within",
    "format_energy",
    "parse_energies",
    "parse_energy",
]

#: accepted energy units and their value in MeV (matched case-insensitively)
ENERGY_UNITS: dict[str, float] = {
    "eV": 1e-6,
    "keV": 1e-3,
    "MeV": 1.0,
    "GeV": 1e3,
    "TeV": 1e6,
}
_UNIT_BY_LOWER = {k.lower(): v for k, v in ENERGY_UNITS.items()}
_PATTERN = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]*)\s*$")
_ACCEPTED = ", ".join(ENERGY_UNITS)


def parse_energy(text: str) -> float:
    """``'50GeV'`` -> 50000.0: a positive, finite energy with a unit, returned in MeV.

    Units: eV, keV, MeV, GeV, TeV (any case); space between number and unit is allowed.
    """
    match = _PATTERN.match(text)
    if match is None:
        msg = f"cannot read energy {text!r}; expected a number with a unit, e.g. 50GeV or 500MeV (units: {_ACCEPTED})"
        raise ValueError(msg)
    number, unit = match.groups()
    if not unit:
        msg = f"energy {text!r} has no unit; write e.g. {number}GeV or {number}MeV (units: {_ACCEPTED})"
        raise ValueError(msg)
    factor = _UNIT_BY_LOWER.get(unit.lower())
    if factor is None:
        msg = f"energy {text!r}: unknown unit {unit!r}; accepted units: {_ACCEPTED}"
        raise ValueError(msg)
    value = float(number) * factor
    if not math.isfinite(value) or value <= 0:
        msg = f"energy {text!r} must be positive and finite"
        raise ValueError(msg)
    return value


def parse_energies(text: str) -> list[float]:
    """``'16GeV,32GeV'`` -> [16000.0, 32000.0] (MeV); comma-separated, each with its unit."""
    parts = [p for p in (s.strip() for s in text.split(",")) if p]
    if not parts:
        msg = f"no energies in {text!r}; expected a comma-separated list such as 16GeV,32GeV"
        raise ValueError(msg)
    return [parse_energy(p) for p in parts]


def format_energy(mev: float) -> str:
    """``1e7`` -> ``'10 TeV'``: an energy in MeV written with the largest unit in which its
    value is >= 1 (eV .. TeV), three significant digits."""
    if not math.isfinite(mev):
        return f"{mev} MeV"
    for unit, factor in sorted(ENERGY_UNITS.items(), key=lambda kv: -kv[1]):
        if abs(mev) >= factor or unit == "eV":
            return f"{mev / factor:.3g} {unit}"
    return f"{mev} MeV"  # pragma: no cover (eV catches everything)


def check_energies_within(
    energies_mev: list[float] | tuple[float, ...], low_mev: float, high_mev: float, *, what: str
) -> None:
    """Raise ValueError (one line) unless every energy lies in ``[low_mev, high_mev]`` MeV;
    ``what`` names the range in the message (e.g. ``"the gflash engine"``)."""
    for e in energies_mev:
        if not (math.isfinite(e) and low_mev <= e <= high_mev):
            msg = (
                f"energy {format_energy(e)} is outside the range of {what}: "
                f"{format_energy(low_mev)} to {format_energy(high_mev)}"
            )
            raise ValueError(msg)
