"""Anomaly correlation coefficient (ACC) against a climatology, per lead time and channel.

For each forecast, lead and channel, the forecast and true anomalies ``a = x − clim`` are correlated
over the grid with area weights ``w`` (uncentred, as WeatherBench 2):
``ACC = Σ w·a_f·a_t / sqrt(Σ w·a_f² · Σ w·a_t²)``; the result is the mean over forecasts.
"""

from __future__ import annotations

import torch
from torch import Tensor

from s2kd.metrics.pointwise import check


def acc(pred: Tensor, truth: Tensor, climatology: Tensor, weights: Tensor | None = None) -> Tensor:
    """ACC per lead time and channel, ``(T, C)``.

    Args:
        pred, truth: ``(N, T, C, H, W)``.
        climatology: the expected value at each target, broadcastable to ``(N, T, C, H, W)`` (e.g.
            the training climatology at each target time, or the training mean ``(C, 1, 1)``).
        weights: ``(H, W)`` area weights; ``None`` for equal weights.

    Returns:
        ``(T, C)``; a forecast whose true or forecast anomaly is zero everywhere counts as 0.
    """
    pred, truth = check(pred, truth)
    clim = torch.as_tensor(climatology, dtype=torch.float64).expand_as(truth)
    w = torch.ones(pred.shape[-2:], dtype=torch.float64) if weights is None else weights.double()
    af, at = pred - clim, truth - clim
    num = (w * af * at).sum(dim=(-2, -1))
    den = ((w * af.pow(2)).sum(dim=(-2, -1)) * (w * at.pow(2)).sum(dim=(-2, -1))).sqrt()
    corr = torch.where(den > 0, num / den.clamp_min(1e-300), torch.zeros_like(num))
    return corr.mean(dim=0)
