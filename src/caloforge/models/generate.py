"""``generate``: sample showers from a model artifact and stream them to a shower file.

Conditions come from exactly one of: ``energies`` (MeV; ``n`` showers at each), or ``like``
(a reference file whose energies, and configurations when it has them, are copied row by row;
``n`` then keeps the first ``n`` rows). For a model conditioned on the alignment configuration
``config`` fixes it; otherwise configurations are drawn uniformly from the seed. Batch ``k``
draws its noise from a torch generator seeded with ``chunk_seed(seed, k)``, so a (model,
conditions, seed, batch_size) tuple always gives the same file, and any range of batches can be
generated on its own (the Dask fan-out relies on it). Energies outside the trained range warn
and are counted in the file's attrs.

Back-ends: ``torch`` (the artifact's generator, CPU or CUDA) or ``onnxruntime`` (an exported
ONNX file, ``onnx_path``, or the artifact exported on the fly with its parity check); for the
same noise both give the same showers to the export's parity tolerance.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from caloforge.io import ShowerWriter, iter_showers
from caloforge.models.artifact import Artifact, load_model
from caloforge.showerset import ShowerSet

__all__ = ["BACKENDS", "chunk_seed", "generate"]

BACKENDS = ("torch", "onnxruntime")
Sampler = Callable[[np.ndarray, np.ndarray | None, torch.Tensor], np.ndarray]


def chunk_seed(seed: int, chunk: int) -> int:
    """Seed of batch ``chunk``'s noise: depends on (seed, chunk) only."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _torch_sampler(artifact: Artifact) -> Sampler:
    gen = artifact.generator

    def sample(e: np.ndarray, c: np.ndarray | None, noise: torch.Tensor) -> np.ndarray:
        return gen.sample(e, c, noise=noise).cpu().numpy()

    return sample


def _onnx_sampler(
    artifact: Artifact, onnx_path: str | Path | None, threads: int | None, workdir: Path
) -> Sampler:
    from caloforge.export import OnnxGenerator, export_onnx

    if onnx_path is None:
        onnx_path = export_onnx(artifact.path, workdir / "model.onnx").path
    ort_gen = OnnxGenerator(onnx_path, threads=threads or 0)
    if not ort_gen.geometry.same_readout(artifact.geometry) or (
        ort_gen.noise_dim != artifact.generator.noise_dim
    ):
        msg = f"{onnx_path}: ONNX file does not match the model in {artifact.path} (geometry or noise)"
        raise ValueError(msg)

    def sample(e: np.ndarray, c: np.ndarray | None, noise: torch.Tensor) -> np.ndarray:
        return ort_gen.sample(e, c, noise=noise.numpy())

    return sample


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
    backend: str = "torch",
    onnx_path: str | Path | None = None,
    threads: int | None = None,
    progress: bool = False,
    chunks: range | None = None,
) -> Path:
    """Generate showers with the model in ``model_dir`` into ``out`` (atomic, streamed).

    ``energies`` in MeV (one value or a list; ``n`` showers at each), or ``like`` a reference
    shower file. ``backend`` is ``torch`` or ``onnxruntime``; ``threads`` sets the CPU threads
    of either. ``chunks`` restricts the output to those batch indices (for fan-out). Returns
    the output path.
    """
    if batch_size < 1:
        msg = f"generate: batch_size must be >= 1, got {batch_size}"
        raise ValueError(msg)
    if backend not in BACKENDS:
        msg = f"generate: unknown backend {backend!r}; choose from {', '.join(BACKENDS)}"
        raise ValueError(msg)
    if backend == "onnxruntime" and device != "cpu":
        msg = (
            "generate: the onnxruntime back-end runs on the CPU here; use --backend torch for cuda"
        )
        raise ValueError(msg)
    if threads is not None and threads < 1:
        msg = f"generate: threads must be >= 1, got {threads}"
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
        "backend": backend,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "trained_energy_range_mev": [enc.energy_min_mev, enc.energy_max_mev],
        "n_outside_trained_range": outside,
        "model_provenance": artifact.provenance,
    }
    conditions = ["config"] if configs is not None else []
    batches = list(_chunks(e, configs, batch_size))
    selected = range(len(batches)) if chunks is None else chunks
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            ShowerWriter(
                out,
                artifact.geometry,
                particle=artifact.particle,
                conditions=conditions,
                attrs=attrs,
            ) as writer,
        ):
            sampler = (
                _torch_sampler(artifact)
                if backend == "torch"
                else _onnx_sampler(artifact, onnx_path, threads, Path(tmp))
            )
            for k in _progress(selected, progress, len(e)):
                e_chunk, c_chunk = batches[k]
                noise_rng = torch.Generator().manual_seed(chunk_seed(seed, k))
                noise = artifact.generator.make_noise(len(e_chunk), noise_rng)
                cells = sampler(e_chunk, c_chunk, noise)
                cond = {} if c_chunk is None else {"config": c_chunk}
                writer.append(
                    ShowerSet(
                        e_chunk, np.maximum(cells, 0.0), artifact.geometry, artifact.particle, cond
                    )
                )
    finally:
        torch.set_num_threads(old_threads)
    return Path(out)


def _progress(items: Sequence[int] | range, show: bool, n_showers: int) -> Iterator[int]:
    if not show:
        yield from items
        return
    from rich.progress import Progress

    with Progress(transient=False) as bar:
        task = bar.add_task(f"generating {n_showers} showers", total=len(items))
        for k in items:
            yield k
            bar.advance(task)
