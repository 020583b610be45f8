"""Where the CaloChallenge 2022 datasets are: Zenodo records, files and their MD5 checksums.

Records from the challenge's homepage (github.com/CaloChallenge/homepage, README: dataset 1
DOI 10.5281/zenodo.8099322, dataset 2 DOI 10.5281/zenodo.6366270, dataset 3 DOI
10.5281/zenodo.6366323; for datasets 2 and 3 the files sit in the version records 6366271 and
6366324 of those concept DOIs). The MD5 checksums are those a public dataset loader for the
challenge (a CaloPointFlow-style ``CaloDataset`` class found by code search) verifies against;
:mod:`caloforge.data.fetch` refuses a file whose checksum differs.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CALOCHALLENGE", "RemoteFile", "dataset_files"]


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: its name, URL and MD5 (hex)."""

    name: str
    url: str
    md5: str


def _zenodo(record: int, name: str, md5: str) -> RemoteFile:
    return RemoteFile(name, f"https://zenodo.org/records/{record}/files/{name}?download=1", md5)


CALOCHALLENGE: dict[str, tuple[RemoteFile, ...]] = {
    "calochallenge-1-photons": (
        _zenodo(8099322, "dataset_1_photons_1.hdf5", "005d2adeda7db034b388112661265656"),
        _zenodo(8099322, "dataset_1_photons_2.hdf5", "4767715ed56e99565fd9c67340661e70"),
    ),
    "calochallenge-1-pions": (
        _zenodo(8099322, "dataset_1_pions_1.hdf5", "6a5f52722064a1bcd8a0bc002f16515d"),
        _zenodo(8099322, "dataset_1_pions_2.hdf5", "fee7457b40127bc23c8ab909e2638ca0"),
    ),
    "calochallenge-2": (
        _zenodo(6366271, "dataset_2_1.hdf5", "e590333e9a2da51b258288d74bd8357a"),
        _zenodo(6366271, "dataset_2_2.hdf5", "7a56fd68aa53ded37c2ac445694d9736"),
    ),
    "calochallenge-3": (
        _zenodo(6366324, "dataset_3_1.hdf5", "d33f03418aa311b0965452fcbef1ff87"),
        _zenodo(6366324, "dataset_3_2.hdf5", "911dec2c40aafa64a07b7450b80881bf"),
        _zenodo(6366324, "dataset_3_3.hdf5", "5ea62f6831a1821bb5035fafc9f030e8"),
        _zenodo(6366324, "dataset_3_4.hdf5", "5e8d82e6a6c28c6914a3b602a1cfa299"),
    ),
}


def dataset_files(name: str) -> tuple[RemoteFile, ...]:
    """The files of a dataset by name (``calochallenge-2``; ``-1-photons``, ``-1-pions``, ``-3``)."""
    if name not in CALOCHALLENGE:
        msg = f"unknown dataset {name!r}; known: {', '.join(CALOCHALLENGE)}"
        raise ValueError(msg)
    return CALOCHALLENGE[name]
