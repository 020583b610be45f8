"""Deployment: ONNX export with metadata and parity checks, and ONNX Runtime generation."""

from caloforge.export.onnx import ExportResult, export_onnx, parity_check, read_metadata
from caloforge.export.runtime import OnnxGenerator

__all__ = ["ExportResult", "OnnxGenerator", "export_onnx", "parity_check", "read_metadata"]
