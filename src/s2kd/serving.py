"""A trained student as an MLflow model: ``mlflow.pyfunc.load_model(uri).predict(frames)`` forecasts
in physical units, the same numbers as ``kedro run --pipeline forecast``.

The model's input is ``(batch, T_in, C, H, W)`` float32 frames in the units of the source's variables
(as in the file ``forecast`` reads); it applies the source's transform (``log1p``, ``dbz``), the
training normalisation, the network, and their inverses. Each student's run logs it (a signature with a
dynamic batch and an input example: the first validation window) and registers it in the store's model
registry as ``s2kd-<dataset>-<method>``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from s2kd.recipes.forecast import from_physical, to_physical
from s2kd.recipes.jobs import load_model

try:
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover - mlflow is a dependency
    PythonModel = object  # type: ignore[assignment,misc]


def _frames(values: np.ndarray, channels: list[str]) -> xr.DataArray:
    return xr.DataArray(values, dims=("batch", "time", "channel", "y", "x"), coords={"channel": channels})


def forecast_physical(model: torch.nn.Module, frames: np.ndarray, stats: Mapping[str, Any],
                      transform_options: Mapping[str, Any] | None = None) -> np.ndarray:
    """``(B, T_in, C, H, W)`` physical frames -> ``(B, T_out, C, H, W)`` physical forecast."""
    channels = list(stats["channels"])
    x = from_physical(_frames(np.asarray(frames, dtype=np.float32), channels), stats, transform_options)
    with torch.no_grad():
        y = model(torch.from_numpy(x.values.astype(np.float32)))["y_hat"].numpy()
    out = to_physical(_frames(y, channels), stats, transform_options)
    return out.values.astype(np.float32)


class Forecaster(PythonModel):
    """The pyfunc flavour of a trained student (artifacts: ``model`` the ``.pt`` payload, ``data`` the
    normalisation statistics and transform options as JSON)."""

    def load_context(self, context: Any) -> None:
        from s2kd.datasets.torch_model import read_model_file

        self.model = load_model(read_model_file(Path(context.artifacts["model"]))).eval()
        data = json.loads(Path(context.artifacts["data"]).read_text())
        self.stats, self.options = data["stats"], data.get("transform_options")

    def predict(self, context, model_input, params=None):  # no type hints: MLflow would infer a signature
        if isinstance(model_input, Mapping):  # a named tensor input arrives as {"frames": array}
            model_input = model_input["frames"]
        return forecast_physical(self.model, np.asarray(model_input), self.stats, self.options)


def log_forecaster(run_id: str, payload: Mapping[str, Any], stats: Mapping[str, Any], example: np.ndarray, *,
                   registered_name: str | None, transform_options: Mapping[str, Any] | None = None) -> str:
    """Log the student of ``payload`` to the run ``run_id`` as an MLflow model named ``forecaster``
    (signature with a dynamic batch, ``example`` as the input example) and register it under
    ``registered_name``; returns the model's URI.

    Once per run: a run that holds a finished ``forecaster`` already (a ``kedro run`` started again after a
    kill continues its models' runs, :mod:`s2kd.tracking`) keeps it, and it is registered only when no
    version of ``registered_name`` comes from that run yet."""
    import mlflow
    from mlflow.entities import LoggedModelStatus
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    client = mlflow.tracking.MlflowClient()
    experiment = client.get_run(run_id).info.experiment_id
    found = mlflow.search_logged_models([experiment], f"source_run_id = '{run_id}' AND name = 'forecaster'",
                                        output_format="list")
    logged = [m for m in found if m.status == LoggedModelStatus.READY]
    if logged:
        uri = logged[0].model_uri
        if registered_name and not client.search_model_versions(f"name = '{registered_name}' and run_id = '{run_id}'"):
            mlflow.register_model(uri, registered_name)
        return uri

    model = load_model(payload).eval()
    output = forecast_physical(model, example, stats, transform_options)
    signature = ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *example.shape[1:]), "frames")]),
                               outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *output.shape[1:]), "forecast")]))
    keep = {k: stats[k] for k in ("channels", "method", "offset", "scale", "t_in", "t_out", "transform", "units")
            if k in stats}
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(dict(payload), Path(tmp) / "model.pt")
        (Path(tmp) / "data.json").write_text(json.dumps({"stats": keep, "transform_options": transform_options}))
        with mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None):
            info = mlflow.pyfunc.log_model(
                name="forecaster", python_model=Forecaster(), signature=signature, input_example=example,
                artifacts={"model": str(Path(tmp) / "model.pt"), "data": str(Path(tmp) / "data.json")},
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", "s2kd"],
                registered_model_name=registered_name)
    return info.model_uri


def example_frames(series: xr.Dataset, index: Any, stats: Mapping[str, Any]) -> np.ndarray:
    """The first validation window's input frames in physical units, ``(1, T_in, C, H, W)``: the logged
    model's input example."""
    start = int(index.loc[index["split"] == "val", "start"].iloc[0])
    frames = series["series"].isel(time=slice(start, start + int(stats["t_in"])))
    physical = to_physical(frames, stats, stats.get("transform_options"))
    return physical.values.astype(np.float32)[None]
