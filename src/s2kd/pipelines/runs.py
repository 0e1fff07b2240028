"""What the training pipelines (``train_teacher``, ``distill``) share: choosing windows, naming a
resumable checkpoint folder, and training one model inside its own nested MLflow run.

Not a pipeline (``find_pipelines`` registers folders only).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from s2kd.data.windows import WindowDataset
from s2kd.errors import ParameterError
from s2kd.models import config_to_dict
from s2kd.tracking import log_final, model_run
from s2kd.training.data import TextWindowDataset, make_loaders
from s2kd.training.module import ForecastModule, LossFn
from s2kd.training.trainer import TrainerSettings, fit, make_trainer

TRAINER_KEYS = {f.name for f in dataclasses.fields(TrainerSettings)}


def trainer_settings(params: Mapping[str, Any], group: str = "trainer") -> tuple[TrainerSettings, dict[str, Any]]:
    """The trainer settings found among a pipeline's parameters (checked by :class:`TrainerSettings`,
    errors named ``<group>.<key>``), and those options as a dict."""
    options = {k: v for k, v in params.items() if k in TRAINER_KEYS}
    for key in ("max_epochs", "patience"):
        if key not in options:
            raise ParameterError(f"{group}.{key}", "is missing", f"set {group}.{key} (an integer)")
    try:
        return TrainerSettings(**options), options
    except ParameterError as exc:  # the library names the key trainer.<key>; say which group holds it
        raise ParameterError(exc.where.replace("trainer.", f"{group}.", 1), exc.problem, exc.fix) from None


def subsample(index: pd.DataFrame, split: str, limit: int | None) -> pd.DataFrame:
    """The windows of a split, at most ``limit`` of them evenly spaced in time."""
    rows = index[index["split"] == split]
    if limit is not None and len(rows) > limit:
        rows = rows.iloc[np.linspace(0, len(rows) - 1, int(limit)).round().astype(int)]
    return rows


def window_dataset(values: np.ndarray, rows: pd.DataFrame, *, t_in: int, t_out: int,
                   embeddings: Mapping[str, Any] | None) -> TextWindowDataset:
    """The windows of ``rows`` over ``values`` ``(time, C, H, W)``, with their narratives when given."""
    windows = WindowDataset(values, rows["start"].to_numpy(), t_in=t_in, t_out=t_out,
                            sample_ids=rows["sample_id"].to_numpy())
    return TextWindowDataset(windows, embeddings)


def fingerprint(run_params: Mapping[str, Any], stats: Mapping[str, Any], *rows: pd.DataFrame,
                arrays: tuple[np.ndarray | torch.Tensor, ...] = ()) -> str:
    """A short hash of everything a training run depends on; it names the run's checkpoint folder, so
    a changed set-up or changed data never resumes a stale run."""
    h = hashlib.sha256(json.dumps([dict(run_params), dict(stats)], sort_keys=True, default=str).encode())
    for r in rows:
        h.update(r[["sample_id", "start"]].to_numpy().tobytes())
    for a in arrays:
        a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:12]


def state_arrays(state_dict: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """The tensors of a ``state_dict`` in key order (to fingerprint a teacher)."""
    return tuple(state_dict[k] for k in sorted(state_dict))


def train_in_run(
    model: nn.Module, *, name: str, kind: str, run_params: Mapping[str, Any], tags: Mapping[str, str],
    settings: TrainerSettings, train_set: TextWindowDataset, val_set: TextWindowDataset, batch_size: int,
    lr: float, weight_decay: float, checkpoint_dir: Path, loss: LossFn | None = None,
) -> dict[str, Any]:
    """Train ``model`` with Lightning inside a nested MLflow run named ``name``.

    The run gets ``run_params``, the per-epoch curves, ``best_val_mse`` and ``train_seconds``, and the
    model config as ``config.json``. Resumes from ``checkpoint_dir`` and ends on the best epoch's
    weights (:func:`s2kd.training.trainer.fit`).

    Returns:
        ``fit``'s summary plus ``seconds`` and ``mlflow_run_id`` (``None`` without tracking), which
        the model's ``meta`` keeps so that ``evaluate`` can log test metrics to the same run.
    """
    start = time.perf_counter()
    train_loader, val_loader = make_loaders(train_set, val_set, batch_size=int(batch_size), seed=settings.seed)
    module = ForecastModule(model, lr=float(lr), weight_decay=float(weight_decay), max_epochs=settings.max_epochs,
                            loss=loss)
    with model_run(name, run_params, tags={"s2kd.model": name, "s2kd.kind": kind, **tags}) as mlf:
        trainer = make_trainer(settings, checkpoint_dir=checkpoint_dir, logger=mlf if mlf is not None else False)
        result = fit(module, train_loader, val_loader, trainer, checkpoint_dir=checkpoint_dir)
        seconds = time.perf_counter() - start
        log_final({"best_val_mse": result["best_val_mse"], "train_seconds": seconds}, config_to_dict(model.config))
    return {**result, "seconds": seconds, "mlflow_run_id": mlf.run_id if mlf is not None else None}


def model_payload(kind: str, model: nn.Module, meta: Mapping[str, Any]) -> dict[str, Any]:
    """A trained network as plain data for :class:`s2kd.datasets.TorchModelDataset`."""
    return {"kind": kind, "config": config_to_dict(model.config),
            "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, "meta": dict(meta)}
