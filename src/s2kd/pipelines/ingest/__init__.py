"""``ingest``: a source in, the normalised series, its statistics, sample index and metadata out."""

from s2kd.pipelines.ingest.pipeline import create_pipeline

__all__ = ["create_pipeline"]
