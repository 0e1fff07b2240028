"""``report``: the run's results as ``report.html`` (self-contained) and ``report.md``."""

from s2kd.pipelines.report.pipeline import create_pipeline

__all__ = ["create_pipeline"]
