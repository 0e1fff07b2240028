"""Forecast metrics (DESIGN.md section 8) and model efficiency. Library code: no Kedro, no MLflow.

``score_forecast`` computes every metric of ``METRICS`` per lead time and per channel on one model's
test forecasts and returns tidy rows ``(metric, channel, lead, value)``: ``lead = 0`` holds the
value over all lead times, ``channel = "all"`` the value over all channels where one makes sense
(normalised or dimensionless metrics; a metric in physical units is reported per variable only).
docs/evaluation.md gives each metric's formula and the OpenSTL / WeatherBench 2 name it matches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from s2kd.metrics.acc import acc
from s2kd.metrics.pointwise import frame_sum, mae, mse, psnr, psnr_per_frame, rmse, rmse_per_forecast
from s2kd.metrics.spectral import radial_power_spectrum, spectral_error
from s2kd.metrics.ssim import ssim, ssim_openstl
from s2kd.metrics.weights import cell_area_weights, grid_weights

#: the channel value of the rows over all channels
ALL = "all"


@dataclass(frozen=True)
class ForecastSet:
    """One model's forecasts on the test windows, with what the metrics need.

    Attributes:
        pred, truth: ``(N, T, C, H, W)`` in normalised units.
        offset, scale: ``(C,)`` the normalisation: physical = normalised · scale + offset.
        climatology: normalised climatology at each target, broadcastable to ``truth``.
        weights: ``(H, W)`` area weights.
        low, data_range: ``(C,)`` the training split's minimum and range (max − min), in normalised
            units: PSNR's and SSIM's ``L``, and the [0, 1] scaling of OpenSTL's SSIM and PSNR.
    """

    pred: Tensor
    truth: Tensor
    offset: Tensor
    scale: Tensor
    climatology: Tensor
    weights: Tensor
    low: Tensor
    data_range: Tensor

    def physical(self, x: Tensor) -> Tensor:
        return x.double() * self.scale.double()[:, None, None] + self.offset.double()[:, None, None]

    @cached_property
    def spectral(self) -> dict[str, Tensor]:
        """The spectral error of every band (:func:`spectral_error`), computed once for the three metrics."""
        return spectral_error(self.pred, self.truth)

    @cached_property
    def unit(self) -> tuple[Tensor, Tensor]:
        """``(pred, truth)`` min–max scaled with the training range (the training split spans [0, 1]),
        the forecast clipped to [0, 1]: the frames OpenSTL's SSIM and PSNR read."""
        low, rng = self.low.double()[:, None, None], self.data_range.double()[:, None, None]
        return ((self.pred.double() - low) / rng).clamp(0.0, 1.0), (self.truth.double() - low) / rng


@dataclass(frozen=True)
class Metric:
    """A metric: ``(T, C)`` values of a :class:`ForecastSet`, and how they are summarised.

    Attributes:
        compute: the values per lead time and channel.
        higher_is_better: ACC, SSIM, PSNR.
        channels: the ``all`` row: ``mean`` (or ``sum``) of the channels' values, ``joint`` (``joint``
            computes it from all channels at once), or ``none`` (physical units: per variable only).
        over_leads: the ``lead = 0`` value: ``mean`` of the per-lead values, or ``rms`` (the root of
            the mean square: for an RMSE, the root of the MSE over all leads).
        joint: ``(T,)`` values over all channels at once, for ``channels="joint"``.
    """

    compute: Callable[[ForecastSet], Tensor]
    higher_is_better: bool = False
    channels: str = "mean"
    over_leads: str = "mean"
    joint: Callable[[ForecastSet], Tensor] | None = None


def _band(name: str) -> Callable[[ForecastSet], Tensor]:
    return lambda f: f.spectral[name]


METRICS: dict[str, Metric] = {
    # normalised units, area-weighted on lat/lon grids
    "mse": Metric(lambda f: mse(f.pred, f.truth, f.weights)),
    "mae": Metric(lambda f: mae(f.pred, f.truth, f.weights)),
    # physical units, per variable
    "mse_physical": Metric(lambda f: mse(f.physical(f.pred), f.physical(f.truth), f.weights), channels="none"),
    "mae_physical": Metric(lambda f: mae(f.physical(f.pred), f.physical(f.truth), f.weights), channels="none"),
    "rmse_physical": Metric(lambda f: rmse(f.physical(f.pred), f.physical(f.truth), f.weights), channels="none",
                            over_leads="rms"),
    "rmse_physical_per_forecast": Metric(
        lambda f: rmse_per_forecast(f.physical(f.pred), f.physical(f.truth), f.weights), channels="none"),
    # scores
    "acc": Metric(lambda f: acc(f.pred, f.truth, f.climatology, f.weights), higher_is_better=True),
    "ssim": Metric(lambda f: ssim(f.pred, f.truth, f.data_range), higher_is_better=True),
    "psnr": Metric(lambda f: psnr(f.pred, f.truth, f.data_range), higher_is_better=True),
    "spectral_error_low": Metric(_band("low")),
    "spectral_error_mid": Metric(_band("mid")),
    "spectral_error_high": Metric(_band("high")),
    # OpenSTL's conventions (unweighted)
    "mse_openstl": Metric(lambda f: frame_sum(f.pred, f.truth, 2), channels="sum"),
    "mae_openstl": Metric(lambda f: frame_sum(f.pred, f.truth, 1), channels="sum"),
    "ssim_openstl": Metric(lambda f: ssim_openstl(*f.unit), higher_is_better=True),
    "psnr_openstl": Metric(lambda f: psnr_per_frame(*f.unit), higher_is_better=True, channels="joint",
                           joint=lambda f: psnr_per_frame(*f.unit, channels=False)),
}


def _over_leads(values: Tensor, how: str) -> float:
    return float(torch.nanmean(values.pow(2)).sqrt() if how == "rms" else torch.nanmean(values))


def _over_channels(metric: Metric, values: Tensor, forecast: ForecastSet) -> Tensor | None:
    if metric.channels == "mean":
        return values.mean(dim=1)
    if metric.channels == "sum":
        return values.sum(dim=1)
    if metric.channels == "joint":
        return metric.joint(forecast)
    return None


def score_forecast(forecast: ForecastSet, channels: list[str]) -> list[dict[str, float | int | str]]:
    """Every metric per lead time (``lead`` 1..T) and over all leads (``lead`` 0), per channel (named
    by ``channels``) and over all channels (``channel = "all"``) where the metric has such a value."""
    rows: list[dict[str, float | int | str]] = []
    for name, metric in METRICS.items():
        values = metric.compute(forecast)  # (T, C)
        series = {channel: values[:, c] for c, channel in enumerate(channels)}
        pooled = _over_channels(metric, values, forecast)
        if pooled is not None:
            series[ALL] = pooled
        for channel, per_lead in series.items():
            rows += [{"metric": name, "channel": channel, "lead": t + 1, "value": float(v)}
                     for t, v in enumerate(per_lead)]
            rows.append({"metric": name, "channel": channel, "lead": 0,
                         "value": _over_leads(per_lead, metric.over_leads)})
    return rows


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (ACC, SSIM, PSNR)."""
    return METRICS[metric].higher_is_better


__all__ = ["ALL", "METRICS", "ForecastSet", "Metric", "acc", "cell_area_weights", "frame_sum", "grid_weights",
           "higher_is_better", "mae", "mse", "psnr", "psnr_per_frame", "radial_power_spectrum", "rmse",
           "rmse_per_forecast", "score_forecast", "spectral_error", "ssim", "ssim_openstl"]
