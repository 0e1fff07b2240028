"""Losses of S2-KD and its baselines: ``L = L_task + β·L_sem + λ·L_spec`` (and output KD).

Every loss takes named tensors and returns a scalar; :class:`~s2kd.losses.composite.CompositeLoss`
weights several, reports each term and prints its own formula. Which terms a method uses is the
methods registry's business (:data:`s2kd.training.methods.METHODS`). Library code: no Kedro, no MLflow.
"""

from s2kd.losses.composite import CompositeLoss
from s2kd.losses.output_kd import output_kd_loss
from s2kd.losses.semantic import semantic_loss, standardise
from s2kd.losses.spectral import spectral_loss
from s2kd.losses.task import task_loss

__all__ = ["CompositeLoss", "output_kd_loss", "semantic_loss", "spectral_loss", "standardise", "task_loss"]
