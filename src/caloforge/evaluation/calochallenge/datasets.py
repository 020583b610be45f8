"""The four CaloChallenge 2022 datasets: which geometry, particle, read-out threshold and split.

Energies in the challenge's files are calibrated, not visible, energies: for datasets 2 and 3
the silicon deposit divided by the sampling fraction 0.033 (E_tot/E_inc ~ 1), for dataset 1 the
ATLAS cell energies at the electromagnetic scale (each calorimeter's deposit divided by its
sampling fraction for electromagnetic showers; per layer in our stack, see
:mod:`caloforge.data.energy_scale`). The read-out threshold below which a voxel counts as empty
is applied to both samples before any feature: 1 MeV for dataset 1, 0.5 keV of silicon deposit
(0.5e-3 / 0.033 MeV calibrated) for datasets 2 and 3.
"""

from __future__ import annotations

from dataclasses import dataclass

from caloforge.data.energy_scale import (
    PAR04_SAMPLING_FRACTION,
    EnergyScale,
    calibration_factor,
)
from caloforge.geometry import Geometry, get_geometry

__all__ = ["DATASETS", "ChallengeDataset", "dataset_for_geometry", "get_dataset"]


@dataclass(frozen=True)
class ChallengeDataset:
    """One dataset: ``key`` as the challenge names it ('1-photons', '1-pions', '2', '3')."""

    key: str
    preset: str
    particle: str
    threshold_mev: float
    #: showers per sample for the classifier's train / test / validation sets
    split: tuple[int, int, int]

    @property
    def n_cells(self) -> int:
        return self.geometry().n_cells

    def geometry(self) -> Geometry:
        return get_geometry(self.preset)

    @property
    def geometry_scale(self) -> EnergyScale:
        """Energy scale (stored / visible) of the challenge's files for this dataset, as our
        convention writes them: 1/0.033 for datasets 2 and 3, the EM scale of each layer for
        dataset 1 (see :mod:`caloforge.data.energy_scale`)."""
        return calibration_factor(self.preset)

    @property
    def is_dataset_1(self) -> bool:
        return self.key.startswith("1")


DATASETS: dict[str, ChallengeDataset] = {
    "1-photons": ChallengeDataset(
        "1-photons", "calochallenge-1-photons", "photon", 1.0, (80_000, 20_000, 21_000)
    ),
    "1-pions": ChallengeDataset(
        "1-pions", "calochallenge-1-pions", "pion", 1.0, (80_000, 20_000, 20_800)
    ),
    "2": ChallengeDataset(
        "2",
        "calochallenge-2",
        "electron",
        0.5e-3 / PAR04_SAMPLING_FRACTION,
        (60_000, 20_000, 20_000),
    ),
    "3": ChallengeDataset(
        "3",
        "calochallenge-3",
        "electron",
        0.5e-3 / PAR04_SAMPLING_FRACTION,
        (60_000, 20_000, 20_000),
    ),
}


def get_dataset(key: str) -> ChallengeDataset:
    """A dataset by the challenge's key or by our preset name ('calochallenge-2')."""
    for ds in DATASETS.values():
        if key in (ds.key, ds.preset):
            return ds
    msg = f"unknown CaloChallenge dataset {key!r}; known: {', '.join(DATASETS)}"
    raise ValueError(msg)


def dataset_for_geometry(geometry: Geometry) -> ChallengeDataset:
    """The dataset whose readout (cell by cell) is ``geometry``'s; ValueError if none is."""
    for ds in DATASETS.values():
        if geometry.n_cells == ds.n_cells and geometry.same_readout(ds.geometry()):
            return ds
    msg = (
        f"geometry {geometry.name!r} ({geometry.n_cells} cells) has the readout of no "
        f"CaloChallenge dataset ({', '.join(f'{d.key}: {d.n_cells} cells' for d in DATASETS.values())})"
    )
    raise ValueError(msg)
