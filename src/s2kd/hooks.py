"""The project's hooks: a catalog check before any node, and MLflow tracking of every run.

Parameters are checked by Kedro itself: each node declares the pydantic model of its
``params:<group>`` input (``params: DistillParams``), and Kedro builds every such group from the
configuration before the first node runs (:mod:`s2kd.params`). ``CatalogCheckHook`` likewise
refuses a run whose catalog lacks an entry the run reads or writes.

MLflow tracking for every ``kedro run`` goes through a small hook of our own.

Why not kedro-mlflow: with kedro 1.x and mlflow 3.x it needs a sqlite URI set by hand, a pickle
serialisation for torch models and flattened dict parameters, and it roughly doubled a run's
overhead here; what we need fits in this hook (see ``docs/tracking.md``).

One MLflow run per ``kedro run`` (named after the pipeline), tagged with the Kedro environment, run
id, dataset, git commit and process (runs left ``RUNNING`` by a killed process are marked ``KILLED``
when the next run starts); every parameter group a node receives (``params:<group>``) is logged flattened
(``ingest.synthetic.seed``). Training nodes open nested runs under it (:mod:`s2kd.tracking`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from kedro.framework.hooks import hook_impl

from s2kd.distributed import is_global_zero
from s2kd.errors import InputError
from s2kd.tracking import PROCESS_TAG, close_dead_runs, commit, flatten, plain, process_tag, use_experiment

logger = logging.getLogger(__name__)


class CatalogCheckHook:
    """Refuses a run whose catalog lacks an entry the run reads or writes, before its first node.

    Kedro would stop on a missing input itself, but a missing *output* entry silently becomes an
    in-memory dataset: the run would train for hours and keep nothing. Every output the run leaves
    behind must have an entry, except the ``*_metrics`` dicts, which go to MLflow.
    """

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        needed = [("reads", n) for n in sorted(pipeline.inputs()) if not n.startswith("params:") and n != "parameters"]
        needed += [("writes", n) for n in sorted(pipeline.outputs()) if not n.endswith("_metrics")]
        for verb, name in needed:
            if name not in catalog:
                fix = ("add the entry back to conf/base/catalog*.yml (or to your environment's catalog); "
                       "`git diff conf/` shows what changed")
                if verb == "reads":
                    fix += "; if it is an in-memory hand-over between nodes, start the run at the node that makes it"
                raise InputError(f"catalog entry '{name}'", f"is missing, and the run {verb} it", fix)


class MlflowTrackingHook:
    """Opens an MLflow run around each pipeline run and logs the parameters nodes receive.

    Configured by ``conf/<env>/mlflow.yml`` (``enabled``, ``tracking_uri``, ``experiment_name``);
    the ``MLFLOW_TRACKING_URI`` and ``MLFLOW_EXPERIMENT_NAME`` environment variables, when set, win
    over the file. In a distributed (DDP) run only the global rank 0 tracks.
    """

    def __init__(self) -> None:
        self._conf: dict[str, Any] = {}
        self._env = ""
        self._project: Any = "."
        self._dataset = ""
        self._logged: set[str] = set()
        self._active = False

    @hook_impl
    def after_context_created(self, context) -> None:
        try:
            self._conf = dict(context.config_loader["mlflow"])
        except KeyError:
            self._conf = {}
        self._env = context.env or ""
        self._project = context.project_path
        try:
            globals_ = dict(context.config_loader["globals"])
        except KeyError:
            globals_ = {}
        self._dataset = str(context.params.get("dataset") or globals_.get("dataset") or "")

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        if not self._conf.get("enabled", True) or not is_global_zero():
            return
        import mlflow

        uri = os.environ.get("MLFLOW_TRACKING_URI") or self._conf.get("tracking_uri", "sqlite:///mlflow.db")
        mlflow.set_tracking_uri(uri)
        closed = close_dead_runs()
        if closed:
            logger.warning("MLflow: %d run(s) of killed processes were still RUNNING: marked KILLED (%s)",
                           len(closed), ", ".join(closed))
        use_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME") or self._conf.get("experiment_name", "s2kd"))
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        name = "+".join(names)
        mlflow.start_run(run_name=f"kedro-{name}", tags={
            "kedro.env": run_params.get("env") or self._env or "local",
            "kedro.pipeline": name,
            "kedro.session_id": str(run_params.get("session_id") or run_params.get("run_id") or ""),
            "dataset": self._dataset, "commit": commit(self._project), PROCESS_TAG: process_tag(),
        })
        self._active, self._logged = True, set()
        logger.info("MLflow run %s in %s", mlflow.active_run().info.run_id, uri)

    @hook_impl
    def before_node_run(self, inputs: dict[str, Any]) -> None:
        if not self._active:
            return
        import mlflow

        for name, value in inputs.items():
            if name.startswith("params:") and name not in self._logged:
                group = name.removeprefix("params:")
                value = plain(value)
                flat = flatten(value, f"{group}.") if isinstance(value, Mapping) else {group: str(value)}
                fresh = {k: v for k, v in flat.items() if k not in self._logged}
                if fresh:
                    mlflow.log_params(fresh)
                self._logged |= {name, *fresh}

    @hook_impl
    def after_node_run(self, outputs: dict[str, Any], inputs: dict[str, Any]) -> None:
        if not self._active:
            return
        import mlflow

        if self._conf.get("log_models", True):
            self._log_students(outputs, inputs)

        for name, value in outputs.items():
            if name.endswith("_metrics") and isinstance(value, Mapping):
                numbers = {f"{name}.{k}": float(v) for k, v in value.items()
                           if isinstance(v, int | float) and not isinstance(v, bool)}
                if numbers:
                    mlflow.log_metrics(numbers)

    @staticmethod
    def _log_students(outputs: dict[str, Any], inputs: dict[str, Any]) -> None:
        """Each student a node saved, as an MLflow model in its own run, registered as
        ``s2kd-<dataset>-<method>`` (:mod:`s2kd.serving`; ``log_models: false`` in mlflow.yml: not)."""
        from s2kd.serving import example_frames, log_forecaster

        for name, payload in outputs.items():
            meta = (payload or {}).get("meta") if isinstance(payload, Mapping) else None
            if not name.startswith("student_") or not meta or not meta.get("mlflow_run_id") or \
                    not payload.get("state_dict") or "series" not in inputs:
                continue
            stats = inputs["normalisation_stats"]
            dataset = getattr(inputs.get("params:distill"), "dataset", "") or "default"
            uri = log_forecaster(meta["mlflow_run_id"], payload, stats,
                                 example_frames(inputs["series"], inputs["sample_index"], stats),
                                 registered_name=f"s2kd-{dataset}-{meta.get('method', name)}",
                                 transform_options=stats.get("transform_options"))
            logger.info("MLflow: %s logged as %s", name, uri)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._end("FINISHED")

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._end("FAILED")

    def _end(self, status: str) -> None:
        if self._active:
            import mlflow

            experiment = mlflow.active_run().info.experiment_id
            mlflow.end_run(status=status)
            self._active = False
            logger.info("MLflow: `mlflow ui --backend-store-uri %s`, then http://127.0.0.1:5000/#/experiments/%s/runs"
                        "?workflowType=machine_learning (docs/tracking.md)", mlflow.get_tracking_uri(), experiment)
