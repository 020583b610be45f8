"""The CSV training log: one ``step,name,value`` row per loss or validation metric."""

from __future__ import annotations

import csv
from pathlib import Path

from caloforge.io import atomic_write_text

__all__ = ["CsvLog"]

HEADER = ["step", "name", "value"]


class CsvLog:
    """Append-only CSV; on resume, rows after the checkpoint's step are dropped first, so the
    log of a resumed run equals the log of an uninterrupted one."""

    def __init__(self, path: Path, *, resume_step: int | None = None) -> None:
        self.path = path
        if resume_step is not None and path.is_file():
            with path.open(newline="") as f:
                rows = [r for r in csv.reader(f)][1:]
            kept = [r for r in rows if int(r[0]) <= resume_step]
            atomic_write_text(path, "".join(",".join(r) + "\n" for r in [HEADER, *kept]))
        else:
            atomic_write_text(path, ",".join(HEADER) + "\n")

    def write(self, step: int, values: dict[str, float]) -> None:
        with self.path.open("a", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")  # the header's line ending
            for name, value in values.items():
                writer.writerow([step, name, repr(float(value))])
