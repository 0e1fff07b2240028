"""``export``: the chosen trained model (``forecast.model``) as ONNX, checked against eager PyTorch."""

from s2kd.pipelines.export.pipeline import create_pipeline

__all__ = ["create_pipeline"]
