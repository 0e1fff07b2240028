"""Callbacks of every training run: stop on a non-finite loss, collect per-epoch metrics."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

logger = logging.getLogger(__name__)


def _non_finite_terms(terms: Mapping[str, Any]) -> list[str]:
    bad = []
    for name, value in terms.items():
        if isinstance(value, Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad.append(f"{name}={value.detach().float().flatten()[0].item()}")
    return bad


class FiniteLossCallback(pl.Callback):
    """Stops training with :class:`FloatingPointError` at the first NaN/inf loss.

    The total training loss is checked in ``on_before_backward``, i.e. *before* the backward pass
    and the optimiser step, so the weights are never overwritten with NaN; the message names every
    non-finite term of the step (read from the module's ``last_loss_terms`` when it has one, as
    :class:`~s2kd.training.module.ForecastModule` does). Under DDP the verdict is shared by all
    processes (one tiny all-reduce per step), so they all stop at the same step instead of the
    healthy ones waiting forever for the gradients of the one that stopped. The validation metrics
    (``val_*``, already synchronised) are checked at the end of each validation.
    """

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: Tensor) -> None:
        finite_here = bool(torch.isfinite(loss.detach()).all())
        if trainer.strategy.reduce_boolean_decision(finite_here, all=True):
            return
        if finite_here:
            bad = [f"loss={loss.detach().float().sum().item():g} here, non-finite in another process"]
        else:
            terms = dict(getattr(pl_module, "last_loss_terms", None) or {})
            terms.setdefault("loss", loss)
            bad = _non_finite_terms(terms) or [f"loss={loss.detach().float().sum().item()}"]
        lr = getattr(pl_module.hparams, "lr", None) if hasattr(pl_module, "hparams") else None
        raise FloatingPointError(
            f"non-finite training loss at epoch {trainer.current_epoch} (0-based), global step "
            f"{trainer.global_step}: {', '.join(bad)}. Training stopped before this step's update. "
            f"Lower the learning rate{f' (lr={lr:g})' if isinstance(lr, int | float) else ''}, keep "
            "gradient clipping on, and check the inputs for NaN/inf values and their normalisation."
        )

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("val_")}
        bad = _non_finite_terms(metrics)
        if bad:
            stage = "the sanity check" if trainer.sanity_checking else f"epoch {trainer.current_epoch} (0-based)"
            hint = ("the forecast itself is not finite: check the validation inputs for NaN/inf values and "
                    "their normalisation" if any(b.startswith("val_mse=") for b in bad) else
                    "the forecast is finite but a loss term is not: check the loss (and any cached "
                    "teacher features it reads)")
            raise FloatingPointError(f"non-finite validation metric in {stage}: {', '.join(bad)}; {hint}.")


class EpochMetricsCollector(pl.Callback):
    """Records the epoch-level metrics of every epoch into :attr:`history` (a list of dicts).

    One row per finished training epoch: ``{"epoch": e, "loss": ..., "loss_task": ..., "val_mse": ...,
    "lr": ...}`` (``epoch`` counts from 1, ``lr`` is the learning rate the epoch trained with). Its
    state goes into the checkpoint, so a resumed run's history starts with the epochs of the run it
    resumes. Works in any run (the row is built from ``trainer.callback_metrics``).

    Args:
        keys: record only these metrics (default: every scalar metric).
    """

    def __init__(self, keys: Sequence[str] | None = None) -> None:
        self.keys = None if keys is None else list(keys)
        self.history: list[dict[str, float]] = []
        self._lr: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # the learning rate of this epoch (the epoch-wise scheduler steps before on_train_epoch_end)
        self._lr = float(trainer.optimizers[0].param_groups[0]["lr"]) if trainer.optimizers else None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        row: dict[str, float] = {"epoch": int(trainer.current_epoch) + 1}
        for name, value in trainer.callback_metrics.items():
            if self.keys is not None and name not in self.keys:
                continue
            if isinstance(value, Tensor) and value.numel() == 1:
                row[name] = float(value.item())
            elif isinstance(value, int | float):
                row[name] = float(value)
        if self._lr is not None and (self.keys is None or "lr" in self.keys):
            row["lr"] = self._lr
        self.history = [r for r in self.history if r["epoch"] != row["epoch"]] + [row]
        logger.info("epoch %d: %s", row["epoch"],
                    ", ".join(f"{k}={v:.6g}" for k, v in row.items() if k != "epoch" and math.isfinite(v)))

    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(r) for r in self.history]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(r) for r in state_dict.get("history", [])]
