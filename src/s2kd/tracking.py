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

from s2kd.datasets.atomic import temporary_name
from s2kd.models import config_to_dict
from s2kd.recipes.jobs import TrainingJob
from s2kd.training.trainer import TrainerParams, folder_lock

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
    Runs of other hosts, and runs without the tag, are left alone. Logged models such a run left
    ``PENDING`` are marked ``FAILED``. Returns the ids of the runs marked."""
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
    _fail_abandoned_models(client, experiments)
    return closed


def _fail_abandoned_models(client: Any, experiments: list[str]) -> None:
    """Mark ``FAILED`` the logged models left ``PENDING`` by a run that no longer runs (killed while its
    model's files were being written): nobody will finish them."""
    import mlflow
    from mlflow.entities import LoggedModelStatus

    for i in range(0, len(experiments), 100):  # (a filter on status matches nothing in MLflow 3.17's SQL store)
        for model in mlflow.search_logged_models(experiment_ids=experiments[i:i + 100], output_format="list"):
            if model.status != LoggedModelStatus.PENDING or not model.source_run_id:
                continue
            if client.get_run(model.source_run_id).info.status != "RUNNING":
                client.finalize_logged_model(model.model_id, "FAILED")


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


#: beside a model's checkpoints: the MLflow run that trains it, continued when the training is resumed
RUN_FILE = "mlflow_run.json"


def _resumable_run(checkpoint_dir: Path | None, shared: Mapping[str, str]) -> str | None:
    """The run id in ``checkpoint_dir``'s :data:`RUN_FILE` when that run can be continued: it is in the
    active experiment, no process is running it, and it was logged under the same ``dataset``,
    ``kedro.env`` and ``commit`` as the run now active. A model trained (or resumed) by a ``kedro run``
    killed and started again then stays one run, not one per attempt; the same checkpoint met by
    another dataset's or commit's run (a benchmark sharing its checkpoints) gets a run of its own."""
    import json

    import mlflow

    path = None if checkpoint_dir is None else Path(checkpoint_dir) / RUN_FILE
    if path is None or not path.exists():
        return None
    try:
        run_id = json.loads(path.read_text())["run_id"]
        run = mlflow.tracking.MlflowClient().get_run(run_id)
    except (ValueError, KeyError, TypeError, mlflow.exceptions.MlflowException):
        return None  # unreadable, or not in this tracking store: a new run
    same = all(run.data.tags.get(k) == shared.get(k) for k in ("dataset", "kedro.env", "commit"))
    active = mlflow.active_run().info.experiment_id
    return run_id if same and run.info.experiment_id == active and run.info.status != "RUNNING" else None


def _remember_run(checkpoint_dir: Path | None, run_id: str) -> None:
    """Write :data:`RUN_FILE` (a temporary renamed into place: a kill leaves the old file or the new)."""
    import json

    if checkpoint_dir is None:
        return
    path = Path(checkpoint_dir) / RUN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    tmp.write_text(json.dumps({"run_id": run_id}))
    os.replace(tmp, path)


@contextmanager
def model_run(name: str, params: Mapping[str, Any], tags: Mapping[str, str] | None = None,
              checkpoint_dir: Path | None = None) -> Iterator[Any]:
    """A nested MLflow run named ``name`` with ``params`` logged; yields a Lightning ``MLFlowLogger``
    writing into it, or ``None`` when no MLflow run is active. With ``checkpoint_dir``, the run a killed
    attempt left there is continued (:func:`_resumable_run`) and moved under the active run."""
    import mlflow

    if mlflow.active_run() is None:
        yield None
        return
    from pytorch_lightning.loggers import MLFlowLogger

    parent_id = mlflow.active_run().info.run_id
    parent = mlflow.get_run(parent_id).data.tags
    inherited = {k: parent[k] for k in SHARED_TAGS if k in parent}
    resumed = _resumable_run(checkpoint_dir, inherited)
    if resumed is not None:
        run_context = mlflow.start_run(run_id=resumed, nested=True)
    else:
        run_context = mlflow.start_run(run_name=name, nested=True, tags={**inherited, **(tags or {})})
    with run_context as run:
        if resumed is not None:  # the process and parent of this attempt
            mlflow.set_tags({**inherited, **(tags or {}), "mlflow.parentRunId": parent_id})
        else:
            mlflow.log_params(flatten(params))
            _remember_run(checkpoint_dir, run.info.run_id)
        yield MLFlowLogger(run_id=run.info.run_id, tracking_uri=mlflow.get_tracking_uri(), log_model=False)


def train_tracked(job: TrainingJob, trainer: TrainerParams) -> dict[str, Any]:
    """Train ``job`` inside its own nested MLflow run: its ``run_params``, the per-epoch curves,
    ``best_val_mse`` and ``train_seconds``, and the model config as ``config.json``. A training resumed
    from its checkpoints after a kill continues the run of the killed attempt (one run per model).

    Returns:
        The job's summary (:meth:`TrainingJob.fit`) plus ``mlflow_run_id`` (``None`` without
        tracking), which the model's ``meta`` keeps so that ``evaluate`` logs test metrics to the
        same run.
    """
    import mlflow

    tags = {"model": job.name, "role": job.kind, "seed": str(job.run_params.get("seed", "")), **job.tags}
    with folder_lock(job.checkpoint_dir, job.name), \
            model_run(job.name, job.run_params, tags=tags, checkpoint_dir=job.checkpoint_dir) as mlf:
        result = job.fit(trainer, logger=mlf)
        if mlf is not None:  # train_seconds: of the attempt that trained (a finished model found again keeps it)
            logged = mlflow.get_run(mlf.run_id).data.metrics
            seconds = {"train_seconds": result["seconds"]} \
                if result["epochs_trained_now"] or "train_seconds" not in logged else {}
            mlflow.log_metrics({"best_val_mse": float(result["best_val_mse"]), **seconds})
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
