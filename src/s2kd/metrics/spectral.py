"""Spectral errors: how much of each band of spatial frequencies a forecast gets wrong.

Each ``(H, W)`` frame has its mean removed and is multiplied by a separable Hann window before an
orthonormal 2-D FFT; the DC bin is dropped. With ``r`` the radial frequency in cycles/pixel
(``sqrt(f_y² + f_x²)``, ``np.fft.fftfreq``), the bands are low ``r ≤ 1/8``, mid ``1/8 < r ≤ 1/4``
and high ``r > 1/4``, and the error of a band is ``Σ|F(ŷ) − F(y)|² / Σ|F(y)|²`` over its bins and
all forecasts, per lead time and channel. A perfect forecast scores 0 in every band; noise confined
to high frequencies raises only the high band.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from s2kd.metrics.pointwise import check

BANDS = {"low": (0.0, 1 / 8), "mid": (1 / 8, 1 / 4), "high": (1 / 4, np.inf)}


def radial_frequency(height: int, width: int) -> Tensor:
    """``(H, W)`` radial frequency of each ``fft2`` bin in cycles/pixel."""
    fy = torch.from_numpy(np.fft.fftfreq(height))[:, None]
    fx = torch.from_numpy(np.fft.fftfreq(width))[None, :]
    return (fy**2 + fx**2).sqrt()


def hann2d(height: int, width: int) -> Tensor:
    """Separable ``(H, W)`` Hann window (symmetric, ``np.hanning``)."""
    return torch.from_numpy(np.outer(np.hanning(height), np.hanning(width)))


def windowed_spectrum(frames: Tensor) -> Tensor:
    """``fft2(ortho)`` of mean-removed, Hann-windowed frames ``(..., H, W)`` (complex128)."""
    frames = frames.double()
    h, w = frames.shape[-2:]
    centred = frames - frames.mean(dim=(-2, -1), keepdim=True)
    return torch.fft.fft2(centred * hann2d(h, w), norm="ortho")


def band_masks(height: int, width: int) -> dict[str, Tensor]:
    """Boolean ``(H, W)`` masks of the bands, DC excluded."""
    r = radial_frequency(height, width)
    return {name: (r > lo) & (r <= hi) for name, (lo, hi) in BANDS.items()}  # r > 0: DC is in no band


def spectral_error(pred: Tensor, truth: Tensor) -> dict[str, Tensor]:
    """``{"low", "mid", "high"}`` → ``(T, C)`` relative spectral error per lead time and channel (NaN
    for a band with no bins on this grid)."""
    pred, truth = check(pred, truth)
    fp, ft = windowed_spectrum(pred), windowed_spectrum(truth)
    err, power = (fp - ft).abs().pow(2), ft.abs().pow(2)
    out = {}
    for name, mask in band_masks(*pred.shape[-2:]).items():
        if not mask.any():
            out[name] = torch.full(pred.shape[1:3], float("nan"), dtype=torch.float64)
            continue
        num = err[..., mask].sum(dim=(0, 3))
        den = power[..., mask].sum(dim=(0, 3))
        out[name] = num / den.clamp_min(1e-300)
    return out


def radial_power_spectrum(frames: Tensor, n_bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of frames ``(..., H, W)``.

    Returns:
        ``(frequency, power)``: bin centres in cycles/pixel (DC excluded, up to 0.5) and the mean
        ``|F|²`` of the windowed spectrum in each bin, averaged over all leading dimensions.
    """
    h, w = frames.shape[-2:]
    power = windowed_spectrum(frames).abs().pow(2).reshape(-1, h, w).mean(dim=0)
    r = radial_frequency(h, w)
    n_bins = n_bins or max(h, w) // 2
    edges = np.linspace(0.0, 0.5, n_bins + 1)
    centres, values = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (r > lo) & (r <= hi)
        if mask.any():
            centres.append((lo + hi) / 2)
            values.append(float(power[mask].mean()))
    return np.asarray(centres), np.asarray(values)
