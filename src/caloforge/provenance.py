"""Where a number came from: the machine, library versions and time. The one place that builds
them, for benchmark results, simulated and generated files and model artifacts."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from importlib import metadata
from typing import Any

__all__ = ["machine_description", "utc_timestamp", "versions"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def versions(*packages: str) -> dict[str, str]:
    """Versions of caloforge, Python and the given installed packages (missing ones skipped)."""
    from caloforge._version import __version__

    out = {"python": sys.version.split()[0], "caloforge": __version__}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def utc_timestamp() -> str:
    """The time now, UTC, ISO 8601 to the second (e.g. ``2026-01-31T12:00:00+00:00``)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def machine_description() -> dict[str, Any]:
    """CPU model, core count, memory, OS, GPU (if torch sees one) and the time, as a dict."""
    desc: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "time_utc": utc_timestamp(),
    }
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            desc["gpu"] = torch.cuda.get_device_name(0)
    return desc
