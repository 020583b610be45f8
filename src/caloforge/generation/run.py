"""The generation stage: sample showers from a model artifact and stream them to a file.

Batch ``k`` holds rows ``[k * batch_size, (k + 1) * batch_size)`` of the job and draws its noise
from a torch generator seeded with :func:`chunk_seed` ``(seed, k)``, so a (model, conditions,
seed, batch_size) tuple always gives the same file, and any row range can be generated on its
own, identical to the same rows of the whole job (how :mod:`caloforge.fanout` spreads a job over
an executor). Energies outside the trained range warn and are counted in the file's attrs.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge.generation.backend import BACKENDS, Backend, sample
from caloforge.generation.conditions import requested_rows, resolve_conditions
from caloforge.io import ShowerWriter, check_output_path, read_showers
from caloforge.progress import progress_bar
from caloforge.provenance import utc_timestamp
from caloforge.showerset import ShowerSet
from caloforge.simulation.gun import check_shower_count

if TYPE_CHECKING:
    from caloforge.fanout import Executor, FanOut
    from caloforge.models.artifact import Artifact

__all__ = ["DEFAULT_BATCH_SIZE", "chunk_seed", "fan_out_generation", "generate"]

#: showers per batch (one noise draw, one forward pass) unless told otherwise
DEFAULT_BATCH_SIZE = 10_000
#: the arguments of :func:`generate` that a fanned-out job passes to each part
_JOB_KEYS = ("n", "energies", "like", "config", "seed", "batch_size", "backend", "onnx_path")


def chunk_seed(seed: int, chunk: int) -> int:
    """Seed of batch ``chunk``'s noise: depends on (seed, chunk) only."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _check(batch_size: int, backend: str, device: str, threads: int | None) -> None:
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


@contextlib.contextmanager
def _open_backend(
    artifact: Artifact,
    backend: str,
    device: str,
    onnx_path: str | Path | None,
    threads: int | None,
) -> Iterator[Backend]:
    """The back-end running ``artifact``: its generator, or its ONNX export (``onnx_path``, or
    exported here with the parity check), which must match it."""
    if backend == "torch":
        from caloforge.generation.torch_backend import TorchBackend

        yield TorchBackend(artifact.generator, device)
        return
    from caloforge.export.onnx import export_onnx
    from caloforge.generation.onnxruntime import OnnxBackend

    with tempfile.TemporaryDirectory() as tmp:
        if onnx_path is None:
            onnx_path = export_onnx(artifact.path, Path(tmp) / "model.onnx").path
        ort = OnnxBackend(onnx_path, threads=threads or 0)
        if not ort.geometry.same_readout(artifact.geometry) or (
            ort.noise_dim != artifact.generator.noise_dim
        ):
            msg = f"{onnx_path}: ONNX file does not match the model in {artifact.path} (geometry or noise)"
            raise ValueError(msg)
        yield ort


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    import torch

    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def generate(
    model_dir: str | Path,
    out: str | Path,
    *,
    n: int | None = None,
    energies: float | Sequence[float] | None = None,
    like: str | Path | None = None,
    config: int | None = None,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str = "cpu",
    backend: str = "torch",
    onnx_path: str | Path | None = None,
    threads: int | None = None,
    progress: bool = False,
    rows: tuple[int, int] | None = None,
    executor: Executor | None = None,
    part_size: int | None = None,
    keep_parts: bool = False,
    overwrite: bool = False,
) -> Path:
    """Generate showers with the model in ``model_dir`` into ``out`` (atomic, streamed).

    ``energies`` in MeV (one value or a list; ``n`` showers at each), or ``like`` a reference
    shower file (see :mod:`caloforge.generation.conditions`). ``backend`` is ``torch`` or
    ``onnxruntime`` (with ``onnx_path``, or the artifact exported on the fly with its parity
    check); ``threads`` sets the CPU threads of either. ``rows=(start, stop)`` writes only
    those rows of the job. ``executor`` runs the job in parts (:func:`fan_out_generation`).
    An existing ``out`` is refused before any work unless ``overwrite``. Returns the output path.
    """
    out = check_output_path(out, overwrite=overwrite)
    if executor is not None:
        if rows is not None or device != "cpu":
            msg = f"generate: an executor's parts run on the CPU and choose their own rows; got device {device!r}, rows {rows}"
            raise ValueError(msg)
        job = {"n": n, "energies": energies, "like": like, "config": config, "seed": seed}
        job |= {"batch_size": batch_size, "backend": backend, "onnx_path": onnx_path}
        fan_out_generation(
            executor,
            model_dir,
            out,
            threads=threads,
            part_size=part_size,
            keep_parts=keep_parts,
            overwrite=overwrite,
            **job,
        )
        return out
    _check(batch_size, backend, device, threads)
    import torch

    from caloforge.models.artifact import load_model

    artifact = load_model(model_dir, device=device)
    enc = artifact.encoding
    e, configs = resolve_conditions(enc.n_configs, n, energies, like, config, seed)
    if rows is None:
        check_shower_count(len(e), artifact.geometry, out)
        if like is not None:
            _check_like(Path(like), artifact)
    start, stop = (0, len(e)) if rows is None else (int(rows[0]), int(rows[1]))
    if not 0 <= start <= stop <= len(e):
        msg = f"generate: rows must satisfy 0 <= start <= stop <= {len(e)}, got [{start}, {stop})"
        raise ValueError(msg)
    outside = int((~enc.in_range(e)).sum())
    if outside:
        warnings.warn(
            f"{outside} of {len(e)} energies lie outside the trained range "
            f"[{enc.energy_min_mev:g}, {enc.energy_max_mev:g}] MeV; the model extrapolates there",
            stacklevel=2,
        )
    attrs: dict[str, Any] = {
        "engine": "caloforge-generate",
        "model": str(Path(model_dir)),
        "family": artifact.family,
        "seed": seed,
        "batch_size": batch_size,
        "backend": backend,
        "created": utc_timestamp(),
        "trained_energy_range_mev": [enc.energy_min_mev, enc.energy_max_mev],
        "n_outside_trained_range": outside,
        "model_provenance": artifact.provenance,
    }
    if rows is not None:
        attrs["rows"] = [start, stop]
    geometry, particle = artifact.geometry, artifact.particle
    with (
        _torch_threads(threads),
        _open_backend(artifact, backend, device, onnx_path, threads) as runner,
        ShowerWriter(
            out,
            geometry,
            particle=particle,
            conditions=[] if configs is None else ["config"],
            attrs=attrs,
            overwrite=overwrite,
        ) as writer,
        progress_bar("generate", stop - start, show=progress) as advance,
    ):
        for k in range(start // batch_size, -(-stop // batch_size)):
            a, b = k * batch_size, min((k + 1) * batch_size, len(e))
            c = None if configs is None else configs[a:b]
            noise_rng = torch.Generator().manual_seed(chunk_seed(seed, k))
            noise = artifact.generator.make_noise(b - a, noise_rng)
            cells = sample(runner, e[a:b], c, noise.numpy())
            if not np.isfinite(cells).all():
                bad = int((~np.isfinite(cells)).any(axis=1).sum())
                msg = f"{model_dir}: the model produced NaN or inf cells in {bad} of {b - a} showers of batch {k}; nothing written (retrain or check the weights)"
                raise ValueError(msg)
            keep = slice(max(start, a) - a, min(stop, b) - a)  # the whole batch runs: same bits
            cond = {} if c is None else {"config": c[keep]}
            writer.append(
                ShowerSet(e[a:b][keep], np.maximum(cells[keep], 0.0), geometry, particle, cond)
            )
            advance(keep.stop - keep.start)
    return out


def _check_like(like: Path, artifact: Artifact) -> None:
    """Warn when the reference file ``like`` holds showers of another geometry or particle than
    the model's: only its energies (and configurations) are copied, which is rarely intended."""
    ref = read_showers(like, stop=0)
    if not ref.geometry.same_readout(artifact.geometry):
        warnings.warn(
            f"--like {like}: its geometry {ref.geometry.name!r} ({ref.geometry.n_cells} cells) is "
            f"not the model's {artifact.geometry.name!r} ({artifact.geometry.n_cells} cells); "
            "only its energies are used",
            stacklevel=3,
        )
    if ref.particle != artifact.particle:
        warnings.warn(
            f"--like {like}: its particle {ref.particle!r} is not the model's "
            f"{artifact.particle!r}; only its energies are used",
            stacklevel=3,
        )


def _write_part(
    start: int, stop: int, path: Path, *, model_dir: Path, kwargs: dict[str, Any]
) -> dict[str, np.ndarray]:  # a module-level function: pickled to the executor's workers
    generate(model_dir, path, rows=(start, stop), overwrite=True, **kwargs)
    return {}


def fan_out_generation(
    executor: Executor,
    model_dir: str | Path,
    out: str | Path,
    *,
    threads: int | None = None,
    part_size: int | None = None,
    keep_parts: bool = False,
    overwrite: bool = False,
    **job: Any,
) -> FanOut:
    """:func:`generate` with the arguments ``job`` (``n``, ``energies``, ``like``, ``config``,
    ``seed``, ``batch_size``, ``backend``, ``onnx_path``) run by ``executor`` on parts of
    ``part_size`` rows (rounded up to whole batches; default one batch) with ``threads`` CPU
    threads each (default 1), merged into ``out``: the file a local call writes. Returns how
    the job was spread. An existing ``out`` is refused unless ``overwrite``."""
    from caloforge.fanout import fan_out, split_rows

    unknown = sorted(set(job) - set(_JOB_KEYS))
    if unknown:
        msg = f"generate: unknown arguments {', '.join(unknown)}; expected {', '.join(_JOB_KEYS)}"
        raise ValueError(msg)
    kwargs: dict[str, Any] = {"batch_size": DEFAULT_BATCH_SIZE, "backend": "torch"} | job
    kwargs["threads"] = threads or 1
    _check(kwargs["batch_size"], kwargs["backend"], "cpu", kwargs["threads"])
    model_dir, out = Path(model_dir).resolve(), Path(out)
    if not (model_dir / "model.json").is_file():
        msg = f"{model_dir}: not a model folder (no model.json)"
        raise ValueError(msg)
    for key in ("like", "onnx_path"):  # the workers may run elsewhere
        kwargs[key] = None if job.get(key) is None else Path(job[key]).resolve()
    total = requested_rows(job.get("n"), job.get("energies"), kwargs["like"])
    batch_size = kwargs["batch_size"]
    ranges = split_rows(total, part_size or batch_size, align=batch_size)
    doc = {"kind": "generate", "model": str(model_dir), "ranges": ranges} | kwargs
    doc["model_mtime"] = (model_dir / "weights.safetensors").stat().st_mtime_ns

    def attrs(arrays: dict[str, np.ndarray], first: Path) -> dict[str, Any]:
        a = dict(read_showers(first, stop=0).attrs)  # every part records the whole job
        a.pop("rows", None)
        return a

    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        if kwargs["backend"] == "onnxruntime" and kwargs["onnx_path"] is None:
            from caloforge.export.onnx import export_onnx  # once, not once per part

            kwargs["onnx_path"] = export_onnx(model_dir, Path(tmp) / "model.onnx").path
        write = functools.partial(_write_part, model_dir=model_dir, kwargs=kwargs)
        return fan_out(
            executor,
            write,
            ranges,
            out,
            job=doc,
            attrs=attrs,
            keep_parts=keep_parts,
            overwrite=overwrite,
        )
