"""Training engine: Lightning recipes, callbacks, a resumable ``fit`` (DESIGN.md section 9).

Networks live in ``s2kd.models`` and know nothing of training; this package wraps any network that
follows the contract of :mod:`s2kd.training.module`. It never imports Kedro or MLflow: a Lightning
``logger`` (e.g. ``MLFlowLogger``) is passed in by the caller.
"""

from s2kd.training.callbacks import EpochMetricsCollector, FiniteLossCallback
from s2kd.training.data import EpochSeededSampler, TextWindowDataset, make_loaders
from s2kd.training.module import ForecastModule, task_mse_loss
from s2kd.training.trainer import TrainerParams, fit, make_trainer, read_checkpoint

__all__ = [
    "EpochMetricsCollector", "EpochSeededSampler", "FiniteLossCallback", "ForecastModule", "TextWindowDataset",
    "TrainerParams", "fit", "make_loaders", "make_trainer", "read_checkpoint", "task_mse_loss",
]
