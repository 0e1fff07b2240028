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
    """Stops training with :class:`FloatingPointError` at the first NaN/inf training loss.

    The total loss is checked in ``on_before_backward``, i.e. *before* the backward pass and the
    optimiser step, so the weights are never overwritten with NaN; the message names every
    non-finite term of the step (read from the module's ``last_loss_terms`` when it has one, as
    :class:`~s2kd.training.module.ForecastModule` does). The terms returned by ``training_step`` are
    checked again after the step, which catches a non-finite term that does not enter the total.
    """

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: Tensor) -> None:
        if bool(torch.isfinite(loss.detach()).all()):
            return
        terms = dict(getattr(pl_module, "last_loss_terms", None) or {})
        terms.setdefault("loss", loss)
        self._raise(trainer, pl_module, _non_finite_terms(terms) or [f"loss={loss.detach().float().sum().item()}"])

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        terms = {"loss": outputs} if isinstance(outputs, Tensor) else dict(outputs or {})
        bad = _non_finite_terms(terms)
        if bad:
            self._raise(trainer, pl_module, bad)

    @staticmethod
    def _raise(trainer: pl.Trainer, pl_module: pl.LightningModule, bad: list[str]) -> None:
        lr = getattr(pl_module.hparams, "lr", None) if hasattr(pl_module, "hparams") else None
        raise FloatingPointError(
            f"non-finite training loss at epoch {trainer.current_epoch} (0-based), global step "
            f"{trainer.global_step}: {', '.join(bad)}. Training stopped before this step's update. "
            f"Lower the learning rate{f' (lr={lr:g})' if isinstance(lr, int | float) else ''}, keep "
            "gradient clipping on, and check the inputs for NaN/inf values and their normalisation."
        )


class EpochMetricsCollector(pl.Callback):
    """Records the epoch-level metrics of every epoch into :attr:`history` (a list of dicts).

    One row per finished training epoch: ``{"epoch": e, "loss": ..., "loss_task": ..., "val_mse": ...,
    "lr": ...}`` (``epoch`` counts from 1). Its state goes into the checkpoint, so a resumed run's
    history starts with the epochs of the run it resumes. Works in any run (the row is built from
    ``trainer.callback_metrics``).

    Args:
        keys: record only these metrics (default: every scalar metric).
    """

    def __init__(self, keys: Sequence[str] | None = None) -> None:
        self.keys = None if keys is None else list(keys)
        self.history: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row: dict[str, float] = {"epoch": int(trainer.current_epoch) + 1}
        for name, value in trainer.callback_metrics.items():
            if self.keys is not None and name not in self.keys:
                continue
            if isinstance(value, Tensor) and value.numel() == 1:
                row[name] = float(value.item())
            elif isinstance(value, int | float):
                row[name] = float(value)
        if trainer.optimizers:
            row["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
        self.history = [r for r in self.history if r["epoch"] != row["epoch"]] + [row]
        logger.info("epoch %d: %s", row["epoch"],
                    ", ".join(f"{k}={v:.6g}" for k, v in row.items() if k != "epoch" and math.isfinite(v)))

    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(r) for r in self.history]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(r) for r in state_dict.get("history", [])]
