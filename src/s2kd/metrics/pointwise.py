"""Point-wise forecast errors per lead time: MSE, MAE, (latitude-weighted) RMSE, PSNR.

Every function takes ``pred`` and ``truth`` of shape ``(N, T, C, H, W)`` (samples, lead times,
channels, grid) and returns a ``(T,)`` float64 tensor: the metric at each lead time over all
samples, channels and grid points. Average over leads with ``.mean()``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check(pred: Tensor, truth: Tensor) -> tuple[Tensor, Tensor]:
    if pred.shape != truth.shape or pred.ndim != 5:
        raise ValueError(f"pred {tuple(pred.shape)} and truth {tuple(truth.shape)} must both be (N, T, C, H, W)")
    return pred.double(), truth.double()


def mse(pred: Tensor, truth: Tensor) -> Tensor:
    """Mean squared error per lead time."""
    pred, truth = _check(pred, truth)
    return (pred - truth).pow(2).mean(dim=(0, 2, 3, 4))


def mae(pred: Tensor, truth: Tensor) -> Tensor:
    """Mean absolute error per lead time."""
    pred, truth = _check(pred, truth)
    return (pred - truth).abs().mean(dim=(0, 2, 3, 4))


def rmse(pred: Tensor, truth: Tensor, weights: Tensor | None = None) -> Tensor:
    """Root of the area-weighted mean squared error per lead time (WeatherBench's RMSE).

    Args:
        weights: ``(H, W)`` area weights (:func:`s2kd.metrics.weights.grid_weights`); ``None`` for
            equal weights.
    """
    pred, truth = _check(pred, truth)
    w = torch.ones(pred.shape[-2:], dtype=torch.float64) if weights is None else weights.double()
    w = w / w.mean()
    return ((pred - truth).pow(2) * w).mean(dim=(0, 2, 3, 4)).sqrt()


def psnr(pred: Tensor, truth: Tensor, data_range: Tensor | float | None = None) -> Tensor:
    """Peak signal-to-noise ratio in dB per lead time, ``10·log10(range² / MSE)``.

    Args:
        data_range: the value range; default the truth's ``max − min`` over all samples.
    """
    pred, truth = _check(pred, truth)
    rng = truth.max() - truth.min() if data_range is None else torch.as_tensor(data_range, dtype=torch.float64)
    return 10.0 * torch.log10(rng.pow(2) / mse(pred, truth).clamp_min(1e-300))
