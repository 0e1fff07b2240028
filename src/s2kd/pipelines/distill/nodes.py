"""Nodes of the ``distill`` pipeline: one per method, each training its student against the frozen
teacher's cached outputs (:mod:`s2kd.recipes.jobs`) once the teacher is checked against the plain
student (:mod:`s2kd.recipes.teacher_check`), and the validation table of the students."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from s2kd.data.params import LoadingParams
from s2kd.data.windows import series_source
from s2kd.recipes.forecast import data_signature
from s2kd.recipes.jobs import model_payload, student_job
from s2kd.recipes.params import DistillParams
from s2kd.recipes.teacher_check import check_teacher, verdict
from s2kd.tracking import train_tracked
from s2kd.training.methods import METHODS
from s2kd.training.trainer import TrainerParams

logger = logging.getLogger(__name__)

#: the columns a student adds to its validation row
_COLUMNS = ("method", "teacher", "beta", "lambda", "gamma", "alpha", "r_c", "backbone")


def student_node(method: str) -> Callable[..., tuple[dict[str, Any], dict[str, Any]]]:
    """The node function that trains the student of ``method`` (:data:`s2kd.training.methods.METHODS`)."""

    def train_student(series: xr.Dataset, sample_index: pd.DataFrame, normalisation_stats: dict[str, Any],
                      params: DistillParams, trainer: TrainerParams, loading: LoadingParams,
                      teacher: dict[str, Any] | None = None, narrative_embeddings: dict[str, Any] | None = None,
                      baseline: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Train one student; returns ``(model, summary)``: the student as ``{"kind", "config",
        "state_dict", "meta"}`` (the training-only projector is not part of it) and its validation row.
        A method with a teacher first checks it against the plain student's row (``baseline``)."""
        check: dict[str, Any] = {}
        if teacher is not None:
            teacher_name = f"teacher_{METHODS[method].teacher}"
            check = check_teacher(teacher.get("meta") or {}, baseline, teacher=teacher_name)
            if check["teacher_beats_student"]:
                logger.info("student_%s: %s", method, verdict(check, teacher_name))
            else:
                logger.warning("student_%s: %s: distilling it can only pull the student towards worse forecasts%s",
                               method, verdict(check, teacher_name),
                               "; skipped (distill.skip_weak_teachers)" if params.skip_weak_teachers else
                               " (set distill.skip_weak_teachers: true to skip such methods)")
                if params.skip_weak_teachers:
                    return _skipped(method, teacher_name, check)
        job = student_job(series_source(series, loading), sample_index, normalisation_stats, params, trainer,
                          method=method, teacher=teacher, embeddings=narrative_embeddings, loading=loading)
        job.tags.update({f"s2kd.{k}": str(v) for k, v in check.items()})
        logger.info("%s: %s", job.name, job.run_params["loss"])
        result = train_tracked(job, trainer)
        summary = job.summary(result, **{k: job.run_params[k] for k in _COLUMNS}, **check, skipped=False)
        logger.info("%s: best val MSE %.5f after %d epochs (%.0f s)", job.name, summary["best_val_mse"],
                    summary["epochs"], result["seconds"])
        meta = {**summary, "loss": job.run_params["loss"], "mlflow_run_id": result["mlflow_run_id"],
                "data": data_signature(normalisation_stats)}
        return model_payload(job.model.config.backbone, job.model, meta), summary

    train_student.__name__ = train_student.__qualname__ = f"train_student_{method}"
    return train_student


def _skipped(method: str, teacher: str, check: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a method skipped for its weak teacher leaves: a marker model (no weights; ``evaluate``
    passes over it) and a row that says why."""
    row = {"model": f"student_{method}", "method": method, "teacher": teacher, "best_val_mse": float("nan"),
           **check, "skipped": True}
    return {"kind": "skipped", "config": {}, "state_dict": {}, "meta": row}, row


def summarise_students(**summaries: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float]]:
    """The validation table of the students and its MSEs (``<method>.best_val_mse``) as metrics of the
    pipeline's MLflow run; with a plain ``student`` among them, each method's change against it."""
    table = pd.DataFrame(list(summaries.values()))
    metrics = {f"{row.method}.best_val_mse": float(row.best_val_mse) for row in table.itertuples()
               if row.best_val_mse == row.best_val_mse}
    if "teacher_beats_student" in table:
        for row in table[table["teacher_beats_student"].notna()].itertuples():
            metrics[f"{row.method}.teacher_beats_student"] = float(bool(row.teacher_beats_student))
    if "student" in set(table["method"]):
        base = float(table.set_index("method").loc["student", "best_val_mse"])
        table["vs_student"] = table["best_val_mse"] / base - 1.0
        metrics.update({f"{row.method}.vs_student": float(row.vs_student) for row in table.itertuples()
                        if row.method != "student"})
    for row in table.itertuples():
        flag = getattr(row, "teacher_beats_student", None)
        weak = isinstance(flag, (bool, np.bool_)) and not flag
        logger.info("%-20s val MSE %.5f%s", row.method, row.best_val_mse,
                    f"  (teacher not better than the plain student{', skipped' if row.skipped else ''})"
                    if weak else "")
    return table, metrics
