"""Node of the ``export`` pipeline: a thin wrapper over :mod:`s2kd.models.export`."""

from __future__ import annotations

import logging
from typing import Any

import onnx
import torch
import xarray as xr

from s2kd.models.export import OnnxRunner, parity, to_onnx
from s2kd.recipes.forecast import ForecastParams, check_model
from s2kd.recipes.jobs import load_model

logger = logging.getLogger(__name__)

#: the largest |ONNX Runtime - eager PyTorch| accepted, in normalised units
TOLERANCE = 1e-4


def export_model(model: dict[str, Any], series: xr.Dataset, normalisation_stats: dict[str, Any],
                 params: ForecastParams) -> tuple[bytes, dict[str, Any]]:
    """The model as an ONNX graph with a dynamic batch, and a report of its parity with eager PyTorch
    at batch 1 and 16 on windows of the training series (it is refused beyond :data:`TOLERANCE`)."""
    stats = normalisation_stats
    check_model(model, stats, name=params.model)
    net = load_model(model).eval()
    t_in, values = int(stats["t_in"]), series["series"]
    x = torch.from_numpy(values.isel(time=slice(0, t_in + 15)).values.astype("float32"))
    batch = torch.stack([x[i:i + t_in] for i in range(16)])  # 16 consecutive windows
    graph = to_onnx(net, batch[:2])
    runner = OnnxRunner(graph)
    diffs = {b: parity(net, runner, batch[:b]) for b in (1, 16)}
    report = {"model": params.model, "kind": model["kind"], "bytes": len(graph),
              "opset": int(onnx.load_from_string(graph).opset_import[0].version),
              "input": ["batch", t_in, *list(x.shape[1:])], "max_abs_diff": max(diffs.values()),
              "max_abs_diff_by_batch": {str(b): d for b, d in diffs.items()}, "tolerance": TOLERANCE}
    if report["max_abs_diff"] > TOLERANCE:
        raise ValueError(f"forecast.model={params.model}: the ONNX graph differs from eager PyTorch by "
                         f"{report['max_abs_diff']:.2e} (> {TOLERANCE}). Fix: run it in eager PyTorch "
                         "(forecast.runtime: eager) and report the model")
    logger.info("export: %s as ONNX (%d kB), max |onnx - eager| = %.1e at batch 1 and 16", params.model,
                len(graph) // 1024, report["max_abs_diff"])
    return graph, report
