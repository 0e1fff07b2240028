"""Project pipelines, registered by folder name under ``s2kd/pipelines``."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

#: the chain ``kedro run`` runs; ``ablations`` (its own evaluate and report over every model) runs on demand
DEFAULT = ("ingest", "narrate", "train_teacher", "distill", "evaluate", "report")


def register_pipelines() -> dict[str, Pipeline]:
    """Every pipeline by its folder name; ``__default__`` is the core chain :data:`DEFAULT`.

    ``kedro run --pipelines a,b`` makes Kedro find only those (``find_pipelines`` loads what is
    asked for); ``__default__`` is built when its parts are there."""
    pipelines = find_pipelines(raise_errors=True)
    if all(name in pipelines for name in DEFAULT):
        pipelines["__default__"] = sum((pipelines[name] for name in DEFAULT), Pipeline([]))
    return pipelines
