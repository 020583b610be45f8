"""Shower files: the CaloChallenge HDF5 layout (ours, with attributes), CaloGAN's layout,
streaming reads, safe atomic writes (checked, locked, cleaned up) and merging."""

from caloforge.io.atomic import (
    OutputBusyError,
    StaleTemporaryWarning,
    atomic_path,
    atomic_write_text,
    check_output_path,
    clean_stale_temporaries,
    lock_output,
)
from caloforge.io.calogan import read_calogan, write_calogan
from caloforge.io.hdf5 import (
    ShowerWriter,
    count_showers,
    file_info,
    flush_denormals,
    iter_showers,
    merge_files,
    read_showers,
    refuse_outside_data,
    write_showers,
)

__all__ = [
    "OutputBusyError",
    "ShowerWriter",
    "StaleTemporaryWarning",
    "atomic_path",
    "atomic_write_text",
    "check_output_path",
    "clean_stale_temporaries",
    "count_showers",
    "file_info",
    "flush_denormals",
    "iter_showers",
    "lock_output",
    "merge_files",
    "read_calogan",
    "read_showers",
    "refuse_outside_data",
    "write_calogan",
    "write_showers",
]
