"""The semantic loss: the projected student latent pulled onto the teacher's fused latent."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

KINDS = ("mse", "cosine")


def standardise(z: Tensor, eps: float = 1e-5) -> Tensor:
    """ν: per-sample, per-channel standardisation over space of ``(B, d, h, w)``."""
    mean = z.mean(dim=(-2, -1), keepdim=True)
    std = z.std(dim=(-2, -1), keepdim=True, unbiased=False)
    return (z - mean) / (std + eps)


def semantic_loss(student: Tensor, teacher: Tensor, *, kind: str = "mse") -> Tensor:
    """``L_sem = MSE(ν(P(H_s)), ν(H_t))`` (or ``1 − cosine`` per sample and channel over space).

    Args:
        student: the projected student latent ``P(H_s)``, ``(B, d, h, w)``.
        teacher: the teacher's fused latent ``H_t``, same shape (treated as a constant).
        kind: ``mse`` or ``cosine``.

    Returns:
        A scalar; invariant to a per-channel affine rescaling (positive scale) of either side.
    """
    assert student.shape == teacher.shape, f"student latent {tuple(student.shape)} != teacher {tuple(teacher.shape)}"
    s, t = standardise(student), standardise(teacher.detach())
    if kind == "mse":
        return F.mse_loss(s, t)
    if kind == "cosine":
        return (1.0 - F.cosine_similarity(s.flatten(-2), t.flatten(-2), dim=-1)).mean()
    raise ValueError(f"semantic loss kind {kind!r} is not one of {KINDS}")


__all__ = ["KINDS", "semantic_loss", "standardise"]
