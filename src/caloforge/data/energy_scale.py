"""Energy scale of shower files: visible deposit, or the calibrated scale a geometry's files use.

Cells in a shower file are ``visible deposit x energy_scale`` (MeV). The scale is stored as the
file attribute ``energy_scale``. Per geometry, :func:`calibration_factor` is the scale its files
are written in (the convention):

- ``calochallenge-2`` and ``calochallenge-3``: ``1 / 0.033``, the Par04 silicon sampling
  fraction by which the challenge divides the silicon deposit (E_tot/E_inc ~ 1);
- every other geometry (dataset 1 included, see below): 1, the visible deposit.

The challenge's dataset-1 files hold ATLAS cell energies calibrated to the electromagnetic scale
(E_tot/E_inc ~ 1 for photons; its evaluator's E_tot/E_inc axes span 0.4-1.5). Our
``calochallenge-1-*`` presets have no such calibration yet, so their files stay visible energy
(``energy_scale`` 1) and say so.

A file without the attribute is read as follows: written by caloforge (it has the
``caloforge_geometry`` attribute) before the convention existed: visible (1); anyone else's
(e.g. the challenge's own): the geometry's convention.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ENERGY_SCALE_ATTR",
    "PAR04_SAMPLING_FRACTION",
    "calibration_factor",
    "describe_scale",
    "file_energy_scale",
    "read_file_energy_scale",
]

ENERGY_SCALE_ATTR = "energy_scale"
#: silicon sampling fraction of the Geant4 Par04 Si-W calorimeter used by CaloChallenge 2 and 3
PAR04_SAMPLING_FRACTION = 0.033
_CONVENTION = {
    "calochallenge-2": 1.0 / PAR04_SAMPLING_FRACTION,
    "calochallenge-3": 1.0 / PAR04_SAMPLING_FRACTION,
}


def calibration_factor(geometry_name: str) -> float:
    """Scale (stored / visible) in which files of this geometry are written."""
    return _CONVENTION.get(geometry_name, 1.0)


def describe_scale(scale: float) -> str:
    """Readable name of a scale: 'visible' or 'calibrated (visible x F)'."""
    if abs(scale - 1.0) < 1e-12:
        return "visible deposit (x1)"
    return f"calibrated (visible x {scale:.6g})"


def file_energy_scale(attrs: dict, geometry_name: str) -> tuple[float, str]:
    """``(scale, how it was found)`` from a file's HDF5 attributes (a mapping)."""
    if ENERGY_SCALE_ATTR in attrs:
        return float(attrs[ENERGY_SCALE_ATTR]), "attribute 'energy_scale'"
    if "caloforge_geometry" in attrs:
        return (
            1.0,
            "no 'energy_scale' attribute; written by caloforge before the convention: visible",
        )
    factor = calibration_factor(geometry_name)
    return factor, f"no 'energy_scale' attribute; assumed the {geometry_name} convention"


def read_file_energy_scale(path: str | Path, geometry_name: str) -> tuple[float, str]:
    """:func:`file_energy_scale` of the file at ``path``."""
    import h5py

    with h5py.File(path, "r") as f:
        return file_energy_scale(dict(f.attrs), geometry_name)
