"""The CaloGAN HDF5 layout: ``energy`` (N, 1) in GeV, ``layer_0`` (N, 3, 96), ``layer_1``
(N, 12, 12), ``layer_2`` (N, 12, 6) cell energies in MeV, ``overflow`` (N, 3) MeV outside the
cells. Read into / written from a ShowerSet on the ``calogan`` geometry (MeV throughout)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from caloforge.geometry import get_geometry
from caloforge.io.atomic import atomic_path
from caloforge.io.hdf5 import _open, flush_denormals
from caloforge.showerset import ShowerSet

__all__ = ["read_calogan", "write_calogan"]

GEV = 1000.0  # MeV per GeV


def read_calogan(path: str | Path, *, particle: str = "photon") -> ShowerSet:
    path = Path(path)
    geo = get_geometry("calogan")
    with _open(path) as f:
        if "energy" not in f:
            msg = (
                f"{path}: missing dataset 'energy' (incident energy (N, 1) in GeV, CaloGAN layout)"
            )
            raise ValueError(msg)
        energy_gev = np.asarray(f["energy"][...], dtype=np.float64).reshape(-1)
        n = len(energy_gev)
        parts = []
        for i, layer in enumerate(geo.layers):
            key = f"layer_{i}"
            shape = (n, *layer.segmentation.shape)
            if key not in f or f[key].shape != shape:
                got = f[key].shape if key in f else "missing"
                msg = f"{path}: key {key!r} is {got}; expected shape {shape} in MeV"
                raise ValueError(msg)
            parts.append(np.asarray(f[key][...], dtype=np.float32).reshape(n, -1))
        cond = {}
        if "overflow" in f:
            cond["overflow"] = np.asarray(f["overflow"][...], dtype=np.float32)
    try:
        return ShowerSet(energy_gev * GEV, np.concatenate(parts, axis=1), geo, particle, cond)
    except ValueError as exc:
        raise ValueError(str(exc).replace("ShowerSet:", f"{path}:", 1)) from None


def write_calogan(path: str | Path, showers: ShowerSet, *, overwrite: bool = False) -> Path:
    """Write ``showers`` (``calogan`` geometry) in the CaloGAN layout, atomically (float32
    subnormals written as 0; ``overwrite=False`` refuses an existing file)."""
    if showers.geometry.name != "calogan" or not showers.geometry.same_readout(
        get_geometry("calogan")
    ):
        msg = (
            f"write_calogan needs showers on the 'calogan' geometry, got {showers.geometry.name!r}"
        )
        raise ValueError(msg)
    n = len(showers)
    with atomic_path(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as f:
        f["energy"] = (showers.incident_energy / GEV).reshape(n, 1)
        for i, layer in enumerate(showers.geometry.layers):
            cells = showers.cells[:, showers.geometry.layer_slice(i)]
            f[f"layer_{i}"] = flush_denormals(cells).reshape(n, *layer.segmentation.shape)
        overflow = showers.conditions.get("overflow", np.zeros((n, 3), dtype=np.float32))
        f["overflow"] = flush_denormals(overflow)
    return Path(path)
