"""The semantic loss: the projected student latent pulled onto a teacher latent that carries the text."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

#: ``mse`` and ``cosine`` compare each sample's latents place by place (FitNets-like); ``relational``
#: compares how the samples of a batch resemble one another (similarity-preserving KD, Tung & Mori 2019)
KINDS = ("mse", "cosine", "relational")


def standardise(z: Tensor, eps: float = 1e-5) -> Tensor:
    """ν: per-sample, per-channel standardisation over space of ``(B, d, h, w)``."""
    mean = z.mean(dim=(-2, -1), keepdim=True)
    std = z.std(dim=(-2, -1), keepdim=True, unbiased=False)
    return (z - mean) / (std + eps)


def _batch_similarity(z: Tensor) -> Tensor:
    """``(B, B)`` cosine similarities of the standardised, flattened samples of ``z``."""
    flat = F.normalize(z.flatten(1), dim=1)
    return flat @ flat.T


def semantic_loss(student: Tensor, teacher: Tensor, *, kind: str = "mse") -> Tensor:
    """``L_sem = MSE(ν(P(H_s)), ν(H_t))``, or ``1 − cosine`` per sample and channel over space, or the
    relational form ``MSE(S(ν(P(H_s))), S(ν(H_t)))`` with ``S`` the batch's ``(B, B)`` cosine similarities.

    Args:
        student: the projected student latent ``P(H_s)``, ``(B, d, h, w)``.
        teacher: the teacher latent ``H_t``, same shape (treated as a constant).
        kind: one of :data:`KINDS`.

    Returns:
        A scalar; invariant to a per-channel affine rescaling (positive scale) of either side.
    """
    assert student.shape == teacher.shape, f"student latent {tuple(student.shape)} != teacher {tuple(teacher.shape)}"
    s, t = standardise(student), standardise(teacher.detach())
    if kind == "mse":
        return F.mse_loss(s, t)
    if kind == "cosine":
        return (1.0 - F.cosine_similarity(s.flatten(-2), t.flatten(-2), dim=-1)).mean()
    if kind == "relational":
        return F.mse_loss(_batch_similarity(s), _batch_similarity(t))
    raise ValueError(f"semantic loss kind {kind!r} is not one of {KINDS}")


__all__ = ["KINDS", "semantic_loss", "standardise"]
