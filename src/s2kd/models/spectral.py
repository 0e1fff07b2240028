"""Radial frequency bands of 2-D fields and an FNO spectral convolution.

Conventions (shared with the spectral loss): ``F = torch.fft.rfft2(·, norm="ortho")`` over the last
two dims; the radial frequency of bin ``(ky, kx)`` is ``r = sqrt(fy² + fx²)`` in cycles/sample, with
``fy = fftfreq(h)``, ``fx = rfftfreq(w)``, so ``r`` runs from 0 to ``sqrt(0.5² + 0.5²)``. The low band
is ``r <= cutoff`` (default 0.25, the SDKD re-implementation's value).

FFTs run with autocast off, half precision promoted to float32 (cuFFT's half precision only takes
power-of-two sizes); float64 stays float64.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor, nn


def _fp32(x: Tensor):
    """A context with autocast switched off on ``x``'s device (no-op where autocast does not exist)."""
    if x.device.type in ("cpu", "cuda"):
        return torch.autocast(device_type=x.device.type, enabled=False)
    return nullcontext()


def _fft_dtype(x: Tensor) -> Tensor:
    """``x`` in a dtype FFTs take everywhere: float32 for half precision, else unchanged."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


@lru_cache(maxsize=64)
def _radial_array(h: int, w: int) -> np.ndarray:
    # cached as numpy, not as a tensor: one made while torch.export traces is fake (see blocks._sincos_2d)
    fy = np.fft.fftfreq(h)[:, None]  # (h, 1)
    fx = np.fft.rfftfreq(w)[None, :]  # (1, w//2+1)
    out = np.sqrt(fy**2 + fx**2).astype(np.float32)  # (h, w//2+1)
    out.setflags(write=False)
    return out


def _radial(h: int, w: int) -> Tensor:
    return torch.tensor(_radial_array(h, w))


def radial_frequency(h: int, w: int, *, device: torch.device | str | None = None) -> Tensor:
    """Radial frequency ``(h, w//2+1)`` in cycles/sample of each ``rfft2`` bin of an ``h x w`` grid."""
    assert h >= 1 and w >= 1, f"grid must be at least 1x1, got {h}x{w}"
    return _radial(int(h), int(w)).to(device)


def lowpass_mask(h: int, w: int, cutoff: float, *, device: torch.device | str | None = None) -> Tensor:
    """Bool ``(h, w//2+1)``: the ``rfft2`` bins with ``r <= cutoff``."""
    assert cutoff >= 0, f"cutoff must be >= 0 cycles/sample, got {cutoff}"
    return radial_frequency(h, w, device=device) <= cutoff


def lowpass(z: Tensor, cutoff: float) -> Tensor:
    """The part of ``z (..., h, w)`` with radial frequency ``<= cutoff``; same shape and dtype.

    ``irfft2(rfft2(z, norm="ortho") * mask, s=(h, w), norm="ortho")`` with the radial mask of
    :func:`lowpass_mask`. The mask is symmetric in ``fy``, so the masked spectrum stays Hermitian and
    ``lowpass`` is an exact projection: ``lowpass(lowpass(z)) == lowpass(z)``.
    """
    assert z.ndim >= 2, f"lowpass needs (..., h, w), got shape {tuple(z.shape)}"
    h, w = z.shape[-2:]
    with _fp32(z):
        spec = torch.fft.rfft2(_fft_dtype(z), norm="ortho")  # (..., h, w//2+1) complex
        spec = spec * lowpass_mask(h, w, cutoff, device=z.device)
        low = torch.fft.irfft2(spec, s=(h, w), norm="ortho")  # (..., h, w)
    return low.to(z.dtype)


def split_bands(z: Tensor, cutoff: float) -> tuple[Tensor, Tensor]:
    """``(low, high)`` with ``low = lowpass(z, cutoff)`` and ``high = z - low`` (so ``low + high == z``)."""
    low = lowpass(z, cutoff)
    return low, z - low


class SpectralConv2d(nn.Module):
    """FNO spectral convolution: learned complex channel mixing of the lowest Fourier modes.

    ``(N, dim, h, w) -> (N, dim, h, w)``. Keeps the ``rfft2(x, norm="ortho")`` bins with row
    frequency index ``|ky| < n_modes`` and column index ``kx < n_modes`` (a symmetric window, unlike
    the original FNO's, which keeps one more negative row), multiplies each kept bin by its own
    ``dim x dim`` complex matrix and zeroes the rest. On grids too small for ``n_modes`` the window is
    clamped; a bin's weight depends on its frequency index, not on the grid, so one set of weights
    fits every grid. Weights are stored as a real ``(..., 2)`` tensor so that optimisers, clipping
    and checkpoints never meet complex parameters.
    """

    def __init__(self, dim: int, *, n_modes: int) -> None:
        super().__init__()
        assert n_modes >= 1, f"n_modes must be >= 1, got {n_modes}"
        self.dim, self.n_modes = dim, n_modes
        std = (1.0 / (2 * dim)) ** 0.5  # complex weights with variance 1/dim: a unit-gain mix
        # (in, out, ky = 0..m-1 then -(m-1)..-1, kx = 0..m-1, real/imag)
        self.weight = nn.Parameter(std * torch.randn(dim, dim, 2 * n_modes - 1, n_modes, 2))

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        assert c == self.dim, f"SpectralConv2d expects {self.dim} channels, got {c}"
        m = self.n_modes
        top, bottom, cols = min(m, (h + 1) // 2), min(m - 1, h // 2), min(m, w // 2 + 1)
        with _fp32(x):
            spec = torch.fft.rfft2(_fft_dtype(x), norm="ortho")  # (N, C, h, w//2+1)
            weight = torch.view_as_complex(self.weight.to(spec.real.dtype))  # (C, C, 2m-1, m)
            out = torch.zeros(n, c, h, w // 2 + 1, dtype=spec.dtype, device=x.device)
            out[:, :, :top, :cols] = torch.einsum(
                "bixy,ioxy->boxy", spec[:, :, :top, :cols], weight[:, :, :top, :cols])
            if bottom:
                out[:, :, h - bottom:, :cols] = torch.einsum(
                    "bixy,ioxy->boxy", spec[:, :, h - bottom:, :cols], weight[:, :, 2 * m - 1 - bottom:, :cols])
            y = torch.fft.irfft2(out, s=(h, w), norm="ortho")  # (N, C, h, w)
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_modes={self.n_modes}"
