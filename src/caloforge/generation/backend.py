"""The generation back-end interface: a generator's forward pass on NumPy arrays.

Shapes: ``noise`` (N, noise_dim) float32, ``conditions`` (N, cond_dim) float32 from the
back-end's :meth:`Backend.encode_conditions`; output ``cells`` (N, geometry.n_cells) float32 in
MeV, in the geometry's flattening order. Two back-ends: ``torch``
(:class:`caloforge.generation.torch_backend.TorchBackend`, a model artifact's generator, CPU or
CUDA) and ``onnxruntime`` (:class:`caloforge.generation.onnxruntime.OnnxBackend`, an exported
ONNX file; imports no torch). For the same inputs they agree to the export's parity tolerance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from caloforge.geometry import Geometry

__all__ = ["BACKENDS", "Backend", "sample"]

BACKENDS = ("torch", "onnxruntime")


class Backend(Protocol):
    name: str
    noise_dim: int
    geometry: Geometry

    def encode_conditions(self, energy_mev: np.ndarray, config: np.ndarray | None) -> np.ndarray:
        """(N,) MeV and (N,) configs (None for models without them) -> (N, cond_dim) float32."""
        ...

    def run(self, noise: np.ndarray, conditions: np.ndarray) -> np.ndarray:
        """(N, noise_dim), (N, cond_dim) -> (N, n_cells) MeV."""
        ...

    def timer(self, noise: np.ndarray, conditions: np.ndarray) -> Callable[[], object]:
        """A call running the forward pass on these inputs, already placed where the back-end
        computes (for timing: no conversion or transfer inside, finished when it returns)."""
        ...


def sample(
    backend: Backend, energy_mev: np.ndarray, config: np.ndarray | None, noise: np.ndarray
) -> np.ndarray:
    """(N, n_cells) MeV for (N,) energies, configs and explicit (N, noise_dim) noise."""
    cond = backend.encode_conditions(energy_mev, config)
    noise = np.ascontiguousarray(noise, dtype=np.float32)
    if noise.shape != (len(cond), backend.noise_dim):
        msg = f"noise has shape {noise.shape}; expected ({len(cond)}, {backend.noise_dim})"
        raise ValueError(msg)
    return backend.run(noise, cond)
