"""The training recipe of every forecaster: a ``LightningModule`` wrapping any network.

Networks (``s2kd.models``) stay plain ``nn.Module`` s; this module is the recipe (OpenSTL's
``methods/`` layer): how a batch is fed, which loss is optimised, what is logged, which optimiser
and schedule are used. The network contract:

- attribute ``uses_text: bool``;
- ``forward(x, text=None, text_mask=None) -> dict`` with at least ``"y_hat"`` ``(B, T_out, C, H, W)``
  and ``"latent"`` ``(B, d, h, w)``.

Logged per epoch (plain names, the curves MLflow shows, DESIGN.md section 7): every term of the
loss dict in training (``loss``, ``loss_task``, ``loss_sem``, ...) and the learning rate ``lr``;
``val_mse`` (task MSE), ``val_loss`` and ``val_<term>`` for the other terms in validation.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from s2kd.errors import InputError, ParameterError
from s2kd.losses import task_loss

logger = logging.getLogger(__name__)

LossFn = Callable[[Mapping[str, Tensor], Mapping[str, Tensor]], dict[str, Tensor]]


def task_mse_loss(outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``L = L_task`` (:func:`s2kd.losses.task_loss`): ``{"loss", "loss_task"}``."""
    loss_task = task_loss(outputs["y_hat"], batch["y"])
    return {"loss": loss_task, "loss_task": loss_task}


def warmup_cosine_factor(epoch: int, *, warmup_epochs: int, max_epochs: int) -> float:
    """Learning-rate factor at ``epoch``: linear warm-up to 1 over ``warmup_epochs``, then cosine to 0.

    Epoch ``e < warmup_epochs`` gets ``(e + 1) / (warmup_epochs + 1)``; afterwards
    ``0.5 * (1 + cos(pi * (e - warmup_epochs) / (max_epochs - warmup_epochs)))``.
    """
    if epoch < warmup_epochs:
        return (epoch + 1) / (warmup_epochs + 1)
    span = max(1, max_epochs - warmup_epochs)
    return 0.5 * (1.0 + math.cos(math.pi * min(epoch - warmup_epochs, span) / span))


class ForecastModule(pl.LightningModule):
    """Trains a forecaster on ``{"x", "y"[, "text", "text_mask"]}`` batches.

    Args:
        model: the network (see the module docstring for its contract).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_epochs: epochs of linear learning-rate warm-up before the cosine decay.
        max_epochs: the length of the cosine schedule (use the trainer's ``max_epochs``).
        loss: ``(outputs, batch) -> {"loss": total, "<term>": ...}``; default :func:`task_mse_loss`.
            An ``nn.Module`` loss is a submodule: its trainable parameters (e.g. a distillation
            projector) are optimised and checkpointed with the network.
    """

    def __init__(
        self, model: nn.Module, *, lr: float = 1e-3, weight_decay: float = 1e-4, warmup_epochs: int = 0,
        max_epochs: int = 10, loss: LossFn | None = None,
    ) -> None:
        super().__init__()
        if not hasattr(model, "uses_text"):
            raise ParameterError("model", f"{type(model).__name__} has no `uses_text` attribute",
                                 fix="set `uses_text: bool` on the network (True when it reads narratives)")
        if not lr > 0:
            raise ParameterError("lr", f"is {lr}", fix="use a positive learning rate, e.g. 1e-3")
        if not 0 <= warmup_epochs < max(1, max_epochs):
            raise ParameterError("warmup_epochs", f"is {warmup_epochs} with max_epochs={max_epochs}",
                                 fix="use 0 <= warmup_epochs < max_epochs")
        self.model = model
        self.loss_fn: LossFn = loss if loss is not None else task_mse_loss
        self.last_loss_terms: dict[str, Tensor] = {}  # the terms of the latest training step (detached)
        self.save_hyperparameters(ignore=["model", "loss"])

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The network's outputs on a batch; text goes in only when ``model.uses_text``."""
        if self.model.uses_text:
            if "text" not in batch:
                raise InputError("batch", f"{type(self.model).__name__} reads narratives (uses_text=True) but "
                                 f"the batch has only {sorted(batch)}",
                                 fix="wrap the windows in TextWindowDataset(windows, embeddings)")
            return self.model(batch["x"], text=batch["text"], text_mask=batch.get("text_mask"))
        return self.model(batch["x"])

    def _losses(self, batch: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        outputs = self(batch)
        terms = self.loss_fn(outputs, batch)
        if "loss" not in terms:
            raise KeyError(f"the loss returned {sorted(terms)}: it must return the total under 'loss'")
        return outputs, terms

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        _, terms = self._losses(batch)
        self.last_loss_terms = {name: value.detach() for name, value in terms.items()}
        batch_size = batch["x"].shape[0]
        for name, value in self.last_loss_terms.items():
            self.log(name, value, on_step=False, on_epoch=True, sync_dist=True, prog_bar=name == "loss",
                     batch_size=batch_size)
        self.log("lr", float(self.trainer.optimizers[0].param_groups[0]["lr"]), on_step=False, on_epoch=True,
                 sync_dist=True, batch_size=batch_size)
        return terms  # "loss" is optimised; Lightning detaches the other terms

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        outputs, terms = self._losses(batch)
        batch_size = batch["x"].shape[0]
        val_mse = task_loss(outputs["y_hat"], batch["y"])
        self.log("val_mse", val_mse, on_step=False, on_epoch=True, sync_dist=True, prog_bar=True,
                 batch_size=batch_size)
        self.log("val_loss", terms["loss"], on_step=False, on_epoch=True, sync_dist=True, batch_size=batch_size)
        for name, value in terms.items():
            if name != "loss":
                self.log(f"val_{name}", value, on_step=False, on_epoch=True, sync_dist=True, batch_size=batch_size)

    def configure_optimizers(self):
        hp = self.hparams
        # the network's and, when the loss is an nn.Module, the loss's trainable parameters (e.g. the
        # distillation projector); frozen ones (a teacher inside the loss) are left out
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
        warmup, total = int(hp.warmup_epochs), int(hp.max_epochs)
        # a plain function (not a callable object): LambdaLR then keeps it out of the checkpoint, so a
        # resumed run follows the schedule of its own hyper-parameters
        def factor(epoch: int) -> float:
            return warmup_cosine_factor(epoch, warmup_epochs=warmup, max_epochs=total)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
