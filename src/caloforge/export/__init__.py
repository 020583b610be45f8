"""Deployment: ONNX export of a model artifact's generator, with metadata and a parity check
(:mod:`caloforge.export.onnx`, needs torch), and the metadata itself
(:mod:`caloforge.export.metadata`, readable without torch). Generation from an exported file is
the ``onnxruntime`` back-end of :mod:`caloforge.generation`. Submodules are imported when a name
is first used, so reading metadata does not load torch.

The package is callable: ``caloforge.export(model, out)`` is :func:`caloforge.api.export`.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from caloforge.lazy import lazy_attributes

if TYPE_CHECKING:
    from caloforge.export.metadata import read_metadata
    from caloforge.export.onnx import ExportResult, export_onnx, parity_check

__all__ = ["ExportResult", "export_onnx", "parity_check", "read_metadata"]

_WHERE = {
    "ExportResult": "caloforge.export.onnx",
    "export_onnx": "caloforge.export.onnx",
    "parity_check": "caloforge.export.onnx",
    "read_metadata": "caloforge.export.metadata",
}


__getattr__ = lazy_attributes(__name__, _WHERE)


class _CallablePackage(types.ModuleType):
    """``caloforge.export(...)``: the export stage of :mod:`caloforge.api`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from caloforge.api import export

        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
