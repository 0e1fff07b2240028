"""``forecast``: a trained model on new data, a CF-style NetCDF forecast out."""

from s2kd.pipelines.forecast.pipeline import create_pipeline

__all__ = ["create_pipeline"]
