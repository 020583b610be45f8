"""Generation: showers from a trained model, through a back-end, into a file.

- :mod:`~caloforge.generation.backend` -- the :class:`Backend` interface (a generator's forward
  pass on NumPy arrays) and :func:`sample`;
  :class:`~caloforge.generation.torch_backend.TorchBackend` (a model artifact, CPU or CUDA) and
  :class:`~caloforge.generation.onnxruntime.OnnxBackend` (an exported ONNX file, no torch).
- :mod:`~caloforge.generation.conditions` -- the energies and configurations of a job, row by row.
- :mod:`~caloforge.generation.run` -- :func:`generate`, the stage (any row range, in this
  process or over an executor).

This package sits above :mod:`caloforge.models` and :mod:`caloforge.export`; importing it (or the
ONNX Runtime back-end) loads no torch: names are imported when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from caloforge.lazy import lazy_attributes

if TYPE_CHECKING:
    from caloforge.generation.backend import BACKENDS, Backend, sample
    from caloforge.generation.conditions import requested_rows, resolve_conditions
    from caloforge.generation.onnxruntime import OnnxBackend
    from caloforge.generation.run import chunk_seed, fan_out_generation, generate
    from caloforge.generation.torch_backend import TorchBackend

__all__ = [
    "BACKENDS",
    "Backend",
    "OnnxBackend",
    "TorchBackend",
    "chunk_seed",
    "fan_out_generation",
    "generate",
    "requested_rows",
    "resolve_conditions",
    "sample",
]

_WHERE = {
    "BACKENDS": ".backend",
    "Backend": ".backend",
    "sample": ".backend",
    "requested_rows": ".conditions",
    "resolve_conditions": ".conditions",
    "chunk_seed": ".run",
    "fan_out_generation": ".run",
    "generate": ".run",
    "OnnxBackend": ".onnxruntime",
    "TorchBackend": ".torch_backend",
}


__getattr__ = lazy_attributes(__name__, _WHERE)
