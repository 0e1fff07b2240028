"""``narrate``: one narrative per sample, and the token embeddings of every narrative."""

from s2kd.pipelines.narrate.pipeline import create_pipeline

__all__ = ["create_pipeline"]
