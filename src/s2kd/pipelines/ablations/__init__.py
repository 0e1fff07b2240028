"""``ablations``: the teachers and students that isolate a part of S2-KD, then every model scored."""

from s2kd.pipelines.ablations.pipeline import create_pipeline

__all__ = ["create_pipeline"]
