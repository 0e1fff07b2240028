"""Forecast new data with a trained model: the last ``T_in`` frames of a series the model never saw in,
a CF-style forecast in physical units out.

The frames come through the same source and validation as ``ingest`` (the ``forecast`` pipeline reads
them with the ingest options, only the path swapped); here they are checked against what the model was
trained on (variables, grid, time step, enough frames, the normalisation statistics), normalised with the
training statistics, run through the network, and turned back into physical units by the inverse of every
ingest step: the z-score (or min-max) and the source's transform (``log1p``, ``dbz``).
"""

from __future__ import annotations

import glob
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import xarray as xr

from s2kd.data.normalisation import denormalise, normalise
from s2kd.data.params import IngestParams
from s2kd.data.sources import XarrayOptions, load_source
from s2kd.data.sources.xarray_source import apply_transform
from s2kd.data.validation import validate_series
from s2kd.errors import InputError, ParameterError
from s2kd.params import Params
from s2kd.recipes.jobs import load_model

#: what a model's ``meta["data"]`` records of the statistics it was trained with
SIGNATURE_KEYS = ("channels", "method", "offset", "scale", "t_in", "t_out")


def data_signature(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The normalisation a model is trained with, kept in its ``meta["data"]`` so that a forecast can
    refuse statistics of another dataset."""
    return {k: stats[k] for k in SIGNATURE_KEYS if k in stats}


def check_model(payload: Mapping[str, Any], stats: Mapping[str, Any], *, name: str) -> None:
    """The model reads no narratives and was trained with these statistics."""
    if payload.get("config", {}).get("use_text"):
        raise InputError(f"forecast.model={name}", "reads narratives, which new data does not have",
                         "forecast with a student or the vision teacher (teacher_vision)")
    if not payload.get("state_dict"):
        raise InputError(f"forecast.model={name}", "has no weights (its method was skipped for a weak teacher)",
                         "train it with distill.skip_weak_teachers: false, or forecast with another model")
    trained = (payload.get("meta") or {}).get("data")
    if trained is None:
        return  # a model saved before the signature was kept: only the grid and variables are checked
    mine = data_signature(stats)
    differ = [k for k in SIGNATURE_KEYS if k in trained and k in mine and not _same(trained[k], mine[k])]
    if differ:
        raise InputError("normalisation_stats", f"are not those {name} was trained with (they differ in {differ})",
                         "run the forecast with the model's own dataset: --params dataset=<its dataset> "
                         "(and its --env)")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple) and a and isinstance(a[0], int | float):
        return len(a) == len(b) and bool(np.allclose(a, b, rtol=1e-6, atol=0.0))
    return a == b


def last_frames(series: xr.DataArray, reference: xr.Dataset, stats: Mapping[str, Any], *, where: str) -> xr.DataArray:
    """The last ``t_in`` frames of a validated raw ``series``, checked against the training ``reference``
    (its normalised series: variables, grid and coordinates, time step)."""
    t_in = int(stats["t_in"])
    channels = [str(c) for c in series["channel"].values]
    if channels != list(stats["channels"]):
        raise InputError(where, f"has the variables {channels}, the model was trained on {list(stats['channels'])}",
                         "give a file with the same variables (ingest.xarray.variables selects them)")
    shape, trained = tuple(series.sizes[d] for d in ("y", "x")), tuple(reference.sizes[d] for d in ("y", "x"))
    if shape != trained:
        raise InputError(where, f"has a {shape[0]} x {shape[1]} grid, the model was trained on "
                         f"{trained[0]} x {trained[1]}",
                         "regrid the file, or set the same ingest.xarray.coarsen / dims as in training")
    for coord in ("lat", "lon"):
        if coord in reference.coords and coord in series.coords and not np.allclose(
                series[coord].values, reference[coord].values, atol=1e-4):
            raise InputError(where, f"has other {coord} values than the training grid",
                             "give the same region and resolution as the training data")
    times = pd.DatetimeIndex(series["time"].values)
    trained_step = pd.Timedelta(np.diff(reference["time"].values[:2])[0])
    if len(times) < t_in:
        raise InputError(where, f"has {len(times)} frame(s); the model reads the last {t_in}",
                         f"give at least {t_in} consecutive frames")
    step = pd.Timedelta(np.diff(times.values[-2:])[0]) if len(times) > 1 else trained_step
    if step != trained_step:
        raise InputError(where, f"has a time step of {step}, the model was trained on {trained_step}",
                         "resample the file to the training step")
    return series.isel(time=slice(len(times) - t_in, None))


def model_input(frames: xr.DataArray, stats: Mapping[str, Any]) -> np.ndarray:
    """Raw frames ``(t_in, C, H, W)`` as the network reads them: normalised with the training ``stats``,
    float32, a batch of one."""
    return normalise(frames, dict(stats)).values.astype(np.float32)[None]


def predict_frames(payload: Mapping[str, Any], x: np.ndarray, runner: Any = None) -> np.ndarray:
    """The normalised forecast ``(t_out, C, H, W)`` of :func:`model_input` ``x``; ``runner`` maps it to the
    forecast batch (default: the payload's network in eager PyTorch)."""
    if runner is None:
        model = load_model(payload).eval()
        with torch.no_grad():
            return model(torch.from_numpy(x))["y_hat"][0].numpy()
    return np.asarray(runner(x))[0]


def from_physical(values: xr.DataArray, stats: Mapping[str, Any],
                  transform_options: Mapping[str, Any] | None = None) -> xr.DataArray:
    """Values in the units of the source's variables (a ``channel`` dim) as the network reads them: the
    source's transform, then the training normalisation (the inverse of :func:`to_physical`)."""
    transform = stats.get("transform", "none")
    return normalise(apply_transform(values, None if transform == "none" else transform,
                                     dict(transform_options or {})), dict(stats))


def to_physical(values: xr.DataArray, stats: Mapping[str, Any],
                transform_options: Mapping[str, Any] | None = None) -> xr.DataArray:
    """Normalised values (a ``channel`` dim) back in the units of the source's variables: the inverse of
    the normalisation, then of the source's transform."""
    return inverse_transform(denormalise(values, dict(stats)), stats.get("transform", "none"), transform_options)


def inverse_transform(values: xr.DataArray, transform: str, options: Mapping[str, Any] | None) -> xr.DataArray:
    """Undo the source's transform (``ingest.xarray.transform``): ``log1p`` -> ``expm1``; ``dbz`` ->
    rain rate through Marshall-Palmer, divided by ``rate_factor`` (values at ``zero_value``: no rain)."""
    options = dict(options or {})
    if transform in (None, "none"):
        return values
    if transform == "log1p":
        return np.expm1(values).clip(min=0)
    if transform == "dbz":
        zero_value = float(options.get("zero_value", -15.0))
        threshold = float(options.get("threshold_mmh", 0.1))
        rate = (10.0 ** (values / 10.0) / 200.0) ** (1 / 1.6)
        rate = rate.where((values > zero_value) & (rate >= threshold), 0.0)
        return rate / float(options.get("rate_factor", 1.0))
    raise InputError("normalisation_stats.transform", f"is {transform!r}, which forecast cannot undo",
                     "use the transforms ingest knows: log1p, dbz")


def forecast_dataset(forecast: np.ndarray, frames: xr.DataArray, stats: Mapping[str, Any], *,
                     units: Mapping[str, str], transform_options: Mapping[str, Any] | None,
                     provenance: Mapping[str, Any]) -> xr.Dataset:
    """The forecast as a CF-style dataset: one variable per channel in physical units, ``time`` the valid
    times after the last input frame, the input's spatial coordinates, and the provenance as attributes."""
    times = pd.DatetimeIndex(frames["time"].values)
    step = pd.Timedelta(np.diff(times.values[-2:])[0])
    valid = pd.DatetimeIndex([times[-1] + step * (k + 1) for k in range(forecast.shape[0])])
    da = xr.DataArray(forecast, dims=("time", "channel", "y", "x"),
                      coords={"time": valid, "channel": frames["channel"].values,
                              **{c: frames[c] for c in frames.coords if c not in ("time", "channel")}})
    da = to_physical(da, stats, transform_options)
    out = xr.Dataset(attrs={"Conventions": "CF-1.8", "title": f"S2-KD forecast by {provenance.get('model')}",
                            "history": f"s2kd forecast from {len(times)} input frame(s), last at {times[-1]}",
                            **{f"s2kd_{k}": str(v) for k, v in provenance.items()}})
    for channel in [str(c) for c in da["channel"].values]:
        var = da.sel(channel=channel).drop_vars("channel").astype("float32")
        var.attrs = {"units": units.get(channel, ""), "long_name": f"forecast of {channel}"}
        out[channel] = var
    out["time"].attrs = {"standard_name": "time", "long_name": "valid time"}
    out.attrs["forecast_reference_time"] = str(times[-1])
    out.attrs["lead_times"] = json.dumps([str(step * (k + 1)) for k in range(forecast.shape[0])])
    return out


class ForecastParams(Params):
    """The ``forecast`` group (``conf/base/parameters_forecast.yml``).

    Attributes:
        model: the trained model (a student's method or ``teacher_vision``); the catalog's
            ``forecast_model`` reads the same setting.
        input: the new file whose last ``t_in`` frames are forecast.
        runtime: ``eager`` (PyTorch) or ``onnx`` (the model exported and run in ONNX Runtime; students only).
    """

    group = "forecast"

    model: str
    input: str | None = None
    runtime: Literal["eager", "onnx"] = "eager"


def new_frames_options(ingest: IngestParams, path: str) -> tuple[str, Any]:
    """The ingest source and options that read ``path`` the way training data was read: the
    environment's options with the path swapped and no time slice (a synthetic run reads a NetCDF file
    of its channels through the xarray source)."""
    if ingest.source == "synthetic":
        return "xarray", XarrayOptions(path=path)
    options = ingest.source_options()
    update = {"path": path, **({"time_slice": None} if hasattr(options, "time_slice") else {})}
    return ingest.source, options.model_copy(update=update)


def read_new_frames(ingest: IngestParams, path: str | None) -> tuple[xr.DataArray, str]:
    """The new file as a validated raw series (the ingest validation rules), and its name for errors."""
    if not path:
        raise ParameterError("forecast.input", "is not set", 'name the new file: --params "forecast.input=<file>"')
    if not Path(path).exists() and not glob.glob(path):
        raise InputError(f"forecast.input={path}", "does not exist", "give the path of an existing file")
    source, options = new_frames_options(ingest, path)
    data = load_source(source, options)
    v = ingest.validation
    series, _, _ = validate_series(data.series, where=path, max_gap_steps=v.max_gap_steps,
                                   max_nan_fraction=v.max_nan_fraction, nan_fill=v.nan_fill)
    return series, path
