"""What ``evaluate`` accepts, and the checks that turn bad input into clear errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from caloforge.geometry import Geometry
from caloforge.io import count_showers, read_showers
from caloforge.showerset import ShowerSet

__all__ = ["Source", "check_sources", "source_label"]

#: a sample to evaluate: an in-memory ShowerSet or a shower file (CaloChallenge HDF5 layout)
Source = ShowerSet | str | Path


def source_label(source: Source, default: str) -> str:
    """A file's path, or ``default`` for an in-memory sample."""
    return default if isinstance(source, ShowerSet) else str(source)


def _peek(source: Source, role: str) -> tuple[Geometry, int, bool]:
    """Geometry, shower count and whether ``config`` is present, without reading the cells."""
    if isinstance(source, ShowerSet):
        source.validate(role)
        return source.geometry, len(source), source.config is not None
    path = Path(source)
    head = read_showers(path, stop=0)  # checks the file, its keys and shapes
    n = count_showers(path)
    return head.geometry, n, head.config is not None


def check_sources(
    reference: Source,
    candidates: Sequence[Source],
    labels: Sequence[str] | None,
    *,
    per_config: bool,
) -> list[str]:
    """Check that every sample is non-empty and on the reference's readout; return the
    candidates' labels. Raises ValueError naming the file (or label) and what was expected."""
    if not candidates:
        msg = "evaluate: no candidate given; expected at least one candidate sample"
        raise ValueError(msg)
    if labels is not None and len(labels) != len(candidates):
        msg = f"evaluate: {len(labels)} labels for {len(candidates)} candidates; expected one label per candidate"
        raise ValueError(msg)
    names = (
        list(labels)
        if labels is not None
        else [
            f"candidate_{i}" if isinstance(c, ShowerSet) else Path(c).stem
            for i, c in enumerate(candidates)
        ]
    )
    if len(set(names)) != len(names):
        msg = f"evaluate: candidate labels must be unique, got {names}; pass labels=[...] (--label)"
        raise ValueError(msg)
    ref_name = source_label(reference, "reference")
    ref_geo, n_ref, ref_config = _peek(reference, ref_name)
    if n_ref == 0:
        msg = f"{ref_name}: key 'showers' holds no showers; expected a non-empty reference sample"
        raise ValueError(msg)
    if per_config and not ref_config:
        msg = f"{ref_name}: per-configuration evaluation needs the condition 'config' (key 'config'), which the reference lacks"
        raise ValueError(msg)
    for name, cand in zip(names, candidates, strict=True):
        where = source_label(cand, name)
        geo, n, has_config = _peek(cand, where)
        if geo.n_cells != ref_geo.n_cells or not geo.same_readout(ref_geo):
            msg = (
                f"{where}: geometry {geo.name!r} with {geo.n_cells} cells per shower (key "
                f"'showers') differs from the reference {ref_name}: geometry {ref_geo.name!r} "
                f"with {ref_geo.n_cells} cells; expected the same readout: "
                f"{geo.readout_difference(ref_geo)} (here: the candidate)"
            )
            raise ValueError(msg)
        if n == 0:
            msg = f"{where}: key 'showers' holds no showers; expected a non-empty candidate sample"
            raise ValueError(msg)
        if per_config and not has_config:
            msg = f"{where}: per-configuration evaluation needs the condition 'config' (key 'config'), which this candidate lacks"
            raise ValueError(msg)
    return names
