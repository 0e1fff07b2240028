"""``evaluate``: every trained model on the test split, once: metrics per lead time and efficiency."""

from s2kd.pipelines.evaluate.pipeline import create_pipeline

__all__ = ["create_pipeline"]
