"""Nodes of the ``evaluate`` pipeline: every trained model (teachers and students) on the test
split — the only place the test split is read — with every metric per lead time, efficiency, power
spectra and a few forecasts kept for the report."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from s2kd.data.climatology import climatology_at, fit_climatology
from s2kd.data.splits import split_frames
from s2kd.errors import InputError
from s2kd.metrics import ForecastSet, grid_weights, radial_power_spectrum, score_forecast
from s2kd.metrics.forecast import measure_efficiency, model_inputs, predict
from s2kd.models import build_model
from s2kd.pipelines.evaluate.params import EvaluateParams
from s2kd.pipelines.runs import subsample, window_dataset
from s2kd.pipelines.train_teacher.nodes import teacher_embeddings
from s2kd.tracking import log_to_run

logger = logging.getLogger(__name__)


def collect_models(teacher_multimodal: dict[str, Any], teacher_vision: dict[str, Any],
                   teacher_ablations: dict[str, dict[str, Any]] | None,
                   students: dict[str, dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{model name: (method, payload)}``: the teachers under their own names, students as ``student_<method>``."""
    models = {"teacher_multimodal": ("teacher_multimodal", teacher_multimodal),
              "teacher_vision": ("teacher_vision", teacher_vision)}
    models.update({name: (name, payload) for name, payload in (teacher_ablations or {}).items()})
    models.update({f"student_{method}": (method, payload) for method, payload in students.items()})
    return models


def evaluate_models(
    series: xr.Dataset, sample_index: pd.DataFrame, normalisation_stats: dict[str, Any],
    narrative_embeddings: dict[str, Any] | None, teacher_multimodal: dict[str, Any], teacher_vision: dict[str, Any],
    teacher_ablations: dict[str, dict[str, Any]] | None, students: dict[str, dict[str, Any]],
    narrate_params: dict[str, Any], params: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any], dict[str, float]]:
    """Evaluate every model on the test windows.

    Returns:
        ``(metrics, efficiency, spectra, samples, run_metrics)``: the tidy table ``(model, method,
        role, oracle, metric, lead, value)`` with ``lead = 0`` the mean over leads; one efficiency
        row per model; radially averaged power spectra ``(model, frequency, power)`` of the truth
        and every model; a few test forecasts for the report; lead-averaged metrics for the
        pipeline's MLflow run. Each model's own MLflow run (``meta["mlflow_run_id"]``) gets its
        ``test_*`` metrics and efficiency.
    """
    p = dataclasses.asdict(EvaluateParams.from_dict(params))
    t_in, t_out = int(normalisation_stats["t_in"]), int(normalisation_stats["t_out"])
    test_rows = subsample(sample_index, "test", p["max_test_samples"])
    if test_rows.empty:
        raise InputError("sample_index", "has no test windows", "rerun ingest with a non-zero ingest.splits.test")
    da = series["series"]
    values = np.asarray(da.values, dtype=np.float32)
    times = pd.DatetimeIndex(da["time"].values)
    target_times = times[(test_rows["start"].to_numpy()[:, None] + t_in + np.arange(t_out)[None, :]).ravel()]
    clim = fit_climatology(da, split_frames(sample_index, "train", t_in + t_out))
    clim_at = torch.from_numpy(climatology_at(clim, target_times)).reshape(len(test_rows), t_out, *values.shape[1:])
    lat = np.asarray(series["lat"].values) if series.attrs.get("grid") == "latlon" and "lat" in series.coords else None
    weights = grid_weights(lat, values.shape[-2:])
    offset = torch.tensor(normalisation_stats["offset"], dtype=torch.float64)
    scale = torch.tensor(normalisation_stats["scale"], dtype=torch.float64)
    hindsight = (narrate_params or {}).get("mode") == "hindsight"

    models = collect_models(teacher_multimodal, teacher_vision, teacher_ablations, students)
    rows, efficiency, spectra, run_metrics = [], [], [], {}
    keep = np.linspace(0, len(test_rows) - 1, min(p["panel_samples"], len(test_rows))).round().astype(int)
    samples: dict[str, Any] = {}
    for number, (name, (method, payload)) in enumerate(models.items(), start=1):
        model = build_model(payload["kind"], payload["config"])
        model.load_state_dict(payload["state_dict"])
        uses_text = bool(getattr(model, "uses_text", False))
        emb = teacher_embeddings(narrative_embeddings, sample_index, payload.get("meta") or {}) if uses_text else None
        dataset = window_dataset(values, test_rows, t_in=t_in, t_out=t_out, embeddings=emb)
        logger.info("evaluate %d/%d: %s on %d test windows", number, len(models), name, len(test_rows))
        out = predict(model, dataset, batch_size=p["batch_size"], desc=name, progress=p["progress"])
        forecast = ForecastSet(pred=out["pred"], truth=out["truth"], offset=offset, scale=scale, climatology=clim_at,
                               weights=weights)
        role = "teacher" if payload["kind"] == "teacher" else "student"
        oracle = role == "teacher" and uses_text and hindsight
        scores = score_forecast(forecast)
        rows += [{"model": name, "method": method, "role": role, "oracle": oracle, **r} for r in scores]
        example = model_inputs(model, next(iter(torch.utils.data.DataLoader(dataset, batch_size=1))))
        eff = measure_efficiency(model, example, batch_sizes=p["latency_batch_sizes"], warmup=p["latency_warmup"],
                                 repeats=p["latency_repeats"])
        efficiency.append({"model": name, "method": method, "role": role, **eff})
        if "truth" not in samples:  # the same windows for every model: keep the truth once
            freq, power = radial_power_spectrum(out["truth"])
            spectra += [{"model": "truth", "frequency": f, "power": v} for f, v in zip(freq, power, strict=True)]
            samples.update({"sample_id": out["sample_id"][keep].numpy(), "x": out["x"][keep].numpy(),
                            "truth": out["truth"][keep].numpy()})
        freq, power = radial_power_spectrum(out["pred"])
        spectra += [{"model": name, "frequency": f, "power": v} for f, v in zip(freq, power, strict=True)]
        samples[f"pred__{name}"] = out["pred"][keep].numpy()
        averaged = {f"test_{r['metric']}": r["value"] for r in scores if r["lead"] == 0}
        per_lead = {f"test_mse_lead{r['lead']}": r["value"] for r in scores if r["metric"] == "mse" and r["lead"] > 0}
        log_to_run((payload.get("meta") or {}).get("mlflow_run_id"),
                   averaged | per_lead | {k: float(v) for k, v in eff.items()})
        run_metrics.update({f"{name}.{k}": v for k, v in averaged.items() if k in ("test_mse", "test_acc", "test_ssim")})
        logger.info("%s: test MSE %.5f, ACC %.4f, SSIM %.4f%s", name, averaged["test_mse"], averaged["test_acc"],
                    averaged["test_ssim"], " (oracle: reads hindsight text)" if oracle else "")
    samples["meta"] = {"models": list(models), "channels": list(normalisation_stats["channels"]),
                       "times": [str(times[s + t_in]) for s in test_rows["start"].to_numpy()[keep]]}
    return pd.DataFrame(rows), pd.DataFrame(efficiency), pd.DataFrame(spectra), samples, run_metrics
