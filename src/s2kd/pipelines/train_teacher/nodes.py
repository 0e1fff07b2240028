"""Nodes of the ``train_teacher`` pipeline: one per teacher role, each training its teacher with
Lightning inside its own nested MLflow run (:mod:`s2kd.recipes.jobs`), and the validation table."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd
import xarray as xr

from s2kd.data.params import LoadingParams
from s2kd.data.windows import series_source
from s2kd.recipes.forecast import data_signature
from s2kd.recipes.jobs import model_payload, teacher_job
from s2kd.recipes.params import TeacherParams
from s2kd.tracking import train_tracked
from s2kd.training.methods import TEACHERS
from s2kd.training.trainer import TrainerParams

logger = logging.getLogger(__name__)


def teacher_node(role: str) -> Callable[..., tuple[dict[str, Any], dict[str, Any]]]:
    """The node function that trains the teacher of ``role`` (:data:`s2kd.training.methods.TEACHERS`)."""
    spec = TEACHERS[role]
    name = f"teacher_{role}"

    def train_teacher(series: xr.Dataset, sample_index: pd.DataFrame, normalisation_stats: dict[str, Any],
                      params: TeacherParams, trainer: TrainerParams, loading: LoadingParams,
                      narrative_embeddings: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Train one teacher; returns ``(model, summary)``: the model as ``{"kind", "config",
        "state_dict", "meta"}`` and its row of the validation table."""
        job = teacher_job(series_source(series, loading), sample_index, normalisation_stats, narrative_embeddings,
                          params, trainer, name=name, use_text=spec.use_text, shuffle_text=spec.shuffle_text,
                          loading=loading)
        result = train_tracked(job, trainer)
        summary = job.summary(result, use_text=spec.use_text, shuffled_text=spec.shuffle_text,  # who wrote its text
                              narrator=job.tags["narrator"], narrate_mode=job.tags["narrate_mode"])
        logger.info("%s: best val MSE %.5f after %d epochs (%.0f s)", name, summary["best_val_mse"],
                    summary["epochs"], result["seconds"])
        meta = {**summary, "mlflow_run_id": result["mlflow_run_id"], "data": data_signature(normalisation_stats)}
        if spec.shuffle_text:
            meta["text_shuffle_seed"] = params.seed
        return model_payload("teacher", job.model, meta), summary

    train_teacher.__name__ = train_teacher.__qualname__ = f"train_{name}"
    return train_teacher


def summarise_teachers(**summaries: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float]]:
    """The validation table of the teachers, and its MSEs as metrics of the pipeline's MLflow run;
    with the vision teacher among them, each text-reading teacher's gain over it (``text_gain``)."""
    table = pd.DataFrame(list(summaries.values()))
    metrics = {f"{row.model}.best_val_mse": float(row.best_val_mse) for row in table.itertuples()}
    by_model = table.set_index("model")["best_val_mse"]
    if "teacher_vision" in by_model:
        vision = float(by_model["teacher_vision"])
        for name, key in (("teacher_multimodal", "text_gain"), ("teacher_shuffled", "shuffled_text_gain")):
            if name in by_model:
                metrics[key] = 1.0 - float(by_model[name]) / vision
                logger.info("%s %.5f vs vision %.5f (%+.1f%%)", name, by_model[name], vision, -100 * metrics[key])
    return table, metrics
