"""The ``onnxruntime`` generation back-end: an exported ONNX file alone (no model folder, no
torch). Its metadata (:func:`caloforge.export.metadata.read_metadata`) gives the geometry, the
noise width and the conditions encoding."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from caloforge.export.metadata import read_metadata
from caloforge.geometry import Geometry

__all__ = ["OnnxBackend"]


class OnnxBackend:
    """An exported generator behind the :class:`~caloforge.generation.backend.Backend`
    interface. ``threads`` sets ONNX Runtime's intra-op thread count (0: its default, all
    cores)."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, *, threads: int = 0) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped]

        self.path = Path(path)
        self.meta = read_metadata(self.path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(self.path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        cond = self.meta["inputs"]["conditions"]
        self.centre, self.half_width = float(cond["centre"]), float(cond["half_width"])
        self.n_configs = int(cond["n_configs"])
        self.noise_dim: int = int(self.meta["inputs"]["noise"]["shape"][1])
        self.geometry: Geometry = Geometry.from_dict(self.meta["geometry"])
        self.particle = str(self.meta["particle"])

    def encode_conditions(self, energy_mev: np.ndarray, config: np.ndarray | None) -> np.ndarray:
        """The conditions input, as documented in the metadata (same as the torch encoding)."""
        e = np.asarray(energy_mev, dtype=np.float64).reshape(-1)
        if not np.isfinite(e).all() or (e <= 0).any():
            msg = "energies must be positive and finite (MeV)"
            raise ValueError(msg)
        cols = [((np.log(e) - self.centre) / self.half_width).astype(np.float32)[:, None]]
        if self.n_configs > 1:
            if config is None:
                msg = (
                    f"{self.path}: model is conditioned on the alignment configuration; pass config"
                )
                raise ValueError(msg)
            c = np.broadcast_to(np.asarray(config, dtype=np.int64), e.shape)
            if (c < 0).any() or (c >= self.n_configs).any():
                msg = f"config must be in 0..{self.n_configs - 1}"
                raise ValueError(msg)
            cols.append(np.eye(self.n_configs, dtype=np.float32)[c])
        return np.concatenate(cols, axis=1)

    def run(self, noise: np.ndarray, conditions: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.session.run(["cells"], {"noise": noise, "conditions": conditions})[0]
        return out

    def timer(self, noise: np.ndarray, conditions: np.ndarray) -> Callable[[], object]:
        return lambda: self.run(noise, conditions)
