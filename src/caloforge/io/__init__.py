"""Shower files: the CaloChallenge HDF5 layout (ours, with attributes), CaloGAN's layout,
streaming reads, atomic writes and merging."""

from caloforge.io.atomic import atomic_path, atomic_write_text
from caloforge.io.calogan import read_calogan, write_calogan
from caloforge.io.hdf5 import (
    ShowerWriter,
    count_showers,
    file_info,
    iter_showers,
    merge_files,
    read_showers,
    write_showers,
)

__all__ = [
    "ShowerWriter",
    "atomic_path",
    "atomic_write_text",
    "count_showers",
    "file_info",
    "iter_showers",
    "merge_files",
    "read_calogan",
    "read_showers",
    "write_calogan",
    "write_showers",
]
