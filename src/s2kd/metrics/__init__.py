"""Forecast metrics (DESIGN.md section 8) and model efficiency. Library code: no Kedro, no MLflow.

``score_forecast`` computes every metric of ``METRICS`` per lead time on one model's test
forecasts and returns tidy rows ``(metric, lead, value)``; ``lead = 0`` holds the mean over leads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from s2kd.metrics.acc import acc
from s2kd.metrics.pointwise import mae, mse, psnr, rmse
from s2kd.metrics.spectral import radial_power_spectrum, spectral_error
from s2kd.metrics.ssim import ssim
from s2kd.metrics.weights import grid_weights, latitude_weights


@dataclass(frozen=True)
class ForecastSet:
    """One model's forecasts on the test windows, with what the metrics need.

    Attributes:
        pred, truth: ``(N, T, C, H, W)`` in normalised units.
        offset, scale: ``(C,)`` the normalisation: physical = normalised · scale + offset.
        climatology: normalised climatology at each target, broadcastable to ``truth``.
        weights: ``(H, W)`` area weights.
    """

    pred: Tensor
    truth: Tensor
    offset: Tensor
    scale: Tensor
    climatology: Tensor
    weights: Tensor

    def physical(self, x: Tensor) -> Tensor:
        return x.double() * self.scale.double()[:, None, None] + self.offset.double()[:, None, None]


# name -> (function of a ForecastSet giving (T,) values, higher is better)
METRICS: dict[str, tuple[Callable[[ForecastSet], Tensor], bool]] = {
    "mse": (lambda f: mse(f.pred, f.truth), False),
    "mae": (lambda f: mae(f.pred, f.truth), False),
    "mse_physical": (lambda f: mse(f.physical(f.pred), f.physical(f.truth)), False),
    "mae_physical": (lambda f: mae(f.physical(f.pred), f.physical(f.truth)), False),
    "rmse_physical": (lambda f: rmse(f.physical(f.pred), f.physical(f.truth), f.weights), False),
    "acc": (lambda f: acc(f.pred, f.truth, f.climatology, f.weights), True),
    "ssim": (lambda f: ssim(f.pred, f.truth), True),
    "psnr": (lambda f: psnr(f.pred, f.truth), True),
    "spectral_error_low": (lambda f: spectral_error(f.pred, f.truth)["low"], False),
    "spectral_error_mid": (lambda f: spectral_error(f.pred, f.truth)["mid"], False),
    "spectral_error_high": (lambda f: spectral_error(f.pred, f.truth)["high"], False),
}


def score_forecast(forecast: ForecastSet) -> list[dict[str, float | int | str]]:
    """Every metric per lead time (``lead`` 1..T) and averaged over leads (``lead`` 0)."""
    rows: list[dict[str, float | int | str]] = []
    for name, (fn, _) in METRICS.items():
        values = fn(forecast)
        rows += [{"metric": name, "lead": i + 1, "value": float(v)} for i, v in enumerate(values)]
        rows.append({"metric": name, "lead": 0, "value": float(torch.nanmean(values))})
    return rows


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (ACC, SSIM, PSNR)."""
    return METRICS[metric][1]


__all__ = ["METRICS", "ForecastSet", "acc", "grid_weights", "higher_is_better", "latitude_weights", "mae", "mse",
           "psnr", "radial_power_spectrum", "rmse", "score_forecast", "spectral_error", "ssim"]
