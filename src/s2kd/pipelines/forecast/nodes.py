"""Node of the ``forecast`` pipeline: a thin wrapper over :mod:`s2kd.recipes.forecast`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
import xarray as xr

from s2kd.data.params import IngestParams
from s2kd.models.export import OnnxRunner, parity, to_onnx
from s2kd.recipes.forecast import (
    ForecastParams,
    check_model,
    forecast_dataset,
    last_frames,
    model_input,
    predict_frames,
    read_new_frames,
)
from s2kd.recipes.jobs import load_model
from s2kd.tracking import commit

logger = logging.getLogger(__name__)


def forecast_new_data(model: dict[str, Any], series: xr.Dataset, normalisation_stats: dict[str, Any],
                      ingest: IngestParams, params: ForecastParams) -> xr.Dataset:
    """The model's forecast of the new file's last ``t_in`` frames, in physical units, every check made
    before anything is written."""
    stats = normalisation_stats
    check_model(model, stats, name=params.model)
    raw, where = read_new_frames(ingest, params.input)
    frames = last_frames(raw, series, stats, where=where)
    x = model_input(frames, stats)
    runner, runtime = None, {"runtime": "pytorch"}
    if params.runtime == "onnx":  # exported here, checked against eager PyTorch on these very frames
        net = load_model(model).eval()
        runner = OnnxRunner(to_onnx(net, torch.from_numpy(x)))
        runtime = {"runtime": "onnxruntime", "onnx_max_abs_diff": parity(net, runner, torch.from_numpy(x))}
        logger.info("forecast: %s exported to ONNX; max |onnx - eager| = %.2e (normalised units)", params.model,
                    runtime["onnx_max_abs_diff"])
    forecast = predict_frames(model, x, runner=runner)
    meta = model.get("meta") or {}
    options = ingest.source_options()
    # the units of the file's variables before any transform: what the forecast is written in
    units = json.loads(raw.attrs.get("source_units") or raw.attrs.get("units") or "{}")
    provenance = {"model": params.model, "method": meta.get("method", params.model), "kind": model["kind"],
                  "dataset": series.attrs.get("source", ""), "input": str(Path(where).resolve()),
                  "commit": commit(Path.cwd()), "mlflow_run_id": meta.get("mlflow_run_id") or "",
                  **runtime}
    out = forecast_dataset(forecast, frames, stats, units=units,
                           transform_options=getattr(options, "transform_options", None), provenance=provenance)
    logger.info("forecast: %s on %s, %d lead(s) from %s", params.model, where, out.sizes["time"],
                out.attrs["forecast_reference_time"])
    return out
