"""``distill``: one vision-only student per method, from the frozen teachers' cached latents."""

from s2kd.pipelines.distill.pipeline import create_pipeline

__all__ = ["create_pipeline"]
