"""The scoring recipe of ``evaluate``: one trained model on the test windows, once.

:func:`scoring_windows` prepares what every model is scored against (the test windows, the
climatology at each target time, the grid's area weights, the normalisation); :func:`score_model`
runs one model over them and returns its metric rows (every metric per lead time and channel,
:func:`s2kd.metrics.score_forecast`), its efficiency row, its radially averaged power spectrum and the forecasts of the
windows kept for the report. Library code: no Kedro, no MLflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from pydantic import Field
from torch.utils.data import DataLoader

from s2kd.data.climatology import climatology_at, cycles_of, fit_climatology, read_climatology
from s2kd.data.params import LoadingParams
from s2kd.data.splits import split_frames
from s2kd.data.windows import series_array, series_source
from s2kd.errors import InputError
from s2kd.metrics import ALL, ForecastSet, grid_weights, radial_power_spectrum, score_forecast
from s2kd.metrics.forecast import measure_efficiency, model_inputs, predict
from s2kd.metrics.pointwise import spatial_mean
from s2kd.params import Count, Flag, Number, Params, PositiveInt
from s2kd.recipes.jobs import load_model, subsample, text_for, window_dataset


class ClimatologyVariable(Params):
    """The variable (and level) of an external climatology file that holds a channel."""

    variable: str
    level: Number | None = None


class ClimatologyParams(Params):
    """``evaluate.climatology``: what ACC is scored against.

    Attributes:
        path: ``None``: fitted on the training split with the cycles ingest recorded for the source;
            or a file in WeatherBench 2's layout (:func:`s2kd.data.climatology.read_climatology`).
        variables: per channel, its variable (and level) in that file; ``None``: variables named as
            the channels.
    """

    path: str | None = None
    variables: dict[str, ClimatologyVariable] | None = None


class EvaluateParams(Params):
    """The ``evaluate`` group (``conf/base/parameters_evaluate.yml``).

    Attributes:
        batch_size: test windows per forward pass.
        max_test_samples: ``None``: every test window; a number: that many, evenly spaced.
        latency_batch_sizes: median CPU inference latency at these batch sizes.
        latency_warmup: untimed forward passes first.
        latency_repeats: timed forward passes (the median is reported).
        panel_samples: test forecasts kept for the report's panels.
        progress: show a progress bar per model.
        climatology: what ACC is scored against.
    """

    group = "evaluate"

    batch_size: PositiveInt = 64
    max_test_samples: PositiveInt | None = None
    latency_batch_sizes: list[PositiveInt] = Field(default_factory=lambda: [1, 32], min_length=1)
    latency_warmup: Count = 3
    latency_repeats: PositiveInt = 20
    panel_samples: Count = 3
    progress: Flag = True
    climatology: ClimatologyParams = ClimatologyParams()


@dataclass(frozen=True)
class TestWindows:
    """The test windows and what every model is scored with.

    Attributes:
        values: the normalised series ``(time, C, H, W)``.
        rows: the test rows of the sample index (evenly subsampled when asked).
        t_in, t_out: window lengths.
        channels: the channels' names.
        climatology: normalised climatology at each target ``(N, T_out, C, H, W)``.
        climatology_source: ``fitted on the training split (<cycles>)`` or the external file.
        weights: ``(H, W)`` area weights; ``weighting`` says which.
        offset, scale: ``(C,)`` the normalisation: physical = normalised · scale + offset.
        low, data_range: ``(C,)`` the training split's minimum and range, normalised (PSNR's and
            SSIM's ``L``: fixed by training, whatever test windows are scored).
        keep: positions of the windows kept for the report's panels.
        times: the series' timestamps.
    """

    values: np.ndarray
    rows: pd.DataFrame
    t_in: int
    t_out: int
    channels: list[str]
    climatology: torch.Tensor
    climatology_source: str
    weights: torch.Tensor
    weighting: str
    offset: torch.Tensor
    scale: torch.Tensor
    low: torch.Tensor
    data_range: torch.Tensor
    keep: np.ndarray
    times: pd.DatetimeIndex

    def forecast_set(self, pred: torch.Tensor, truth: torch.Tensor) -> ForecastSet:
        """Forecasts of these windows with what their metrics need."""
        return ForecastSet(pred=pred, truth=truth, offset=self.offset, scale=self.scale,
                           climatology=self.climatology, weights=self.weights, low=self.low,
                           data_range=self.data_range)

    def scoring(self) -> dict[str, Any]:
        """What the scores were computed with (kept beside them)."""
        return {"channels": self.channels, "climatology": self.climatology_source,
                "data_range": dict(zip(self.channels, self.data_range.tolist(), strict=True)),
                "weights": self.weighting}


def _climatology(series: xr.Dataset, index: pd.DataFrame, stats: Mapping[str, Any], p: ClimatologyParams,
                 target_times: pd.DatetimeIndex, t_in: int, t_out: int) -> tuple[np.ndarray, str]:
    """The normalised climatology at each target time ``(targets, C, H, W)``, and where it came from."""
    if p.path is None:
        cycles = cycles_of(stats)
        clim = fit_climatology(series["series"], split_frames(index, "train", t_in + t_out), cycles)
        return climatology_at(clim, target_times), f"fitted on the training split ({', '.join(cycles) or 'mean'})"
    if "lat" not in series.coords or "lon" not in series.coords:
        raise InputError("evaluate.climatology.path", "is set, but the series has no latitude/longitude grid",
                         "set it to null (a climatology fitted on the training split)")
    names = {c: (v.variable, v.level) for c, v in (p.variables or {}).items()}
    variables = {c: names.get(c, (c, None)) for c in stats["channels"]}
    physical = read_climatology(p.path, variables, lat=np.asarray(series["lat"].values),
                                lon=np.asarray(series["lon"].values), times=target_times)
    offset = np.asarray(stats["offset"], dtype=np.float32)[None, :, None, None]
    scale = np.asarray(stats["scale"], dtype=np.float32)[None, :, None, None]
    return (physical - offset) / scale, f"external: {p.path}"


def scoring_windows(series: xr.Dataset, index: pd.DataFrame, stats: Mapping[str, Any],
                    p: EvaluateParams, loading: LoadingParams | None = None) -> TestWindows:
    """The test split (the only place it is read) with its climatology, weights and normalisation; its
    windows read from memory or the series' file by ``loading`` (:func:`s2kd.data.windows.series_source`;
    ``None``: memory)."""
    t_in, t_out = int(stats["t_in"]), int(stats["t_out"])
    rows = subsample(index, "test", p.max_test_samples)
    if rows.empty:
        raise InputError("sample_index", "has no test windows", "rerun ingest with a non-zero ingest.splits.test")
    da = series["series"]
    values = series_source(series, loading) if loading is not None else series_array(series)
    times = pd.DatetimeIndex(da["time"].values)
    target_times = times[(rows["start"].to_numpy()[:, None] + t_in + np.arange(t_out)[None, :]).ravel()]
    clim, source = _climatology(series, index, stats, p.climatology, target_times, t_in, t_out)
    lat = np.asarray(series["lat"].values) if series.attrs.get("grid") == "latlon" and "lat" in series.coords else None
    keep = np.linspace(0, len(rows) - 1, min(p.panel_samples, len(rows))).round().astype(int)
    offset, scale = (torch.tensor(stats[k], dtype=torch.float64) for k in ("offset", "scale"))
    low, high = (torch.tensor(stats[k], dtype=torch.float64) for k in ("min", "max"))
    return TestWindows(values=values, rows=rows, t_in=t_in, t_out=t_out, channels=list(stats["channels"]),
                       climatology=torch.from_numpy(clim).reshape(len(rows), t_out, *values.shape[1:]),
                       climatology_source=source, weights=grid_weights(lat, values.shape[-2:]),
                       weighting="area (cell area from latitude bounds)" if lat is not None
                       else "none (no latitude grid)", offset=offset, scale=scale, low=(low - offset) / scale,
                       data_range=(high - low) / scale, keep=keep, times=times)


@dataclass
class ModelScores:
    """One model's results on the test windows.

    Attributes:
        metrics: rows ``{"metric", "channel", "lead", "value"}``.
        efficiency: parameters, FLOPs, peak memory, latency per batch size.
        spectrum: ``(frequency, power)`` of the forecasts.
        output: ``{"pred", "truth", "x", "sample_id"}`` of every window.
        uses_text: whether the model read narratives.
        window_mse: ``(N,)`` each window's (area-weighted) MSE over leads and channels, normalised units.
    """

    metrics: list[dict[str, Any]]
    efficiency: dict[str, Any]
    spectrum: tuple[np.ndarray, np.ndarray]
    output: dict[str, torch.Tensor]
    uses_text: bool
    window_mse: np.ndarray

    def averaged(self) -> dict[str, float]:
        """Over all leads: ``test_<metric>`` over all channels and ``test_<metric>_<channel>`` per
        channel (a physical metric per channel only); ``test_mse_lead<k>`` per lead, all channels."""
        out = {f"test_{r['metric']}" + ("" if r["channel"] == ALL else f"_{r['channel']}"): r["value"]
               for r in self.metrics if r["lead"] == 0}
        return out | {f"test_mse_lead{r['lead']}": r["value"] for r in self.metrics
                      if r["metric"] == "mse" and r["channel"] == ALL and r["lead"] > 0}


def score_model(payload: Mapping[str, Any], test: TestWindows, *, index: pd.DataFrame,
                embeddings: Mapping[str, Any] | None, p: EvaluateParams, name: str = "model") -> ModelScores:
    """Every metric of one model (a payload: ``kind``, ``config``, ``state_dict``, ``meta``) on the test
    windows; a text-reading teacher reads the narratives it was trained with."""
    model = load_model(payload)
    uses_text = bool(getattr(model, "uses_text", False))
    text = text_for(embeddings, index, payload.get("meta") or {}) if uses_text else None
    dataset = window_dataset(test.values, test.rows, t_in=test.t_in, t_out=test.t_out, embeddings=text)
    out = predict(model, dataset, batch_size=p.batch_size, desc=name, progress=p.progress)
    forecast = test.forecast_set(out["pred"], out["truth"])
    example = model_inputs(model, next(iter(DataLoader(dataset, batch_size=1))))
    efficiency = measure_efficiency(model, example, batch_sizes=p.latency_batch_sizes, warmup=p.latency_warmup,
                                    repeats=p.latency_repeats)
    window_mse = spatial_mean((forecast.pred.double() - forecast.truth.double()).pow(2), forecast.weights)
    return ModelScores(metrics=score_forecast(forecast, test.channels), efficiency=efficiency,
                       spectrum=radial_power_spectrum(out["pred"]), output=out, uses_text=uses_text,
                       window_mse=window_mse.mean(dim=(1, 2)).numpy())
