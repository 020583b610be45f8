"""The ``torch`` generation back-end: a model artifact's generator, on the CPU or CUDA."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from caloforge.geometry import Geometry
from caloforge.models.base import Generator

__all__ = ["TorchBackend"]


class TorchBackend:
    """``generator`` (eval mode, moved to ``device``) behind the :class:`Backend` interface."""

    name = "torch"

    def __init__(self, generator: Generator, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()
        self.noise_dim: int = generator.noise_dim
        self.geometry: Geometry = generator.geometry

    def encode_conditions(self, energy_mev: np.ndarray, config: np.ndarray | None) -> np.ndarray:
        return self.generator.encode_conditions(energy_mev, config).cpu().numpy()

    def run(self, noise: np.ndarray, conditions: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = self.generator(
                torch.from_numpy(noise).to(self.device),
                torch.from_numpy(conditions).to(self.device),
            )
        return out.cpu().numpy()

    def timer(self, noise: np.ndarray, conditions: np.ndarray) -> Callable[[], object]:
        z = torch.from_numpy(noise).to(self.device)
        c = torch.from_numpy(conditions).to(self.device)

        def run() -> object:
            with torch.inference_mode():
                out = self.generator(z, c)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            return out

        return run
