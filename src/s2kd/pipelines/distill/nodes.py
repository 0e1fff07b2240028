"""Nodes of the ``distill`` pipeline: for each requested method, train the same student on the same
windows with the same seed and budget, the method's loss terms computed against the frozen teacher's
cached outputs; return the students (without their projectors) and a validation table."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from s2kd.errors import InputError
from s2kd.models import build_model, build_student, config_to_dict
from s2kd.models.blocks import count_parameters
from s2kd.models.presets import preset_configs
from s2kd.models.projector import Projector
from s2kd.pipelines.distill.params import DistillParams
from s2kd.pipelines.runs import (
    fingerprint,
    model_payload,
    state_arrays,
    subsample,
    train_in_run,
    window_dataset,
)
from s2kd.pipelines.train_teacher.nodes import teacher_embeddings
from s2kd.training.distill import DistillationLoss, TeacherTargets, cache_teacher_targets
from s2kd.training.methods import METHODS, method_weights

logger = logging.getLogger(__name__)

TEACHER_ENTRIES = {"multimodal": "teacher_multimodal", "vision": "teacher_vision", "shuffled": "teacher_shuffled"}


def _teacher_payloads(multimodal: dict[str, Any], vision: dict[str, Any], ablations: dict[str, dict[str, Any]],
                      wanted: list[str]) -> dict[str, dict[str, Any]]:
    available = {"multimodal": multimodal, "vision": vision, "shuffled": ablations.get("teacher_shuffled")}
    for role in wanted:
        if available[role] is None:
            raise InputError(
                "teacher_ablations", f"holds no {TEACHER_ENTRIES[role]} (it has {sorted(ablations) or 'nothing'})",
                "train it: `kedro run --pipeline train_teacher --params \"distill.methods=[s2kd_shuffled_text]\"` "
                "(train_teacher trains the shuffled-text teacher when distill.methods lists s2kd_shuffled_text)")
    return {role: available[role] for role in wanted}


def teacher_targets(payload: dict[str, Any], values: np.ndarray, rows: list[pd.DataFrame], index: pd.DataFrame,
                    embeddings: dict[str, Any] | None, *, t_in: int, t_out: int, batch_size: int) -> TeacherTargets:
    """The frozen teacher of ``payload`` run once over the windows of ``rows``, reading the narratives it
    was trained with."""
    teacher = build_model(payload["kind"], payload["config"])
    teacher.load_state_dict(payload["state_dict"])
    emb = teacher_embeddings(embeddings, index, payload.get("meta") or {}) if teacher.uses_text else None
    if teacher.uses_text and emb is None:
        raise InputError("narrative_embeddings", "are missing", "run `kedro run --pipeline narrate` first")
    sets = [window_dataset(values, r, t_in=t_in, t_out=t_out, embeddings=emb) for r in rows]
    return cache_teacher_targets(teacher, sets, batch_size=batch_size)


def distill_students(
    series: xr.Dataset, sample_index: pd.DataFrame, normalisation_stats: dict[str, Any],
    narrative_embeddings: dict[str, Any] | None, teacher_multimodal: dict[str, Any], teacher_vision: dict[str, Any],
    teacher_ablations: dict[str, dict[str, Any]], params: dict[str, Any],
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Train one student per method of ``params["methods"]``.

    Every student starts from the same seeded initialisation and sees the same windows in the same
    order for the same number of epochs; only the loss differs. The teachers run once, frozen, over
    the training and validation windows (:func:`s2kd.training.distill.cache_teacher_targets`).

    Returns:
        ``(students, summaries)``: ``{method: {"kind", "config", "state_dict", "meta"}}`` (the
        projector is not part of a student) and one summary row per student.
    """
    p = DistillParams.from_dict(params)  # every parameter checked before any work
    t_in, t_out = int(normalisation_stats["t_in"]), int(normalisation_stats["t_out"])
    _, student_cfg = preset_configs(p.preset, in_channels=len(normalisation_stats["channels"]), t_in=t_in, t_out=t_out,
                                    backbone=p.backbone)
    student_cfg = dataclasses.replace(student_cfg, **p.student)
    teachers = _teacher_payloads(teacher_multimodal, teacher_vision, teacher_ablations or {}, p.teachers())
    values = np.asarray(series["series"].values, dtype=np.float32)  # (time, C, H, W) in memory for speed
    train_rows = subsample(sample_index, "train", p.max_train_samples)
    val_rows = subsample(sample_index, "val", p.max_val_samples)
    train_set = window_dataset(values, train_rows, t_in=t_in, t_out=t_out, embeddings=None)
    val_set = window_dataset(values, val_rows, t_in=t_in, t_out=t_out, embeddings=None)

    targets: dict[str, TeacherTargets] = {}
    for role, payload in teachers.items():
        logger.info("distill: caching the frozen %s teacher's latents over %d train + %d val windows", role,
                    len(train_rows), len(val_rows))
        targets[role] = teacher_targets(payload, values, [train_rows, val_rows], sample_index, narrative_embeddings,
                                        t_in=t_in, t_out=t_out, batch_size=p.cache_batch_size)

    students, summaries = {}, []
    for number, method in enumerate(p.methods, start=1):
        spec = METHODS[method]
        weights = method_weights(method, beta=p.beta, lam=p.lam, gamma=p.gamma)
        torch.manual_seed(p.trainer.seed)
        student = build_student(student_cfg)
        teacher_d = int(teachers[spec.teacher]["config"]["d"]) if spec.teacher else student_cfg.d
        loss = DistillationLoss(
            weights=weights, targets=targets.get(spec.teacher) if spec.teacher else None, student_d=student_cfg.d,
            teacher_d=teacher_d, projector=Projector(student_cfg.d, teacher_d, p.projector),
            cutoff=p.cutoff, alpha=p.alpha, semantic_kind=p.semantic, amplitude_only=p.amplitude_only,
            spectral_on=p.spectral_on)
        run_params = {
            "model": f"student_{method}", "method": method, "kind": "student", "teacher": spec.teacher or "none",
            "loss": loss.composite.formula(), "beta": weights.get("sem", 0.0), "lambda": weights.get("spec", 0.0),
            "gamma": weights.get("out", 0.0), "alpha": p.alpha, "r_c": p.cutoff, "semantic": p.semantic,
            "amplitude_only": p.amplitude_only, "spectral_on": p.spectral_on, "projector": p.projector, "backbone": p.backbone, "preset": p.preset,
            "parameters": count_parameters(student), "config": config_to_dict(student_cfg), "seed": p.trainer.seed,
            "train_windows": len(train_rows), "val_windows": len(val_rows), "lr": p.lr, "batch_size": p.batch_size,
            "weight_decay": p.weight_decay, "trainer": dataclasses.asdict(p.trainer), "dataset": params.get("dataset"),
        }
        teacher_state = state_arrays(teachers[spec.teacher]["state_dict"]) if spec.teacher else ()
        digest = fingerprint(run_params, normalisation_stats, train_rows, val_rows, arrays=teacher_state)
        checkpoint_dir = Path(p.checkpoint_dir) / f"student_{method}-{digest}"
        logger.info("distill %d/%d: %s, %s", number, len(p.methods), method, run_params["loss"])
        result = train_in_run(
            student, name=f"student_{method}", kind="student", run_params=run_params,
            tags={"s2kd.method": method}, settings=p.trainer, train_set=train_set, val_set=val_set,
            batch_size=p.batch_size, lr=p.lr, weight_decay=p.weight_decay, checkpoint_dir=checkpoint_dir, loss=loss)
        trained_now = int(result.get("epochs_trained_now", result["epochs_run"]))
        summary = {"method": method, "teacher": spec.teacher or "", "beta": run_params["beta"],
                   "lambda": run_params["lambda"], "gamma": run_params["gamma"], "alpha": p.alpha, "r_c": p.cutoff,
                   "backbone": p.backbone, "best_val_mse": float(result["best_val_mse"]),
                   "epochs": int(result["epochs_run"]),
                   "epochs_trained_now": trained_now, "parameters": run_params["parameters"],
                   "seconds": round(result["seconds"], 1),
                   "seconds_per_epoch": round(result["seconds"] / trained_now, 2) if trained_now else float("nan")}
        logger.info("student_%s: best val MSE %.5f after %d epochs (%.0f s)", method, summary["best_val_mse"],
                    summary["epochs"], result["seconds"])
        students[method] = model_payload(student_cfg.backbone, student, {**summary, "loss": run_params["loss"],
                                                                         "mlflow_run_id": result["mlflow_run_id"]})
        summaries.append(summary)
    return students, summaries


def summarise_students(summaries: list[dict[str, Any]]) -> tuple[pd.DataFrame, dict[str, float]]:
    """The validation table of the students and its MSEs (``<method>.best_val_mse``) as metrics of the
    pipeline's MLflow run; with a plain ``student`` among them, each method's gain over it."""
    table = pd.DataFrame(summaries)
    metrics = {f"{row.method}.best_val_mse": float(row.best_val_mse) for row in table.itertuples()}
    if "student" in set(table["method"]):
        base = float(table.set_index("method").loc["student", "best_val_mse"])
        table["vs_student"] = table["best_val_mse"] / base - 1.0
        metrics.update({f"{row.method}.vs_student": float(row.vs_student) for row in table.itertuples()
                        if row.method != "student"})
    for row in table.itertuples():
        logger.info("%-20s val MSE %.5f", row.method, row.best_val_mse)
    return table, metrics
