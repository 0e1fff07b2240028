"""Nodes of the ``train_teacher`` pipeline: build a teacher from a preset, train it with Lightning
inside its own nested MLflow run, and return it as plain data (kind, config, state_dict)."""

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
from s2kd.models import build_model, config_to_dict
from s2kd.models.blocks import count_parameters
from s2kd.models.presets import preset_configs
from s2kd.narrators.embedding import check_embeddings, shuffle_within_splits
from s2kd.pipelines.runs import (
    fingerprint,
    model_payload,
    subsample,
    train_in_run,
    window_dataset,
)
from s2kd.pipelines.train_teacher.params import TeacherParams
from s2kd.training.methods import method_list

logger = logging.getLogger(__name__)


def _embeddings(embeddings: dict[str, Any], index: pd.DataFrame, *, shuffle: bool, seed: int) -> dict[str, Any]:
    if not shuffle:
        return embeddings
    ids = embeddings["sample_id"]
    splits = index.set_index("sample_id").loc[ids, "split"].to_numpy()
    perm = shuffle_within_splits(splits, seed)
    return {**embeddings, "tokens": embeddings["tokens"][perm], "mask": embeddings["mask"][perm]}


def teacher_embeddings(embeddings: dict[str, Any] | None, index: pd.DataFrame, meta: dict[str, Any]) -> dict[str, Any] | None:
    """The narratives a trained teacher reads: none, the real ones, or the same shuffle it was trained on
    (``meta["text_shuffle_seed"]``)."""
    if embeddings is None:
        return None
    check_embeddings(embeddings)
    seed = meta.get("text_shuffle_seed")
    return _embeddings(embeddings, index, shuffle=seed is not None, seed=int(seed or 0))


def train_teacher(
    series: xr.Dataset, sample_index: pd.DataFrame, normalisation_stats: dict[str, Any], embeddings: dict[str, Any] | None,
    params: dict[str, Any], *,
    name: str, use_text: bool, shuffle_text: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train one teacher.

    Args:
        series: the normalised series.
        sample_index: the sample index (train and val windows are used; test is never read).
        normalisation_stats: the ingest statistics (channels, ``t_in``, ``t_out``).
        embeddings: narrative token embeddings (``narrate``); unused by the vision teacher.
        params: the ``train_teacher`` parameter group.
        name: the model's name (``teacher_multimodal``, ``teacher_vision``, ``teacher_shuffled``).
        use_text: whether the teacher reads the narratives.
        shuffle_text: train on narratives permuted across samples (the ablation).

    Returns:
        ``(model, summary)``: the model as ``{"kind", "config", "state_dict", "meta"}`` and a row for
        the validation table.
    """
    p = TeacherParams.from_dict(params)  # every parameter checked before any work
    t_in, t_out = int(normalisation_stats["t_in"]), int(normalisation_stats["t_out"])
    teacher_cfg, _ = preset_configs(p.preset, in_channels=len(normalisation_stats["channels"]), t_in=t_in, t_out=t_out)
    config = dataclasses.replace(teacher_cfg, **p.teacher, use_text=use_text)
    settings = p.trainer
    values = np.asarray(series["series"].values, dtype=np.float32)  # (time, C, H, W) in memory for speed
    train_rows = subsample(sample_index, "train", p.max_train_samples)
    val_rows = subsample(sample_index, "val", p.max_val_samples)
    if use_text and embeddings is None:
        raise InputError("narrative_embeddings", "are missing", "run `kedro run --pipeline narrate` first")
    if use_text:
        check_embeddings(embeddings)
    emb = _embeddings(embeddings, sample_index, shuffle=shuffle_text, seed=settings.seed) if use_text else None
    torch.manual_seed(settings.seed)
    model = build_model("teacher", config)
    run_params = {"model": name, "kind": "teacher", "use_text": use_text, "shuffled_text": shuffle_text,
                  "preset": p.preset, "train_windows": len(train_rows), "val_windows": len(val_rows),
                  "parameters": count_parameters(model), "config": config_to_dict(config),
                  "lr": p.lr, "batch_size": p.batch_size, "trainer": p.trainer_options}
    digest = fingerprint(run_params, normalisation_stats, train_rows, val_rows,
                         arrays=(emb["tokens"], emb["mask"]) if emb is not None else ())
    checkpoint_dir = Path(p.checkpoint_dir) / f"{name}-{digest}"
    result = train_in_run(
        model, name=name, kind="teacher", run_params=run_params, tags={}, settings=settings,
        train_set=window_dataset(values, train_rows, t_in=t_in, t_out=t_out, embeddings=emb),
        val_set=window_dataset(values, val_rows, t_in=t_in, t_out=t_out, embeddings=emb),
        batch_size=p.batch_size, lr=p.lr, weight_decay=p.weight_decay, checkpoint_dir=checkpoint_dir)
    seconds = result["seconds"]
    summary = {"model": name, "use_text": use_text, "shuffled_text": shuffle_text, "best_val_mse": float(result["best_val_mse"]),
               "epochs": int(result["epochs_run"]),
               "epochs_trained_now": int(result.get("epochs_trained_now", result["epochs_run"])), "parameters": count_parameters(model), "train_windows": len(train_rows),
               "val_windows": len(val_rows), "seconds": round(seconds, 1), "checkpoint_dir": str(checkpoint_dir)}
    logger.info("%s: best val MSE %.5f after %d epochs (%.0f s)", name, summary["best_val_mse"], summary["epochs"], seconds)
    meta = {k: v for k, v in summary.items() if k != "checkpoint_dir"} | {"mlflow_run_id": result["mlflow_run_id"]}
    if shuffle_text:
        meta["text_shuffle_seed"] = settings.seed
    return model_payload("teacher", model, meta), summary


def train_multimodal_teacher(series, sample_index, normalisation_stats, narrative_embeddings, params):
    """The privileged teacher: frames + narratives."""
    return train_teacher(series, sample_index, normalisation_stats, narrative_embeddings, params,
                         name="teacher_multimodal", use_text=True)


def train_vision_teacher(series, sample_index, normalisation_stats, params):
    """The same network with text switched off."""
    return train_teacher(series, sample_index, normalisation_stats, None, params, name="teacher_vision", use_text=False)


def train_ablation_teachers(series, sample_index, normalisation_stats, narrative_embeddings, params,
                            distill_params, after: Any = None) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The teachers only an ablation needs, trained when ``distill.methods`` asks for that ablation:
    ``teacher_shuffled`` (narratives shuffled across the samples of each split) for
    ``s2kd_shuffled_text``. Returns ``({name: model}, [summary, ...])``, both empty when none is asked.
    ``after`` (the multimodal teacher's summary, unused) only orders this node after that one."""
    methods = method_list((distill_params or {}).get("methods"))
    if "s2kd_shuffled_text" not in methods:
        return {}, []
    model, summary = train_teacher(series, sample_index, normalisation_stats, narrative_embeddings, params,
                                   name="teacher_shuffled", use_text=True, shuffle_text=True)
    return {"teacher_shuffled": model}, [summary]


def summarise_teachers(multimodal: dict[str, Any], vision: dict[str, Any],
                       ablations: list[dict[str, Any]] | None = None) -> tuple[pd.DataFrame, dict[str, float]]:
    """The validation table of the teachers, and its MSEs as metrics of the pipeline's MLflow run."""
    summaries = [multimodal, vision, *(ablations or [])]
    table = pd.DataFrame([{k: v for k, v in s.items() if k != "checkpoint_dir"} for s in summaries])
    metrics = {f"{row.model}.best_val_mse": float(row.best_val_mse) for row in table.itertuples()}
    by_model = table.set_index("model")["best_val_mse"]
    mm, vis = float(by_model["teacher_multimodal"]), float(by_model["teacher_vision"])
    metrics["text_gain"] = 1.0 - mm / vis
    logger.info("teacher sanity check: multimodal %.5f vs vision %.5f (%+.1f%%)", mm, vis, -100 * metrics["text_gain"])
    if "teacher_shuffled" in by_model:
        metrics["shuffled_text_gain"] = 1.0 - float(by_model["teacher_shuffled"]) / vis
        logger.info("shuffled-text teacher %.5f (%+.1f%% vs vision)", by_model["teacher_shuffled"],
                    -100 * metrics["shuffled_text_gain"])
    return table, metrics
