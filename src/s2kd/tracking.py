"""MLflow for the Kedro layer: one nested MLflow run per trained model, and the small helpers the
hook and the nodes share.

Library code (``s2kd.training``) takes a Lightning logger and knows nothing of MLflow; the nodes
train a :class:`~s2kd.recipes.jobs.TrainingJob` through :func:`train_tracked`, which opens the
model's nested run and hands its logger down. Without an active MLflow run (tracking disabled in
``conf/<env>/mlflow.yml``) nothing is logged.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from s2kd.models import config_to_dict
from s2kd.recipes.jobs import TrainingJob
from s2kd.training.trainer import TrainerParams

MAX_PARAM_LENGTH = 6000
#: MLflow 3's experiment kind for model training: the UI opens such an experiment on its runs table
#: (an experiment without it may open on the GenAI overview of traces)
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
#: the tags of a ``kedro run``'s run that each model's nested run repeats, to filter and group by
SHARED_TAGS = ("dataset", "commit", "kedro.env", "s2kd.process")
PROCESS_TAG = "s2kd.process"
#: each scored model's per-test-window MSE, an artifact of its run (the unit of the benchmark's intervals)
WINDOW_ERRORS_ARTIFACT = "evaluation/window_errors.parquet"


def use_experiment(name: str) -> None:
    """Make ``name`` the active experiment (created if new), of the kind that opens on its runs."""
    import mlflow

    experiment = mlflow.set_experiment(name)
    key, kind = EXPERIMENT_KIND
    if experiment.tags.get(key) != kind:
        mlflow.tracking.MlflowClient().set_experiment_tag(experiment.experiment_id, key, kind)


def commit(project: Path) -> str:
    """The project's git commit (``-dirty`` when the tree has uncommitted changes), ``unknown`` outside git."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=project,
                             capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks after boot, from ``/proc``); None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_tag(pid: int | None = None) -> str:
    """``host:pid:start``: which process a run belongs to, so that a later run can tell it has died."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_started(pid) or '?'}"


def close_dead_runs() -> list[str]:
    """Mark ``KILLED`` every ``RUNNING`` run of the store whose process (``s2kd.process`` tag) was on
    this host and no longer exists: a ``kedro run`` killed with SIGKILL could not end its runs itself.
    Runs of other hosts, and runs without the tag, are left alone. Returns the ids marked."""
    import mlflow

    client = mlflow.tracking.MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    host = socket.gethostname()
    closed = []
    for i in range(0, len(experiments), 100):  # search_runs takes at most 100 experiments
        for run in client.search_runs(experiments[i:i + 100], "attributes.status = 'RUNNING'", max_results=5000):
            owner = run.data.tags.get(PROCESS_TAG, "").split(":")
            if len(owner) != 3 or owner[0] != host or not owner[1].isdigit():
                continue
            if _started(int(owner[1])) != owner[2]:
                client.set_terminated(run.info.run_id, "KILLED")
                closed.append(run.info.run_id)
    return closed


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``, values as strings cut to MLflow's limit."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)[:MAX_PARAM_LENGTH]
    return out


def plain(value: Any) -> Any:
    """A parameter group as plain data: a typed model's values under their YAML names, else as is."""
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


@contextmanager
def model_run(name: str, params: Mapping[str, Any], tags: Mapping[str, str] | None = None) -> Iterator[Any]:
    """A nested MLflow run named ``name`` with ``params`` logged; yields a Lightning ``MLFlowLogger``
    writing into it, or ``None`` when no MLflow run is active."""
    import mlflow

    if mlflow.active_run() is None:
        yield None
        return
    from pytorch_lightning.loggers import MLFlowLogger

    parent = mlflow.get_run(mlflow.active_run().info.run_id).data.tags
    inherited = {k: parent[k] for k in SHARED_TAGS if k in parent}
    with mlflow.start_run(run_name=name, nested=True, tags={**inherited, **(tags or {})}) as run:
        mlflow.log_params(flatten(params))
        yield MLFlowLogger(run_id=run.info.run_id, tracking_uri=mlflow.get_tracking_uri(), log_model=False)


def train_tracked(job: TrainingJob, trainer: TrainerParams) -> dict[str, Any]:
    """Train ``job`` inside its own nested MLflow run: its ``run_params``, the per-epoch curves,
    ``best_val_mse`` and ``train_seconds``, and the model config as ``config.json``.

    Returns:
        The job's summary (:meth:`TrainingJob.fit`) plus ``mlflow_run_id`` (``None`` without
        tracking), which the model's ``meta`` keeps so that ``evaluate`` logs test metrics to the
        same run.
    """
    import mlflow

    tags = {"model": job.name, "role": job.kind, "seed": str(job.run_params.get("seed", "")), **job.tags}
    with model_run(job.name, job.run_params, tags=tags) as mlf:
        result = job.fit(trainer, logger=mlf)
        if mlf is not None:
            mlflow.log_metrics({"best_val_mse": float(result["best_val_mse"]), "train_seconds": result["seconds"]})
            mlflow.log_dict(config_to_dict(job.model.config), "config.json")
    return {**result, "mlflow_run_id": mlf.run_id if mlf is not None else None}


def log_to_run(run_id: str | None, metrics: Mapping[str, float], tables: Mapping[str, Any] | None = None) -> bool:
    """Add metrics (and pandas tables as Parquet artifacts, ``{"evaluation/x.parquet": frame}``) to an
    existing run, e.g. a trained model's run found in its ``meta["mlflow_run_id"]``. Returns False (and
    does nothing) without an active tracking run or a run id, or when the store does not hold that run."""
    import tempfile

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
    for name, frame in (tables or {}).items():
        folder, _, file = name.rpartition("/")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / file
            frame.to_parquet(path, index=False)
            client.log_artifact(run_id, str(path), folder or None)
    return True


def log_text(text: str, artifact_file: str) -> bool:
    """Store ``text`` as an artifact of the active run (e.g. ``report/report.html``); False without one."""
    import mlflow

    if mlflow.active_run() is None:
        return False
    mlflow.log_text(text, artifact_file)
    return True
