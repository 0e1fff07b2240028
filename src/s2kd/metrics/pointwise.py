"""Point-wise forecast errors per lead time and channel.

Every function takes ``pred`` and ``truth`` of shape ``(N, T, C, H, W)`` (forecasts, lead times,
channels, grid) and returns a ``(T, C)`` float64 tensor: the metric at each lead time and channel,
over all forecasts and grid points. ``weights`` are ``(H, W)`` area weights
(:func:`s2kd.metrics.weights.grid_weights`), used as a weighted mean (normalised to mean 1 here).
"""

from __future__ import annotations

import torch
from torch import Tensor


def check(pred: Tensor, truth: Tensor) -> tuple[Tensor, Tensor]:
    """Both as float64, after checking they are ``(N, T, C, H, W)`` of one shape."""
    if pred.shape != truth.shape or pred.ndim != 5:
        raise ValueError(f"pred {tuple(pred.shape)} and truth {tuple(truth.shape)} must both be (N, T, C, H, W)")
    return pred.double(), truth.double()


def _mean_weights(weights: Tensor | None, shape: tuple[int, ...]) -> Tensor:
    w = torch.ones(shape[-2:], dtype=torch.float64) if weights is None else weights.double()
    return w / w.mean()


def spatial_mean(values: Tensor, weights: Tensor | None = None) -> Tensor:
    """The area-weighted mean over the grid of ``(..., H, W)`` values: ``(...)``."""
    return (values * _mean_weights(weights, values.shape)).mean(dim=(-2, -1))


def mse(pred: Tensor, truth: Tensor, weights: Tensor | None = None) -> Tensor:
    """``mean_n mean_ij w_ij (ŷ − y)²``: the (area-weighted) mean squared error."""
    pred, truth = check(pred, truth)
    return spatial_mean((pred - truth).pow(2), weights).mean(dim=0)


def mae(pred: Tensor, truth: Tensor, weights: Tensor | None = None) -> Tensor:
    """``mean_n mean_ij w_ij |ŷ − y|``: the (area-weighted) mean absolute error."""
    pred, truth = check(pred, truth)
    return spatial_mean((pred - truth).abs(), weights).mean(dim=0)


def rmse(pred: Tensor, truth: Tensor, weights: Tensor | None = None) -> Tensor:
    """``sqrt(mean_n mean_ij w_ij (ŷ − y)²)``: the root of the mean over forecasts of the area-weighted
    MSE (WeatherBench 2's RMSE: ``MSE``, then the square root)."""
    return mse(pred, truth, weights).sqrt()


def rmse_per_forecast(pred: Tensor, truth: Tensor, weights: Tensor | None = None) -> Tensor:
    """``mean_n sqrt(mean_ij w_ij (ŷ − y)²)``: the mean over forecasts of each forecast's RMSE
    (WeatherBench 2's ``RMSESqrtBeforeTimeAvg``)."""
    pred, truth = check(pred, truth)
    return spatial_mean((pred - truth).pow(2), weights).sqrt().mean(dim=0)


def frame_sum(pred: Tensor, truth: Tensor, power: int) -> Tensor:
    """``mean_n Σ_ij |ŷ − y|^p``: OpenSTL's MSE (``p = 2``) or MAE (``p = 1``) with ``spatial_norm=False``,
    unweighted, per channel (their sum over channels is OpenSTL's value over ``C·H·W``)."""
    pred, truth = check(pred, truth)
    return (pred - truth).abs().pow(power).sum(dim=(-2, -1)).mean(dim=0)


def psnr(pred: Tensor, truth: Tensor, data_range: Tensor) -> Tensor:
    """``10·log10(L_c² / MSE)`` in dB, the MSE unweighted over forecasts and grid, ``L_c`` the channel's
    value range (``data_range``, ``(C,)``: the training split's, so it does not move with the test windows)."""
    rng = torch.as_tensor(data_range, dtype=torch.float64)
    return 10.0 * torch.log10(rng.pow(2) / mse(pred, truth).clamp_min(1e-300))


def psnr_per_frame(pred: Tensor, truth: Tensor, *, channels: bool = True) -> Tensor:
    """``mean_n −10·log10(mean_ij (ŷ − y)²)``, the mean over forecasts of each frame's PSNR for values in
    [0, 1] (OpenSTL's ``PSNR``): ``(T, C)``, or over all channels of a frame at once with
    ``channels=False`` (``(T,)``, OpenSTL's value for a multi-channel frame)."""
    pred, truth = check(pred, truth)
    err = (pred - truth).pow(2)
    frame_mse = err.mean(dim=(-2, -1)) if channels else err.mean(dim=(-3, -2, -1))
    return (-10.0 * torch.log10(frame_mse.clamp_min(1e-300))).mean(dim=0)
