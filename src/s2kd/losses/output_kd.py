"""Output (response-based) distillation."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def output_kd_loss(y_student: Tensor, y_teacher: Tensor) -> Tensor:
    """``MSE(ŷ_s, ŷ_t)``: the student's forecast pulled onto the frozen teacher's (no gradient to it)."""
    assert y_student.shape == y_teacher.shape, f"student {tuple(y_student.shape)} != teacher {tuple(y_teacher.shape)}"
    return F.mse_loss(y_student, y_teacher.detach())
