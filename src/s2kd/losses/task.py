"""The task loss."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def task_loss(y_hat: Tensor, y: Tensor) -> Tensor:
    """``L_task = MSE(ŷ, y)`` on normalised values, any matching shapes (``(B, T, C, H, W)``)."""
    assert y_hat.shape == y.shape, f"prediction {tuple(y_hat.shape)} != target {tuple(y.shape)}"
    return F.mse_loss(y_hat, y)
