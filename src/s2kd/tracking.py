"""MLflow helpers for the Kedro layer: one nested MLflow run per trained model.

Library code (``s2kd.training``) takes a Lightning logger and knows nothing of MLflow; nodes open a
nested run here and hand its logger down. Without an active MLflow run (tracking disabled in
``conf/<env>/mlflow.yml``) nothing is logged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from s2kd.hooks import flatten


@contextmanager
def model_run(name: str, params: Mapping[str, Any], tags: Mapping[str, str] | None = None) -> Iterator[Any]:
    """A nested MLflow run named ``name`` with ``params`` logged; yields a Lightning ``MLFlowLogger``
    writing into it, or ``None`` when no MLflow run is active."""
    import mlflow

    if mlflow.active_run() is None:
        yield None
        return
    from pytorch_lightning.loggers import MLFlowLogger

    with mlflow.start_run(run_name=name, nested=True, tags=dict(tags or {})) as run:
        mlflow.log_params(flatten(params))
        yield MLFlowLogger(run_id=run.info.run_id, tracking_uri=mlflow.get_tracking_uri(), log_model=False)


def log_final(metrics: Mapping[str, float], config: Mapping[str, Any] | None = None) -> None:
    """Log final metrics (and the model config as ``config.json``) to the active nested run, if any."""
    import mlflow

    if mlflow.active_run() is None:
        return
    mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
    if config is not None:
        mlflow.log_dict(dict(config), "config.json")


def log_to_run(run_id: str | None, metrics: Mapping[str, float], artifacts: Mapping[str, str] | None = None) -> bool:
    """Add metrics (and local files as artifacts, ``{path: artifact_dir}``) to an existing run, e.g. a
    trained model's run found in its ``meta["mlflow_run_id"]``. Returns False (and does nothing)
    without an active tracking run or a run id, or when the store does not hold that run."""
    import mlflow

    if run_id is None or mlflow.active_run() is None:
        return False
    client = mlflow.tracking.MlflowClient()
    try:
        client.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        return False
    for key, value in metrics.items():
        client.log_metric(run_id, key, float(value))
    for path, folder in (artifacts or {}).items():
        client.log_artifact(run_id, path, folder)
    return True


def log_text(text: str, artifact_file: str) -> bool:
    """Store ``text`` as an artifact of the active run (e.g. ``report/report.html``); False without one."""
    import mlflow

    if mlflow.active_run() is None:
        return False
    mlflow.log_text(text, artifact_file)
    return True
