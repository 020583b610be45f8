"""``generate``: sample showers from a model artifact and stream them to a shower file.

Conditions come from exactly one of: ``energies`` (MeV; ``n`` showers at each), or ``like``
(a reference file whose energies, and configurations when it has them, are copied row by row;
``n`` then keeps the first ``n`` rows). For a model conditioned on the alignment configuration
``config`` fixes it; otherwise configurations are drawn uniformly from the seed. Noise comes from
a torch generator seeded with ``seed``, so a (model, conditions, seed, batch_size) tuple always
gives the same file. Energies outside the trained range warn and are counted in the file's attrs.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from caloforge.io import ShowerWriter, iter_showers
from caloforge.models.artifact import Artifact, load_model
from caloforge.showerset import ShowerSet

__all__ = ["generate"]


def _like_conditions(like: Path, n: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    energies, configs = [], []
    for chunk in iter_showers(like):
        energies.append(chunk.incident_energy)
        if chunk.config is not None:
            configs.append(chunk.config)
    e = np.concatenate(energies) if energies else np.zeros(0)
    c = np.concatenate(configs) if configs else None
    if n is not None:
        e, c = e[:n], (None if c is None else c[:n])
    return e, c


def _chunks(
    energies: np.ndarray, configs: np.ndarray | None, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    for start in range(0, len(energies), batch_size):
        sl = slice(start, start + batch_size)
        yield energies[sl], None if configs is None else configs[sl]


def _resolve(
    artifact: Artifact,
    n: int | None,
    energies: float | Sequence[float] | None,
    like: str | Path | None,
    config: int | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray | None]:
    if (energies is None) == (like is None):
        msg = "generate: give exactly one of energies (with n) or like (a reference file)"
        raise ValueError(msg)
    if n is not None and n < 0:
        msg = f"generate: n must be >= 0, got {n}"
        raise ValueError(msg)
    configs: np.ndarray | None = None
    if like is not None:
        e, configs = _like_conditions(Path(like), n)
    else:
        if n is None:
            msg = "generate: with energies, give n (showers per energy)"
            raise ValueError(msg)
        levels = np.atleast_1d(np.asarray(energies, dtype=np.float64))
        e = np.repeat(levels, n)
    enc = artifact.encoding
    if not enc.uses_config:
        return e, None
    if config is not None:
        if not 0 <= config < enc.n_configs:
            msg = f"generate: config must be in 0..{enc.n_configs - 1}, got {config}"
            raise ValueError(msg)
        return e, np.full(len(e), config, dtype=np.int64)
    if configs is None:
        configs = rng.integers(0, enc.n_configs, size=len(e))
    return e, configs.astype(np.int64)


def generate(
    model_dir: str | Path,
    out: str | Path,
    *,
    n: int | None = None,
    energies: float | Sequence[float] | None = None,
    like: str | Path | None = None,
    config: int | None = None,
    seed: int = 0,
    batch_size: int = 10_000,
    device: str = "cpu",
) -> Path:
    """Generate showers with the model in ``model_dir`` into ``out`` (atomic, streamed).

    ``energies`` in MeV (one value or a list; ``n`` showers at each), or ``like`` a reference
    shower file. Returns the output path.
    """
    if batch_size < 1:
        msg = f"generate: batch_size must be >= 1, got {batch_size}"
        raise ValueError(msg)
    artifact = load_model(model_dir, device=device)
    rng = np.random.default_rng(seed)
    e, configs = _resolve(artifact, n, energies, like, config, rng)
    enc = artifact.encoding
    outside = int((~enc.in_range(e)).sum())
    if outside:
        warnings.warn(
            f"{outside} of {len(e)} energies lie outside the trained range "
            f"[{enc.energy_min_mev:g}, {enc.energy_max_mev:g}] MeV; the model extrapolates there",
            stacklevel=2,
        )
    attrs = {
        "engine": "caloforge-generate",
        "model": str(Path(model_dir)),
        "family": artifact.family,
        "seed": seed,
        "batch_size": batch_size,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "trained_energy_range_mev": [enc.energy_min_mev, enc.energy_max_mev],
        "n_outside_trained_range": outside,
        "model_provenance": artifact.provenance,
    }
    gen = artifact.generator
    noise_rng = torch.Generator().manual_seed(seed)
    conditions = ["config"] if configs is not None else []
    with ShowerWriter(
        out, artifact.geometry, particle=artifact.particle, conditions=conditions, attrs=attrs
    ) as writer:
        for e_chunk, c_chunk in _chunks(e, configs, batch_size):
            noise = gen.make_noise(len(e_chunk), noise_rng)
            cells = gen.sample(e_chunk, c_chunk, noise=noise).cpu().numpy()
            cond = {} if c_chunk is None else {"config": c_chunk}
            writer.append(
                ShowerSet(
                    e_chunk, np.maximum(cells, 0.0), artifact.geometry, artifact.particle, cond
                )
            )
    return Path(out)
