"""Training recipes of the project: one :class:`TrainingJob` per trained model.

:func:`teacher_job` and :func:`student_job` turn the ingested series, the sample index and the
typed parameters into a job: the network built from its preset (seeded), the training and
validation windows, the loss (with the frozen teacher's outputs cached once for a distilled
student), the parameters that describe the run and a checkpoint folder keyed by everything that must
match for a resume (:func:`fingerprint`). ``job.fit(trainer, logger)`` trains it with Lightning and
returns its summary; :func:`model_payload` turns the network into plain data for the catalog.

Library code: no Kedro, no MLflow (a Lightning logger is passed in).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from s2kd.data.params import LoadingParams
from s2kd.data.windows import MIB, SeriesFile, WindowDataset
from s2kd.errors import InputError
from s2kd.models import build_model, config_to_dict
from s2kd.models.blocks import count_parameters
from s2kd.models.presets import preset_configs
from s2kd.models.projector import Projector
from s2kd.narrators.embedding import check_embeddings, shuffle_within_splits
from s2kd.recipes.params import DistillParams, FitParams, TeacherParams
from s2kd.training.data import TextWindowDataset, make_loaders
from s2kd.training.distill import DistillationLoss, TeacherTargets, cache_teacher_targets, needed_targets
from s2kd.training.methods import METHODS, method_weights
from s2kd.training.module import ForecastModule
from s2kd.training.trainer import TrainerParams, fit, make_trainer

logger = logging.getLogger(__name__)

#: trainer settings that change what a run computes (the rest, e.g. the progress bar, do not)
_TRAINER_KEYS = ("accelerator", "devices", "strategy", "num_nodes", "precision", "deterministic",
                 "limit_train_batches", "limit_val_batches")


def subsample(index: pd.DataFrame, split: str, limit: int | None) -> pd.DataFrame:
    """The windows of a split, at most ``limit`` of them evenly spaced in time."""
    rows = index[index["split"] == split]
    if limit is not None and len(rows) > limit:
        rows = rows.iloc[np.linspace(0, len(rows) - 1, int(limit)).round().astype(int)]
    return rows


def window_dataset(values: np.ndarray | SeriesFile, rows: pd.DataFrame, *, t_in: int, t_out: int,
                   embeddings: Mapping[str, Any] | None) -> TextWindowDataset:
    """The windows of ``rows`` over ``values`` ``(time, C, H, W)`` (in memory or its file), with their
    narratives when given."""
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


def text_for(embeddings: Mapping[str, Any] | None, index: pd.DataFrame, meta: Mapping[str, Any]) -> dict | None:
    """The narratives a teacher reads: none, the real ones, or the same shuffle it was trained on
    (``meta["text_shuffle_seed"]``: the narratives permuted within each split)."""
    if embeddings is None:
        return None
    check_embeddings(embeddings)
    seed = meta.get("text_shuffle_seed")
    if seed is None:
        return dict(embeddings)
    splits = index.set_index("sample_id").loc[embeddings["sample_id"], "split"].to_numpy()
    perm = shuffle_within_splits(splits, int(seed))
    return {**embeddings, "tokens": embeddings["tokens"][perm], "mask": embeddings["mask"][perm]}


def model_payload(kind: str, model: nn.Module, meta: Mapping[str, Any]) -> dict[str, Any]:
    """A trained network as plain data for :class:`s2kd.datasets.TorchModelDataset`."""
    return {"kind": kind, "config": config_to_dict(model.config),
            "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, "meta": dict(meta)}


def load_model(payload: Mapping[str, Any]) -> nn.Module:
    """The network of a payload (``kind``, ``config``, ``state_dict``), weights loaded."""
    model = build_model(payload["kind"], payload["config"])
    model.load_state_dict(payload["state_dict"])
    return model


@dataclass
class TrainingJob:
    """One model to train: its network, windows, loss, run parameters and checkpoint folder.

    Attributes:
        name: ``teacher_multimodal``, ``student_s2kd``, ...
        kind: ``teacher`` or ``student``.
        model: the network (seeded initial weights; trained in place by :meth:`fit`).
        run_params: what describes the run (logged with it; hashed into ``checkpoint_dir``).
        tags: labels of the run (``method``, ``teacher``, ``narrator``, ...).
        checkpoint_dir: the folder Lightning checkpoints into and resumes from.
        train_set, val_set: the windows.
        fit_params: seed, budget and optimiser.
        loss: the training loss (``None``: ``L_task``).
        loading: the loader workers and their prefetch (``None``: read in the training process).
    """

    name: str
    kind: str
    model: nn.Module
    run_params: dict[str, Any]
    tags: dict[str, str]
    checkpoint_dir: Path
    train_set: TextWindowDataset
    val_set: TextWindowDataset
    fit_params: FitParams
    loss: nn.Module | None = None
    loading: LoadingParams | None = None

    def fit(self, trainer: TrainerParams, logger: Any = None) -> dict[str, Any]:
        """Train (or resume, or find finished) with Lightning; :func:`s2kd.training.trainer.fit`'s
        summary plus ``seconds``. ``logger``: a Lightning logger, e.g. MLflow's."""
        start, p = time.perf_counter(), self.fit_params
        workers = {"num_workers": self.loading.num_workers, "prefetch_factor": self.loading.prefetch_factor} \
            if self.loading is not None else {}
        train_loader, val_loader = make_loaders(self.train_set, self.val_set, batch_size=p.batch_size, seed=p.seed,
                                                **workers)
        module = ForecastModule(self.model, lr=p.lr, weight_decay=p.weight_decay, max_epochs=p.max_epochs,
                                loss=self.loss)
        lightning = make_trainer(trainer, max_epochs=p.max_epochs, patience=p.patience, seed=p.seed,
                                 gradient_clip_val=p.gradient_clip_val, checkpoint_dir=self.checkpoint_dir,
                                 logger=logger)
        result = fit(module, train_loader, val_loader, lightning)
        return {**result, "seconds": time.perf_counter() - start}

    def summary(self, result: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        """A row of the validation table: name, extra columns, best validation MSE, epochs, size, time."""
        now = int(result["epochs_trained_now"])
        return {"model": self.name, **extra, "best_val_mse": float(result["best_val_mse"]),
                "epochs": int(result["epochs_run"]), "epochs_trained_now": now,
                "parameters": count_parameters(self.model), "train_windows": len(self.train_set),
                "val_windows": len(self.val_set), "seconds": round(result["seconds"], 1),
                "seconds_per_epoch": round(result["seconds"] / now, 2) if now else float("nan")}


def _windows(values: np.ndarray | SeriesFile, index: pd.DataFrame, p: FitParams, t_in: int, t_out: int,
             embeddings: Mapping[str, Any] | None,
             ) -> tuple[pd.DataFrame, pd.DataFrame, TextWindowDataset, TextWindowDataset]:
    train_rows = subsample(index, "train", p.max_train_samples)
    val_rows = subsample(index, "val", p.max_val_samples)
    return (train_rows, val_rows, window_dataset(values, train_rows, t_in=t_in, t_out=t_out, embeddings=embeddings),
            window_dataset(values, val_rows, t_in=t_in, t_out=t_out, embeddings=embeddings))


def narration_tags(embeddings: Mapping[str, Any] | None) -> dict[str, str]:
    """Which narrator wrote the narratives a model learnt from, and in which mode (``none`` for a model
    that read none)."""
    written = (embeddings or {}).get("meta") or {}
    return {"narrator": str(written.get("narrator") or "none"), "narrate_mode": str(written.get("mode") or "none"),
            **({"narrator_model": str(written["narrator_model"])} if written.get("narrator_model") else {})}


def _run_identity(p: FitParams, trainer: TrainerParams) -> dict[str, Any]:
    """The optimiser, budget and trainer settings that change what a run computes."""
    return {"lr": p.lr, "batch_size": p.batch_size, "weight_decay": p.weight_decay, "seed": p.seed,
            "max_epochs": p.max_epochs, "patience": p.patience, "gradient_clip_val": p.gradient_clip_val,
            "trainer": {k: getattr(trainer, k) for k in _TRAINER_KEYS}}


def teacher_job(values: np.ndarray | SeriesFile, index: pd.DataFrame, stats: Mapping[str, Any],
                embeddings: Mapping[str, Any] | None, p: TeacherParams, trainer: TrainerParams, *, name: str,
                use_text: bool, shuffle_text: bool = False, loading: LoadingParams | None = None) -> TrainingJob:
    """The job of one teacher: ``use_text`` for the multimodal one, ``shuffle_text`` for the
    ablation trained on narratives permuted across the samples of each split.

    Args:
        values: the normalised series ``(time, C, H, W)``, in memory or its file
            (:func:`~s2kd.data.windows.series_source`).
        index: the sample index (train and val windows are used; test never).
        stats: the ingest statistics (channels, ``t_in``, ``t_out``).
        embeddings: the narratives' token embeddings (unused by the vision teacher).
    """
    t_in, t_out = int(stats["t_in"]), int(stats["t_out"])
    base, _ = preset_configs(p.preset, in_channels=len(stats["channels"]), t_in=t_in, t_out=t_out)
    config = dataclasses.replace(base, **p.teacher, use_text=use_text)
    if use_text and embeddings is None:
        raise InputError("narrative_embeddings", "are missing", "run `kedro run --pipeline narrate` first")
    meta = {"text_shuffle_seed": p.seed} if shuffle_text else {}
    text = text_for(embeddings, index, meta) if use_text else None
    train_rows, val_rows, train_set, val_set = _windows(values, index, p, t_in, t_out, text)
    torch.manual_seed(p.seed)
    model = build_model("teacher", config)
    run_params = {"model": name, "kind": "teacher", "use_text": use_text, "shuffled_text": shuffle_text,
                  "preset": p.preset, "train_windows": len(train_rows), "val_windows": len(val_rows),
                  "parameters": count_parameters(model), "config": config_to_dict(config),
                  **_run_identity(p, trainer)}
    digest = fingerprint(run_params, stats, train_rows, val_rows,
                         arrays=(text["tokens"], text["mask"]) if text is not None else ())
    tags = {"teacher": name.removeprefix("teacher_"), **narration_tags(embeddings if use_text else None)}
    return TrainingJob(name=name, kind="teacher", model=model, run_params=run_params, tags=tags,
                       checkpoint_dir=Path(p.checkpoint_dir) / f"{name}-{digest}", train_set=train_set,
                       val_set=val_set, fit_params=p, loading=loading)


def teacher_targets(payload: Mapping[str, Any], values: np.ndarray | SeriesFile, rows: list[pd.DataFrame],
                    index: pd.DataFrame, embeddings: Mapping[str, Any] | None, *, t_in: int, t_out: int,
                    batch_size: int, fields: tuple[str, ...], max_memory_bytes: float | None = None,
                    spill_to: Path | None = None) -> TeacherTargets:
    """The frozen teacher of ``payload`` run once over the windows of ``rows``, reading the narratives it
    was trained with; ``fields``: the teacher tensors to keep (:data:`s2kd.training.distill.TARGETS`)."""
    teacher = load_model(payload)
    text = text_for(embeddings, index, payload.get("meta") or {}) if teacher.uses_text else None
    if teacher.uses_text and text is None:
        raise InputError("narrative_embeddings", "are missing", "run `kedro run --pipeline narrate` first")
    sets = [window_dataset(values, r, t_in=t_in, t_out=t_out, embeddings=text) for r in rows]
    return cache_teacher_targets(teacher, sets, batch_size=batch_size, fields=fields,
                                 max_memory_bytes=max_memory_bytes, spill_to=spill_to)


def student_job(values: np.ndarray | SeriesFile, index: pd.DataFrame, stats: Mapping[str, Any], p: DistillParams,
                trainer: TrainerParams, *, method: str, teacher: Mapping[str, Any] | None = None,
                embeddings: Mapping[str, Any] | None = None, loading: LoadingParams | None = None) -> TrainingJob:
    """The job of the student of ``method`` (:data:`~s2kd.training.methods.METHODS`).

    Every student starts from the same seeded initialisation and sees the same windows in the same
    order for the same budget; only the loss differs. The frozen ``teacher`` (a payload) runs once
    over the training and validation windows (:func:`s2kd.training.distill.cache_teacher_targets`); its
    outputs go to files under ``<checkpoint_dir>/teacher_targets`` when larger than
    ``loading.targets_max_memory_mib``.
    """
    spec = METHODS[method]
    if (teacher is None) != (spec.teacher is None):
        raise InputError(f"student_{method}",
                         f"needs {'the ' + spec.teacher + ' teacher' if spec.teacher else 'no teacher'}",
                         "wire the method's teacher into its node (s2kd.pipelines.distill)")
    t_in, t_out = int(stats["t_in"]), int(stats["t_out"])
    _, base = preset_configs(p.preset, in_channels=len(stats["channels"]), t_in=t_in, t_out=t_out, backbone=p.backbone)
    config = dataclasses.replace(base, **p.student)
    train_rows, val_rows, train_set, val_set = _windows(values, index, p, t_in, t_out, None)
    ls = p.loss_for(method)
    weights = method_weights(method, beta=ls.beta, lam=ls.lam, gamma=ls.gamma)
    targets = None
    if teacher is not None:
        logger.info("student_%s: caching the frozen %s teacher's outputs over %d train + %d val windows", method,
                    spec.teacher, len(train_rows), len(val_rows))
        fields = needed_targets(weights, spectral_on=spec.spectral_on, sem_target=ls.sem_target,
                                spec_target=ls.spec_target)
        targets = teacher_targets(teacher, values, [train_rows, val_rows], index, embeddings, t_in=t_in, t_out=t_out,
                                  batch_size=p.cache_batch_size, fields=fields,
                                  max_memory_bytes=loading.targets_max_memory_mib * MIB if loading else None,
                                  spill_to=Path(p.checkpoint_dir) / "teacher_targets")
    torch.manual_seed(p.seed)
    model = build_model(config.backbone, config)
    teacher_d = int(teacher["config"]["d"]) if teacher is not None else config.d
    loss = DistillationLoss(weights=weights, targets=targets, student_d=config.d, teacher_d=teacher_d,
                            projector=Projector(config.d, teacher_d, ls.projector), cutoff=ls.cutoff, alpha=ls.alpha,
                            semantic_kind=ls.semantic, amplitude_only=ls.amplitude_only, spectral_on=spec.spectral_on,
                            sem_target=ls.sem_target, spec_target=ls.spec_target)
    run_params = {
        "model": f"student_{method}", "method": method, "kind": "student", "teacher": spec.teacher or "none",
        "loss": loss.composite.formula(), "beta": weights.get("sem", 0.0), "lambda": weights.get("spec", 0.0),
        "gamma": weights.get("out", 0.0), "alpha": ls.alpha, "r_c": ls.cutoff, "semantic": ls.semantic,
        "sem_target": ls.sem_target, "spec_target": ls.spec_target,
        "amplitude_only": ls.amplitude_only, "spectral_on": spec.spectral_on, "projector": ls.projector,
        "backbone": p.backbone, "preset": p.preset, "parameters": count_parameters(model),
        "config": config_to_dict(config), "train_windows": len(train_rows), "val_windows": len(val_rows),
        "dataset": p.dataset, **_run_identity(p, trainer)}
    # what the student learns from: the teacher's weights, and the narratives when the teacher reads them
    state = teacher["state_dict"] if teacher is not None else {}
    arrays = tuple(state[k] for k in sorted(state))
    if teacher is not None and teacher["config"].get("use_text") and embeddings is not None:
        arrays += (embeddings["tokens"], embeddings["mask"])
    digest = fingerprint(run_params, stats, train_rows, val_rows, arrays=arrays)
    return TrainingJob(name=f"student_{method}", kind="student", model=model, run_params=run_params,
                       tags={"method": method, "teacher": spec.teacher or "none",
                             **narration_tags(embeddings if teacher is not None and teacher["config"].get("use_text")
                                              else None)},
                       checkpoint_dir=Path(p.checkpoint_dir) / f"student_{method}-{digest}", train_set=train_set,
                       val_set=val_set, fit_params=p, loss=loss, loading=loading)
