"""The Lightning trainer of every run, and a resumable ``fit``.

``make_trainer`` builds the one trainer configuration the project uses (DESIGN.md section 9): a
checkpoint every epoch (``last.ckpt``) plus the best one by ``val_mse``, early stopping on
``val_mse``, gradient clipping, a progress bar, a stop with a clear error on a NaN/inf loss, and
seeded determinism. The same settings run on a laptop CPU, one GPU or many GPUs/nodes (DDP): only
``accelerator``, ``devices``, ``strategy`` and ``num_nodes`` change.

``fit`` makes a run restartable: rerun it with the same ``checkpoint_dir`` after a crash or a kill
and it continues from ``last.ckpt`` (optimiser, schedule, early-stopping state and the metric history
included); rerun it after the run has finished and it trains nothing and returns the same summary.

A ``last.ckpt`` that cannot be read (truncated or corrupt) is an error, never silently replaced by a
run from scratch: the message names the file and says to delete it to restart. (Lightning writes
checkpoints through an fsspec transaction: a temporary file moved into place, atomic when the system
temp folder is on the checkpoints' filesystem, a copy otherwise; so this happens after a kill during
such a copy, or when a file was damaged after it was written.)
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from torch.utils.data import DataLoader

from s2kd.checks import choice, flag, integer, number
from s2kd.errors import InputError, ParameterError
from s2kd.training.callbacks import EpochMetricsCollector, FiniteLossCallback

logger = logging.getLogger(__name__)

MONITOR = "val_mse"
#: Lightning's precision settings
PRECISIONS = ("64-true", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "transformer-engine")
LAST_CHECKPOINT = "last.ckpt"


@dataclass(frozen=True)
class TrainerSettings:
    """Everything that configures a training loop (``params:<pipeline>.trainer``).

    Args:
        max_epochs: the most epochs (a resumed run counts the epochs it resumes).
        patience: epochs without a lower ``val_mse`` before early stopping.
        gradient_clip_val: clip the global gradient norm to this (0: no clipping).
        seed: seed of everything (weights, shuffling, workers).
        accelerator: ``"cpu"``, ``"gpu"``, ``"auto"``, ...
        devices: devices per node (``2`` with ``strategy="ddp"`` runs two processes).
        strategy: ``"auto"``, ``"ddp"``, ...
        num_nodes: machines.
        precision: ``"32-true"``, ``"bf16-mixed"``, ``"16-mixed"``, ...
        enable_progress_bar: show a progress bar.
        limit_train_batches: train on this many batches (int) or this fraction (float) per epoch.
        limit_val_batches: validate on this many batches (int) or this fraction (float).
        deterministic: use deterministic algorithms (warn, don't fail, where an op has none).
        log_every_n_steps: logging interval of step-level metrics.
    """

    max_epochs: int
    patience: int
    gradient_clip_val: float = 1.0
    seed: int = 0
    accelerator: str = "cpu"
    devices: int | str | list[int] = 1
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    enable_progress_bar: bool = True
    limit_train_batches: int | float | None = None
    limit_val_batches: int | float | None = None
    deterministic: bool = True
    log_every_n_steps: int = 10

    def __post_init__(self) -> None:
        integer(self.max_epochs, "trainer.max_epochs", 1)
        integer(self.patience, "trainer.patience", 0)
        integer(self.seed, "trainer.seed", 0)
        integer(self.num_nodes, "trainer.num_nodes", 1)
        number(self.gradient_clip_val, "trainer.gradient_clip_val", low=0)
        flag(self.enable_progress_bar, "trainer.enable_progress_bar")
        d = self.devices
        if not (d == "auto" or (isinstance(d, int) and not isinstance(d, bool) and d >= 1)
                or (isinstance(d, list) and d and all(isinstance(i, int) and i >= 0 for i in d))):
            raise ParameterError("trainer.devices", f"is {d!r}", "use a count >= 1, a list of device ids, or auto")
        for key in ("accelerator", "strategy"):
            if not isinstance(getattr(self, key), str):
                raise ParameterError(f"trainer.{key}", f"is {getattr(self, key)!r}",
                                     "use a name such as cpu, gpu, auto, ddp")
        choice(str(self.precision), "trainer.precision", PRECISIONS)


def make_trainer(
    settings: TrainerSettings, *, checkpoint_dir: str | Path, logger: Any = None,
    extra_callbacks: Iterable[pl.Callback] = (),
) -> pl.Trainer:
    """A seeded Lightning trainer that checkpoints into ``checkpoint_dir``.

    Callbacks: two ``ModelCheckpoint`` s (the best epoch by ``val_mse`` as
    ``best-epochEEE-val_mseV.ckpt``, and ``last.ckpt`` rewritten at the end of every epoch),
    ``EarlyStopping`` on ``val_mse``,
    :class:`~s2kd.training.callbacks.FiniteLossCallback`,
    :class:`~s2kd.training.callbacks.EpochMetricsCollector`, then ``extra_callbacks``.

    Args:
        settings: the trainer settings.
        checkpoint_dir: folder of the checkpoints (and Lightning's ``default_root_dir``).
        logger: a Lightning logger (e.g. ``MLFlowLogger``) or ``None`` for none.
        extra_callbacks: more callbacks.

    Returns:
        The trainer; pass it to :func:`fit` with the same ``checkpoint_dir``.
    """
    pl.seed_everything(int(settings.seed), workers=True)
    checkpoint_dir = Path(checkpoint_dir)
    callbacks: list[pl.Callback] = [
        # the best epoch by val_mse; it must come before the "last" checkpoint below, so that
        # last.ckpt records the updated best path and score
        ModelCheckpoint(dirpath=checkpoint_dir, filename="best-epoch{epoch:03d}-val_mse{val_mse:.6g}",
                        auto_insert_metric_name=False, monitor=MONITOR, mode="min", save_top_k=1,
                        save_last=False, every_n_epochs=1),
        # last.ckpt at the end of *every* epoch. Not `save_last=True` above: since Lightning 2.6 that
        # writes last.ckpt only when a top-k checkpoint is written too, i.e. only when val_mse
        # improved, so a killed run would resume from its best epoch, not its last one
        ModelCheckpoint(dirpath=checkpoint_dir, filename=LAST_CHECKPOINT.removesuffix(".ckpt"), monitor=None,
                        save_top_k=1, every_n_epochs=1, enable_version_counter=False),
        EarlyStopping(monitor=MONITOR, mode="min", patience=int(settings.patience)),
        FiniteLossCallback(),
        EpochMetricsCollector(),
    ]
    callbacks.extend(extra_callbacks)
    limits = {k: v for k, v in (("limit_train_batches", settings.limit_train_batches),
                                ("limit_val_batches", settings.limit_val_batches)) if v is not None}
    return pl.Trainer(
        max_epochs=int(settings.max_epochs),
        accelerator=settings.accelerator,
        devices=settings.devices,
        strategy=settings.strategy,
        num_nodes=int(settings.num_nodes),
        precision=settings.precision,
        gradient_clip_val=float(settings.gradient_clip_val) or None,
        gradient_clip_algorithm="norm",
        # "warn" = torch.use_deterministic_algorithms(True, warn_only=True)
        deterministic="warn" if settings.deterministic else False,
        enable_progress_bar=bool(settings.enable_progress_bar),
        log_every_n_steps=int(settings.log_every_n_steps),
        logger=logger if logger is not None else False,
        callbacks=callbacks,
        default_root_dir=checkpoint_dir,
        **limits,
    )


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint's contents (tensors memory-mapped, so cheap even for big models).

    Raises:
        InputError: when the file is missing, truncated or corrupt, naming it and the fix.
    """
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # a truncated zip, a bad pickle, an unreadable file, ...
        raise InputError(
            str(path), f"is not a readable Lightning checkpoint, it is probably truncated or corrupt "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})",
            fix=f"delete {path} to restart training from scratch (or replace it with an intact copy)",
        ) from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "epoch" not in checkpoint:
        raise InputError(str(path), "is not a Lightning training checkpoint (no 'state_dict'/'epoch')",
                         fix=f"delete {path} to restart training from scratch")
    return checkpoint


def _epochs_completed(checkpoint: dict[str, Any]) -> int:
    """Epochs finished when ``checkpoint`` was written (at an epoch's end, as ``make_trainer`` saves)."""
    try:
        return int(checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
    except (KeyError, TypeError):
        return int(checkpoint["epoch"]) + 1


def _callback(trainer: pl.Trainer, kind: type) -> Any:
    found = [c for c in trainer.callbacks if isinstance(c, kind)]
    return found[0] if found else None


def _best_checkpoint_callback(trainer: pl.Trainer) -> ModelCheckpoint | None:
    found = [c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.monitor == MONITOR]
    return found[0] if found else None


def _stopped_early(checkpoint: dict[str, Any], trainer: pl.Trainer) -> bool:
    early = _callback(trainer, EarlyStopping)
    state = checkpoint.get("callbacks", {}).get(early.state_key) if early is not None else None
    # EarlyStopping records the epoch it stopped at (it cannot stop at epoch 0 on patience: the first
    # validation only sets the best score); it runs before ModelCheckpoint, so last.ckpt has it
    return bool(state) and int(state.get("stopped_epoch", 0)) > 0


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value.item() if isinstance(value, torch.Tensor) else value)
    return value if math.isfinite(value) else None


def _load_weights(module: pl.LightningModule, path: str | Path) -> None:
    state = read_checkpoint(path)["state_dict"]
    module.load_state_dict({k: v.clone() for k, v in state.items()})


def fit(
    module: pl.LightningModule, train_loader: DataLoader, val_loader: DataLoader, trainer: pl.Trainer, *,
    checkpoint_dir: str | Path, restore_best: bool = True,
) -> dict[str, Any]:
    """Train ``module``, resuming from ``checkpoint_dir/last.ckpt`` when it exists.

    - no ``last.ckpt``: train from scratch;
    - ``last.ckpt`` of an unfinished run (killed, crashed): continue after its last finished epoch;
    - ``last.ckpt`` of a finished run (``max_epochs`` reached or stopped early): train nothing.

    Args:
        module: the training recipe (e.g. :class:`~s2kd.training.module.ForecastModule`).
        train_loader: training batches.
        val_loader: validation batches.
        trainer: from :func:`make_trainer` with the same ``checkpoint_dir``.
        checkpoint_dir: the checkpoints' folder.
        restore_best: ``module`` ends with the best epoch's weights (lowest ``val_mse``); with
            ``False``, with the last epoch's (also when nothing was left to train).

    Returns:
        ``{"best_val_mse", "best_checkpoint", "last_checkpoint", "epochs_run" (epochs the weights
        have been trained, resumed ones included), "epochs_trained_now", "resumed_from_epoch"
        (epochs finished in the resumed checkpoint, or None), "stopped_early", "history"}``, where
        ``history`` has one dict per epoch (``epoch`` from 1, ``loss``, ``loss_task``, ...,
        ``val_mse``, ``val_loss``, ``lr``).

    Raises:
        InputError: when ``last.ckpt`` is unreadable (truncated/corrupt): delete it to restart.
        FloatingPointError: on a NaN/inf training loss.
    """
    checkpoint_dir = Path(checkpoint_dir)
    ckpt_cb = _best_checkpoint_callback(trainer)
    if not isinstance(ckpt_cb, ModelCheckpoint) or ckpt_cb.dirpath is None or (
            Path(ckpt_cb.dirpath).resolve() != checkpoint_dir.resolve()):
        raise ParameterError("checkpoint_dir", f"{checkpoint_dir} is not where the trainer checkpoints "
                             f"({getattr(ckpt_cb, 'dirpath', None)})",
                             fix="build the trainer with make_trainer(..., checkpoint_dir=<the same folder>)")
    last = checkpoint_dir / LAST_CHECKPOINT
    collector = _callback(trainer, EpochMetricsCollector)
    resumed_from: int | None = None
    if last.exists():
        checkpoint = read_checkpoint(last)
        resumed_from = _epochs_completed(checkpoint)
        if resumed_from >= int(trainer.max_epochs) or _stopped_early(checkpoint, trainer):
            logger.info("%s: the run already finished (%d epochs); nothing to train", last, resumed_from)
            return _finished_summary(module, trainer, checkpoint, last, resumed_from, restore_best)
        logger.info("resuming from %s after epoch %d of %d", last, resumed_from, trainer.max_epochs)
        del checkpoint
        with warnings.catch_warnings():
            # resuming from the folder's own last.ckpt: a non-empty folder is expected here
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
            trainer.fit(module, train_loader, val_loader, ckpt_path=str(last))
    else:
        trainer.fit(module, train_loader, val_loader)

    best_path = ckpt_cb.best_model_path or None
    if restore_best and best_path and Path(best_path).exists():
        _load_weights(module, best_path)
    elif restore_best:
        logger.warning("no best checkpoint found (%s); the module keeps the last epoch's weights", best_path)
    epochs_run = int(trainer.current_epoch)
    summary = {
        "best_val_mse": _as_float(ckpt_cb.best_model_score),
        "best_checkpoint": best_path,
        "last_checkpoint": str(last) if last.exists() else None,
        "epochs_run": epochs_run,
        "epochs_trained_now": epochs_run - (resumed_from or 0),
        "resumed_from_epoch": resumed_from,
        "stopped_early": bool(getattr(_callback(trainer, EarlyStopping), "stopped_epoch", 0)),
        "history": [dict(r) for r in collector.history] if collector is not None else [],
    }
    logger.info("trained %d epochs (%d now), best val_mse %s at %s", epochs_run, summary["epochs_trained_now"],
                summary["best_val_mse"], best_path)
    return summary


def _finished_summary(
    module: pl.LightningModule, trainer: pl.Trainer, checkpoint: dict[str, Any], last: Path, epochs: int,
    restore_best: bool,
) -> dict[str, Any]:
    """The summary of a run that had already finished, read from its ``last.ckpt``."""
    states = checkpoint.get("callbacks", {})
    ckpt_state = states.get(_best_checkpoint_callback(trainer).state_key, {})
    collector = _callback(trainer, EpochMetricsCollector)
    history = states.get(collector.state_key, {}).get("history", []) if collector is not None else []
    if collector is not None:
        collector.load_state_dict({"history": history})
    best_path = ckpt_state.get("best_model_path") or None
    if best_path and not Path(best_path).exists():
        logger.warning("the best checkpoint %s recorded in %s is gone; using the last epoch's weights",
                       best_path, last)
        best_path = None
    if restore_best and best_path:
        _load_weights(module, best_path)
    else:
        module.load_state_dict({k: v.clone() for k, v in checkpoint["state_dict"].items()})
    return {
        "best_val_mse": _as_float(ckpt_state.get("best_model_score")),
        "best_checkpoint": best_path,
        "last_checkpoint": str(last),
        "epochs_run": epochs,
        "epochs_trained_now": 0,
        "resumed_from_epoch": epochs,
        "stopped_early": _stopped_early(checkpoint, trainer),
        "history": [dict(r) for r in history],
    }
