"""The banded spectral loss: L1 between two fields in the 2-D Fourier domain, per radial band."""

from __future__ import annotations

import torch
from torch import Tensor

from s2kd.models.spectral import radial_frequency


def spectral_loss(
    student: Tensor, teacher: Tensor, *, cutoff: float = 0.25, w_low: float = 1.0, w_high: float = 1.0,
    amplitude_only: bool = False,
) -> Tensor:
    """``L_spec = w_low · mean_{r≤r_c} |F(a) − F(b)| + w_high · mean_{r>r_c} |F(a) − F(b)|``.

    ``F = rfft2(·, norm="ortho")`` over the last two dims (H, W); ``r`` is the radial frequency in
    cycles/sample; the means run over batch, channels and the rfft2 bins of each band.

    Args:
        student: ``P(H_s)``, ``(..., H, W)``.
        teacher: ``H_t``, same shape (treated as a constant).
        cutoff: ``r_c`` in (0, 0.5].
        w_low: weight of the low band (``1`` by default).
        w_high: weight of the high band (``α``).
        amplitude_only: compare ``|F(a)|`` and ``|F(b)|`` (phase ignored).

    Returns:
        A scalar.
    """
    assert student.shape == teacher.shape, f"student {tuple(student.shape)} != teacher {tuple(teacher.shape)}"
    h, w = student.shape[-2:]
    fa = torch.fft.rfft2(student.float(), norm="ortho")
    fb = torch.fft.rfft2(teacher.detach().float(), norm="ortho")
    diff = (fa.abs() - fb.abs()).abs() if amplitude_only else (fa - fb).abs()  # (..., h, w//2+1)
    low = radial_frequency(h, w, device=diff.device) <= cutoff
    total = diff.new_zeros(())
    if low.any():
        total = total + w_low * diff[..., low].mean()
    if (~low).any():
        total = total + w_high * diff[..., ~low].mean()
    return total
