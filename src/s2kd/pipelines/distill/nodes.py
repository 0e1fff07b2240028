"""Nodes of the ``distill`` pipeline: one per method, each training its student against the frozen
teacher's cached outputs (:mod:`s2kd.recipes.jobs`), and the validation table of the students."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd
import xarray as xr

from s2kd.data.windows import series_array
from s2kd.recipes.jobs import model_payload, student_job
from s2kd.recipes.params import DistillParams
from s2kd.tracking import train_tracked
from s2kd.training.trainer import TrainerParams

logger = logging.getLogger(__name__)

#: the columns a student adds to its validation row
_COLUMNS = ("method", "teacher", "beta", "lambda", "gamma", "alpha", "r_c", "backbone")


def student_node(method: str) -> Callable[..., tuple[dict[str, Any], dict[str, Any]]]:
    """The node function that trains the student of ``method`` (:data:`s2kd.training.methods.METHODS`)."""

    def train_student(series: xr.Dataset, sample_index: pd.DataFrame, normalisation_stats: dict[str, Any],
                      params: DistillParams, trainer: TrainerParams, teacher: dict[str, Any] | None = None,
                      narrative_embeddings: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Train one student; returns ``(model, summary)``: the student as ``{"kind", "config",
        "state_dict", "meta"}`` (the training-only projector is not part of it) and its validation row."""
        job = student_job(series_array(series), sample_index, normalisation_stats, params, trainer, method=method,
                          teacher=teacher, embeddings=narrative_embeddings)
        logger.info("%s: %s", job.name, job.run_params["loss"])
        result = train_tracked(job, trainer)
        summary = job.summary(result, **{k: job.run_params[k] for k in _COLUMNS})
        logger.info("%s: best val MSE %.5f after %d epochs (%.0f s)", job.name, summary["best_val_mse"],
                    summary["epochs"], result["seconds"])
        meta = {**summary, "loss": job.run_params["loss"], "mlflow_run_id": result["mlflow_run_id"]}
        return model_payload(job.model.config.backbone, job.model, meta), summary

    train_student.__name__ = train_student.__qualname__ = f"train_student_{method}"
    return train_student


def summarise_students(**summaries: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float]]:
    """The validation table of the students and its MSEs (``<method>.best_val_mse``) as metrics of the
    pipeline's MLflow run; with a plain ``student`` among them, each method's change against it."""
    table = pd.DataFrame(list(summaries.values()))
    metrics = {f"{row.method}.best_val_mse": float(row.best_val_mse) for row in table.itertuples()}
    if "student" in set(table["method"]):
        base = float(table.set_index("method").loc["student", "best_val_mse"])
        table["vs_student"] = table["best_val_mse"] / base - 1.0
        metrics.update({f"{row.method}.vs_student": float(row.vs_student) for row in table.itertuples()
                        if row.method != "student"})
    for row in table.itertuples():
        logger.info("%-20s val MSE %.5f", row.method, row.best_val_mse)
    return table, metrics
