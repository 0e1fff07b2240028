"""``train_teacher``: the privileged multimodal teacher and its vision-only twin."""

from s2kd.pipelines.train_teacher.pipeline import create_pipeline

__all__ = ["create_pipeline"]
