"""Nodes of the ``train_teacher`` pipeline: build a teacher from a preset, train it with Lightning
inside its own nested MLflow run, and return it as plain data (kind, config, state_dict)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from s2kd.data.windows import WindowDataset
from s2kd.errors import InputError, ParameterError
from s2kd.models import build_model, config_to_dict
from s2kd.models.blocks import count_parameters
from s2kd.models.presets import preset_configs
from s2kd.narrators.embedding import shuffle_within_splits
from s2kd.tracking import log_final, model_run
from s2kd.training.data import TextWindowDataset, make_loaders
from s2kd.training.module import ForecastModule
from s2kd.training.trainer import TrainerSettings, fit, make_trainer

logger = logging.getLogger(__name__)

TRAINER_KEYS = {f.name for f in dataclasses.fields(TrainerSettings)}


def _subsample(index: pd.DataFrame, split: str, limit: int | None) -> pd.DataFrame:
    """The windows of a split, at most ``limit`` of them evenly spaced in time."""
    rows = index[index["split"] == split]
    if limit is not None and len(rows) > limit:
        rows = rows.iloc[np.linspace(0, len(rows) - 1, int(limit)).round().astype(int)]
    return rows


def _embeddings(embeddings: dict[str, Any], index: pd.DataFrame, *, shuffle: bool, seed: int) -> dict[str, Any]:
    if not shuffle:
        return embeddings
    ids = embeddings["sample_id"]
    splits = index.set_index("sample_id").loc[ids, "split"].to_numpy()
    perm = shuffle_within_splits(splits, seed)
    return {**embeddings, "tokens": embeddings["tokens"][perm], "mask": embeddings["mask"][perm]}


def _fingerprint(run_params: dict[str, Any], stats: dict[str, Any], train_rows: pd.DataFrame, val_rows: pd.DataFrame,
                 embeddings: dict[str, Any] | None) -> str:
    """A short hash of everything a training run depends on, naming its checkpoint folder."""
    h = hashlib.sha256(json.dumps([run_params, stats], sort_keys=True, default=str).encode())
    for rows in (train_rows, val_rows):
        h.update(rows[["sample_id", "start"]].to_numpy().tobytes())
    if embeddings is not None:
        h.update(np.ascontiguousarray(embeddings["tokens"]).tobytes())
        h.update(np.ascontiguousarray(embeddings["mask"]).tobytes())
    return h.hexdigest()[:12]


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
    start = time.perf_counter()
    t_in, t_out = int(normalisation_stats["t_in"]), int(normalisation_stats["t_out"])
    teacher_cfg, _ = preset_configs(params.get("preset", "small"), in_channels=len(normalisation_stats["channels"]),
                                    t_in=t_in, t_out=t_out)
    overrides = dict(params.get("teacher") or {})
    bad = set(overrides) - {f.name for f in dataclasses.fields(teacher_cfg)}
    if bad:
        raise ParameterError("train_teacher.teacher", f"unknown option(s) {sorted(bad)}", "use fields of TeacherConfig")
    config = dataclasses.replace(teacher_cfg, **overrides, use_text=use_text)
    trainer_opts = {k: v for k, v in params.items() if k in TRAINER_KEYS}
    settings = TrainerSettings(**trainer_opts)
    values = np.asarray(series["series"].values, dtype=np.float32)  # (time, C, H, W) in memory for speed
    train_rows = _subsample(sample_index, "train", params.get("max_train_samples"))
    val_rows = _subsample(sample_index, "val", params.get("max_val_samples"))
    if use_text and embeddings is None:
        raise InputError("narrative_embeddings", "are missing", "run `kedro run --pipeline narrate` first")
    emb = _embeddings(embeddings, sample_index, shuffle=shuffle_text, seed=int(params.get("seed", 0))) if use_text else None

    def windows(rows: pd.DataFrame) -> TextWindowDataset:
        w = WindowDataset(values, rows["start"].to_numpy(), t_in=t_in, t_out=t_out, sample_ids=rows["sample_id"].to_numpy())
        return TextWindowDataset(w, emb)

    train_loader, val_loader = make_loaders(windows(train_rows), windows(val_rows), batch_size=int(params.get("batch_size", 16)),
                                            seed=settings.seed)
    torch.manual_seed(settings.seed)
    model = build_model("teacher", config)
    module = ForecastModule(model, lr=float(params.get("lr", 1e-3)), weight_decay=float(params.get("weight_decay", 1e-4)),
                            max_epochs=settings.max_epochs)
    run_params = {"model": name, "kind": "teacher", "use_text": use_text, "shuffled_text": shuffle_text,
                  "preset": params.get("preset", "small"), "train_windows": len(train_rows), "val_windows": len(val_rows),
                  "parameters": count_parameters(model), "config": config_to_dict(config),
                  "lr": params.get("lr", 1e-3), "batch_size": params.get("batch_size", 16), "trainer": trainer_opts}
    # a changed set-up or changed data (series, windows, narratives) never resumes a stale run
    digest = _fingerprint(run_params, normalisation_stats, train_rows, val_rows, emb)
    checkpoint_dir = Path(params["checkpoint_dir"]) / f"{name}-{digest}"
    with model_run(name, run_params, tags={"s2kd.model": name, "s2kd.kind": "teacher"}) as mlf:
        trainer = make_trainer(settings, checkpoint_dir=checkpoint_dir, logger=mlf if mlf is not None else False)
        result = fit(module, train_loader, val_loader, trainer, checkpoint_dir=checkpoint_dir)  # ends on the best weights
        seconds = time.perf_counter() - start
        log_final({"best_val_mse": result["best_val_mse"], "train_seconds": seconds}, config_to_dict(config))
    summary = {"model": name, "use_text": use_text, "shuffled_text": shuffle_text, "best_val_mse": float(result["best_val_mse"]),
               "epochs": int(result["epochs_run"]),
               "epochs_trained_now": int(result.get("epochs_trained_now", result["epochs_run"])), "parameters": count_parameters(model), "train_windows": len(train_rows),
               "val_windows": len(val_rows), "seconds": round(seconds, 1), "checkpoint_dir": str(checkpoint_dir)}
    logger.info("%s: best val MSE %.5f after %d epochs (%.0f s)", name, summary["best_val_mse"], summary["epochs"], seconds)
    payload = {"kind": "teacher", "config": config_to_dict(config), "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "meta": {k: v for k, v in summary.items() if k != "checkpoint_dir"}}
    return payload, summary


def train_multimodal_teacher(series, sample_index, normalisation_stats, narrative_embeddings, params):
    """The privileged teacher: frames + narratives."""
    return train_teacher(series, sample_index, normalisation_stats, narrative_embeddings, params,
                         name="teacher_multimodal", use_text=True)


def train_vision_teacher(series, sample_index, normalisation_stats, params):
    """The same network with text switched off."""
    return train_teacher(series, sample_index, normalisation_stats, None, params, name="teacher_vision", use_text=False)


def train_shuffled_teacher(series, sample_index, normalisation_stats, narrative_embeddings, params):
    """The ablation: narratives shuffled across the samples of each split."""
    return train_teacher(series, sample_index, normalisation_stats, narrative_embeddings, params,
                         name="teacher_shuffled", use_text=True, shuffle_text=True)


def summarise_teachers(*summaries: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float]]:
    """The validation table of the teachers, and its MSEs as metrics of the pipeline's MLflow run."""
    table = pd.DataFrame([{k: v for k, v in s.items() if k != "checkpoint_dir"} for s in summaries])
    metrics = {f"{row.model}.best_val_mse": float(row.best_val_mse) for row in table.itertuples()}
    if {"teacher_multimodal", "teacher_vision"} <= set(table["model"]):
        mm = table.set_index("model").loc["teacher_multimodal", "best_val_mse"]
        vis = table.set_index("model").loc["teacher_vision", "best_val_mse"]
        metrics["text_gain"] = float(1.0 - mm / vis)
        logger.info("teacher sanity check: multimodal %.5f vs vision %.5f (%+.1f%%)", mm, vis, -100 * metrics["text_gain"])
    return table, metrics
