"""The Lightning trainer of every model, and ``fit``, which resumes through Lightning itself.

``TrainerParams`` (the ``trainer`` parameter group, ``conf/base/parameters_trainer.yml``) says where
and how Lightning runs: a laptop CPU, one GPU, or many GPUs and machines under DDP; only
``accelerator``, ``devices``, ``strategy`` and ``num_nodes`` change. A model's own budget (epochs,
patience, seed, clipping) comes from its pipeline's group and is passed to :func:`make_trainer`.

``make_trainer`` builds the one configuration every run uses (DESIGN.md section 9): the best epoch
by ``val_mse`` and ``last.ckpt`` written at the end of every epoch, early stopping on ``val_mse``,
gradient clipping, a stop with a clear error on a NaN/inf loss, seeded determinism.

Resuming is Lightning's: :func:`fit` calls ``trainer.fit(..., ckpt_path="last")`` on a folder keyed
by everything that must match (:func:`s2kd.recipes.jobs.fingerprint`), so a run killed at any
point continues from its last finished epoch, optimiser, schedule, early-stopping state and metric
history included. The project adds only what Lightning does not do:

- a run that early stopping had ended stays ended (Lightning would train one more epoch before its
  restored ``EarlyStopping`` fires again): :class:`ResumableEarlyStopping`;
- an unreadable ``last.ckpt`` (truncated or corrupt) is refused with the file's name and the fix,
  where Lightning would raise a bare unpickling error;
- the module ends with the best epoch's weights, not the last one's.

- checkpoints are written beside their final name and renamed into place (:class:`AtomicCheckpointIO`),
  so a kill leaves the previous ``last.ckpt`` whole: Lightning's own writer goes through the system
  temp folder and *copies* when that is another filesystem (a tmpfs ``/tmp``), and a kill during the
  copy tore ``last.ckpt``.
- one process at a time trains in a folder (:func:`folder_lock`): two ``kedro run`` processes sharing a checkpoint
  folder (the benchmark's parallel runs) that reach the same model wait for each other instead of writing
  the same checkpoints at once; the second then finds the model finished.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import filelock
import pytorch_lightning as pl
import torch
from pydantic import Field, StrictFloat
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO
from torch.utils.data import DataLoader

from s2kd.datasets.atomic import temporary_name
from s2kd.distributed import is_global_zero
from s2kd.errors import InputError
from s2kd.params import Count, Flag, Params, PositiveInt
from s2kd.training.callbacks import EpochMetricsCollector, FiniteLossCallback

logger = logging.getLogger(__name__)

MONITOR = "val_mse"
LAST_CHECKPOINT = "last.ckpt"
#: held in a checkpoint folder while a process trains there (:func:`folder_lock`)
LOCK_FILE = ".training.lock"
#: Lightning's precision settings
Precision = Literal["64-true", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "transformer-engine"]
#: device ids
DeviceIds = Annotated[list[Count], Field(min_length=1)]
#: a batch limit per epoch: a number of batches, or a fraction of them
BatchLimit = PositiveInt | Annotated[StrictFloat, Field(gt=0, le=1)] | None


class TrainerParams(Params):
    """Where and how Lightning trains every model (the ``trainer`` group).

    Attributes:
        accelerator: ``cpu``, ``gpu``, ``auto``, ...
        devices: devices per machine (``2`` with ``strategy: ddp`` runs two processes), a list of
            device ids, or ``auto``.
        strategy: ``auto``, ``ddp``, ...
        num_nodes: machines.
        precision: ``32-true``, ``bf16-mixed``, ``16-mixed``, ...
        enable_progress_bar: show Lightning's progress bar.
        deterministic: deterministic algorithms (warn, don't fail, where an op has none).
        log_every_n_steps: interval of step-level logging (the project logs per epoch).
        limit_train_batches: train on this many batches (int) or this fraction (float) per epoch;
            ``null``: all.
        limit_val_batches: the same for validation.
    """

    group = "trainer"

    accelerator: str = "cpu"
    devices: PositiveInt | DeviceIds | Literal["auto"] = 1
    strategy: str = "auto"
    num_nodes: PositiveInt = 1
    precision: Precision = "32-true"
    enable_progress_bar: Flag = True
    deterministic: Flag = True
    log_every_n_steps: PositiveInt = 10
    limit_train_batches: BatchLimit = None
    limit_val_batches: BatchLimit = None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, writing a local checkpoint to a temporary name in its own folder and
    renaming it into place (atomic on any filesystem); remote paths (``s3://``) go through Lightning's."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_name(path)
        try:
            with open(tmp, "wb") as f:  # a Python file object: what the chaos harness can interrupt
                torch.save(checkpoint, f)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def make_trainer(
    trainer: TrainerParams, *, max_epochs: int, patience: int, seed: int, gradient_clip_val: float,
    checkpoint_dir: str | Path, logger: Any = None, extra_callbacks: Iterable[pl.Callback] = (),
) -> pl.Trainer:
    """A seeded Lightning trainer that checkpoints into ``checkpoint_dir``.

    Callbacks: two ``ModelCheckpoint`` s (the best epoch by ``val_mse`` as
    ``best-epochEEE-val_mseV.ckpt``, and ``last.ckpt`` rewritten at the end of every epoch),
    :class:`ResumableEarlyStopping` on ``val_mse``, :class:`~s2kd.training.callbacks.FiniteLossCallback`,
    :class:`~s2kd.training.callbacks.EpochMetricsCollector`, then ``extra_callbacks``.

    Args:
        trainer: where and how to run.
        max_epochs: the most epochs (a resumed run counts the epochs it resumes).
        patience: epochs without a lower ``val_mse`` before early stopping.
        seed: seed of everything (weights, shuffling, workers).
        gradient_clip_val: clip the global gradient norm to this (0: no clipping).
        checkpoint_dir: folder of the checkpoints (and Lightning's ``default_root_dir``).
        logger: a Lightning logger (e.g. ``MLFlowLogger``) or ``None`` for none.
        extra_callbacks: more callbacks.
    """
    pl.seed_everything(int(seed), workers=True)
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
        ResumableEarlyStopping(monitor=MONITOR, mode="min", patience=int(patience)),
        FiniteLossCallback(),
        EpochMetricsCollector(),
        *extra_callbacks,
    ]
    limits = {k: v for k in ("limit_train_batches", "limit_val_batches") if (v := getattr(trainer, k)) is not None}
    return pl.Trainer(
        max_epochs=int(max_epochs),
        accelerator=trainer.accelerator,
        devices=trainer.devices,
        strategy=trainer.strategy,
        num_nodes=trainer.num_nodes,
        precision=trainer.precision,
        gradient_clip_val=float(gradient_clip_val) or None,
        gradient_clip_algorithm="norm",
        # "warn" = torch.use_deterministic_algorithms(True, warn_only=True)
        deterministic="warn" if trainer.deterministic else False,
        enable_progress_bar=trainer.enable_progress_bar,
        log_every_n_steps=trainer.log_every_n_steps,
        logger=logger if logger is not None else False,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        default_root_dir=checkpoint_dir,
        **limits,
    )


class ResumableEarlyStopping(EarlyStopping):
    """``EarlyStopping`` that keeps a finished run finished when it is resumed.

    Lightning restores the callback's state but not ``trainer.should_stop``, so a run resumed after
    early stopping would train one more epoch before stopping again.
    """

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.stopped_epoch > 0:  # it cannot stop at epoch 0: the first validation only sets the best
            trainer.should_stop = True


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str) -> Iterator[None]:
    """Hold ``folder``'s lock while ``what`` trains there: another process training the same model (the same
    fingerprint, hence the same folder) waits until this one is done, then finds it finished or resumes it.

    The lock is the operating system's (``filelock``: ``flock`` on POSIX): it goes with the process that held
    it, killed or not, so a killed run never leaves a folder locked. Under DDP only the global rank 0 takes it:
    the other ranks of the same training wait for rank 0 in Lightning's collectives, and one of them waiting
    here for rank 0 would never come."""
    if not is_global_zero():
        yield
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(folder / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        logger.info("%s: another process is training it in %s; waiting for it to finish", what, folder)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


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


def _moved_best(last: Path, dirpath: str | None) -> tuple[str | None, Any]:
    """The best checkpoint and score recorded in ``last``, looked up in ``dirpath``: when the folder was
    moved or copied (its recorded ``dirpath`` differs), Lightning restores neither the score nor a path
    in this folder (it keeps the old folder's path, which may not even exist any more)."""
    for state in (read_checkpoint(last).get("callbacks") or {}).values():
        if isinstance(state, dict) and state.get("monitor") == MONITOR and state.get("best_model_path"):
            path = Path(dirpath or last.parent) / Path(state["best_model_path"]).name
            if path.exists():
                return str(path), state.get("best_model_score")
    return None, None


def fit(
    module: pl.LightningModule, train_loader: DataLoader, val_loader: DataLoader, trainer: pl.Trainer, *,
    restore_best: bool = True,
) -> dict[str, Any]:
    """Train ``module``, resuming from the trainer's ``last.ckpt`` when there is one.

    - no ``last.ckpt``: train from scratch;
    - ``last.ckpt`` of an unfinished run (killed, crashed): continue after its last finished epoch;
    - ``last.ckpt`` of a finished run (``max_epochs`` reached or stopped early): train nothing.

    Args:
        module: the training recipe (e.g. :class:`~s2kd.training.module.ForecastModule`).
        train_loader: training batches.
        val_loader: validation batches.
        trainer: from :func:`make_trainer`.
        restore_best: ``module`` ends with the best epoch's weights (lowest ``val_mse``); with
            ``False``, with the last epoch's.

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
    best_cb = next(c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.monitor == MONITOR)
    early = next(c for c in trainer.callbacks if isinstance(c, ResumableEarlyStopping))
    collector = next(c for c in trainer.callbacks if isinstance(c, EpochMetricsCollector))
    last = Path(best_cb.dirpath) / LAST_CHECKPOINT
    resumed_from = 0
    if last.exists():  # refuse a damaged file with its name and the fix; saved at an epoch's end
        resumed_from = int(read_checkpoint(last)["epoch"]) + 1
        logger.info("resuming from %s after epoch %d of %d", last, resumed_from, trainer.max_epochs)
    with warnings.catch_warnings():
        # resuming from the folder's own last.ckpt, or starting in a folder without checkpoints (only its lock
        # and run file): a non-empty folder is expected; Lightning's warning stays for old checkpoints
        if resumed_from or not any(last.parent.glob("*.ckpt")):
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        if not resumed_from:  # a fresh run: "last" finds nothing to resume, as expected
            warnings.filterwarnings("ignore", message=r'.*ckpt_path="last"\) is set, but there is no last checkpoint')
        trainer.fit(module, train_loader, val_loader, ckpt_path="last")

    best_path, score = best_cb.best_model_path or None, best_cb.best_model_score
    if resumed_from and (score is None or not (best_path and Path(best_path).parent == last.parent)):
        best_path, score = _moved_best(last, best_cb.dirpath)
    if restore_best and best_path and Path(best_path).exists():
        state = read_checkpoint(best_path)["state_dict"]
        module.load_state_dict({k: v.clone() for k, v in state.items()})
    elif restore_best:
        logger.warning("no best checkpoint found (%s); the module keeps the last epoch's weights", best_path)
    epochs_run = int(trainer.current_epoch)
    score = float(score.item() if isinstance(score, torch.Tensor) else score) if score is not None else None
    summary = {
        "best_val_mse": score if score is not None and math.isfinite(score) else None,
        "best_checkpoint": best_path,
        "last_checkpoint": str(last) if last.exists() else None,
        "epochs_run": epochs_run,
        "epochs_trained_now": epochs_run - resumed_from,
        "resumed_from_epoch": resumed_from or None,
        "stopped_early": early.stopped_epoch > 0,
        "history": [dict(r) for r in collector.history],
    }
    logger.info("trained %d epochs (%d now), best val_mse %s at %s", epochs_run, summary["epochs_trained_now"],
                summary["best_val_mse"], best_path)
    return summary
