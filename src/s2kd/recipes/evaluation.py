"""The scoring recipe of ``evaluate``: one trained model on the test windows, once.

:func:`test_windows` prepares what every model is scored against (the test windows, the
climatology at each target time, the grid's area weights, the normalisation); :func:`score_model`
runs one model over them and returns its metric rows (every metric per lead time, ``lead = 0`` the
mean over leads), its efficiency row, its radially averaged power spectrum and the forecasts of the
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

from s2kd.data.climatology import climatology_at, fit_climatology
from s2kd.data.splits import split_frames
from s2kd.errors import InputError
from s2kd.metrics import ForecastSet, grid_weights, radial_power_spectrum, score_forecast
from s2kd.metrics.forecast import measure_efficiency, model_inputs, predict
from s2kd.params import Count, Flag, Params, PositiveInt
from s2kd.recipes.jobs import load_model, subsample, text_for, window_dataset


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
    """

    group = "evaluate"

    batch_size: PositiveInt = 64
    max_test_samples: PositiveInt | None = None
    latency_batch_sizes: list[PositiveInt] = Field(default_factory=lambda: [1, 32], min_length=1)
    latency_warmup: Count = 3
    latency_repeats: PositiveInt = 20
    panel_samples: Count = 3
    progress: Flag = True


@dataclass(frozen=True)
class TestWindows:
    """The test windows and what every model is scored with.

    Attributes:
        values: the normalised series ``(time, C, H, W)``.
        rows: the test rows of the sample index (evenly subsampled when asked).
        t_in, t_out: window lengths.
        climatology: normalised climatology at each target ``(N, T_out, C, H, W)`` (training split).
        weights: ``(H, W)`` area weights.
        offset, scale: ``(C,)`` the normalisation: physical = normalised · scale + offset.
        keep: positions of the windows kept for the report's panels.
        times: the series' timestamps.
    """

    values: np.ndarray
    rows: pd.DataFrame
    t_in: int
    t_out: int
    climatology: torch.Tensor
    weights: torch.Tensor
    offset: torch.Tensor
    scale: torch.Tensor
    keep: np.ndarray
    times: pd.DatetimeIndex


def test_windows(series: xr.Dataset, index: pd.DataFrame, stats: Mapping[str, Any], p: EvaluateParams) -> TestWindows:
    """The test split (the only place it is read) with its climatology, weights and normalisation."""
    t_in, t_out = int(stats["t_in"]), int(stats["t_out"])
    rows = subsample(index, "test", p.max_test_samples)
    if rows.empty:
        raise InputError("sample_index", "has no test windows", "rerun ingest with a non-zero ingest.splits.test")
    da = series["series"]
    values = np.asarray(da.values, dtype=np.float32)
    times = pd.DatetimeIndex(da["time"].values)
    target_times = times[(rows["start"].to_numpy()[:, None] + t_in + np.arange(t_out)[None, :]).ravel()]
    clim = fit_climatology(da, split_frames(index, "train", t_in + t_out))
    clim_at = torch.from_numpy(climatology_at(clim, target_times)).reshape(len(rows), t_out, *values.shape[1:])
    lat = np.asarray(series["lat"].values) if series.attrs.get("grid") == "latlon" and "lat" in series.coords else None
    keep = np.linspace(0, len(rows) - 1, min(p.panel_samples, len(rows))).round().astype(int)
    return TestWindows(values=values, rows=rows, t_in=t_in, t_out=t_out, climatology=clim_at,
                       weights=grid_weights(lat, values.shape[-2:]),
                       offset=torch.tensor(stats["offset"], dtype=torch.float64),
                       scale=torch.tensor(stats["scale"], dtype=torch.float64), keep=keep, times=times)


@dataclass
class ModelScores:
    """One model's results on the test windows.

    Attributes:
        metrics: rows ``{"metric", "lead", "value"}``.
        efficiency: parameters, FLOPs, peak memory, latency per batch size.
        spectrum: ``(frequency, power)`` of the forecasts.
        output: ``{"pred", "truth", "x", "sample_id"}`` of every window.
        uses_text: whether the model read narratives.
    """

    metrics: list[dict[str, Any]]
    efficiency: dict[str, Any]
    spectrum: tuple[np.ndarray, np.ndarray]
    output: dict[str, torch.Tensor]
    uses_text: bool

    def averaged(self) -> dict[str, float]:
        """``test_<metric>`` averaged over leads, and ``test_mse_lead<k>`` per lead."""
        out = {f"test_{r['metric']}": r["value"] for r in self.metrics if r["lead"] == 0}
        return out | {f"test_mse_lead{r['lead']}": r["value"] for r in self.metrics
                      if r["metric"] == "mse" and r["lead"] > 0}


def score_model(payload: Mapping[str, Any], test: TestWindows, *, index: pd.DataFrame,
                embeddings: Mapping[str, Any] | None, p: EvaluateParams, name: str = "model") -> ModelScores:
    """Every metric of one model (a payload: ``kind``, ``config``, ``state_dict``, ``meta``) on the test
    windows; a text-reading teacher reads the narratives it was trained with."""
    model = load_model(payload)
    uses_text = bool(getattr(model, "uses_text", False))
    text = text_for(embeddings, index, payload.get("meta") or {}) if uses_text else None
    dataset = window_dataset(test.values, test.rows, t_in=test.t_in, t_out=test.t_out, embeddings=text)
    out = predict(model, dataset, batch_size=p.batch_size, desc=name, progress=p.progress)
    forecast = ForecastSet(pred=out["pred"], truth=out["truth"], offset=test.offset, scale=test.scale,
                           climatology=test.climatology, weights=test.weights)
    example = model_inputs(model, next(iter(DataLoader(dataset, batch_size=1))))
    efficiency = measure_efficiency(model, example, batch_sizes=p.latency_batch_sizes, warmup=p.latency_warmup,
                                    repeats=p.latency_repeats)
    return ModelScores(metrics=score_forecast(forecast), efficiency=efficiency,
                       spectrum=radial_power_spectrum(out["pred"]), output=out, uses_text=uses_text)
