"""Node of the ``evaluate`` pipeline: every trained model on the test split (the only place it is
read), scored by :func:`s2kd.recipes.evaluation.score_model`; each model's own MLflow run gets its
test metrics, the pipeline's run the lead-averaged ones."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import xarray as xr

from s2kd.data.params import LoadingParams
from s2kd.metrics.spectral import radial_power_spectrum
from s2kd.narrators.params import NarrateParams
from s2kd.recipes.evaluation import EvaluateParams, score_model, scoring_windows
from s2kd.tracking import WINDOW_ERRORS_ARTIFACT, log_to_run

logger = logging.getLogger(__name__)


def evaluate_models(
    series: xr.Dataset, sample_index: pd.DataFrame, normalisation_stats: dict[str, Any],
    narrative_embeddings: dict[str, Any] | None, narrate: NarrateParams, params: EvaluateParams,
    loading: LoadingParams, **models: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any], dict[str, float]]:
    """Evaluate every model (``{name: payload}``; ``student_<method>`` for students) on the test windows.

    Returns:
        ``(metrics, window_errors, efficiency, spectra, samples, run_metrics)``: the tidy table ``(model,
        method, role, oracle, metric, channel, lead, value)`` with ``lead = 0`` the value over all leads and
        ``channel = "all"`` over all channels (:func:`s2kd.metrics.score_forecast`); per model and test
        window ``(model, sample_id, time, mse)``, the window's MSE over leads and channels (their mean over
        windows is the model's ``mse``; paired intervals resample them); one efficiency
        row per model; radially averaged power spectra ``(model, frequency, power)`` of the truth
        and every model; a few test forecasts for the report; lead-averaged metrics for the
        pipeline's MLflow run. ``samples["meta"]["scoring"]`` records the data range and the
        climatology the scores were computed with.
    """
    skipped = [name for name, payload in models.items() if payload.get("kind") == "skipped"]
    for name in skipped:
        logger.warning("evaluate: %s was not trained (its teacher is not better than the plain student; "
                       "distill.skip_weak_teachers): not scored", name)
    models = {name: payload for name, payload in models.items() if name not in skipped}
    test = scoring_windows(series, sample_index, normalisation_stats, params, loading)
    rows, efficiency, spectra, run_metrics, samples, errors = [], [], [], {}, {}, []
    first_targets = test.times[test.rows["start"].to_numpy() + test.t_in]
    for number, (name, payload) in enumerate(models.items(), start=1):
        logger.info("evaluate %d/%d: %s on %d test windows", number, len(models), name, len(test.rows))
        scores = score_model(payload, test, index=sample_index, embeddings=narrative_embeddings, p=params, name=name)
        method = name.removeprefix("student_")
        role = "teacher" if payload["kind"] == "teacher" else "student"
        oracle = role == "teacher" and scores.uses_text and narrate.mode == "hindsight"
        rows += [{"model": name, "method": method, "role": role, "oracle": oracle, **r} for r in scores.metrics]
        window = pd.DataFrame({"model": name, "sample_id": scores.output["sample_id"].numpy(),
                               "time": first_targets, "mse": scores.window_mse})
        errors.append(window)
        efficiency.append({"model": name, "method": method, "role": role, **scores.efficiency})
        out, keep = scores.output, test.keep
        if not samples:  # the same windows for every model: the truth once
            freq, power = radial_power_spectrum(out["truth"])
            spectra += [{"model": "truth", "frequency": f, "power": v} for f, v in zip(freq, power, strict=True)]
            samples = {"sample_id": out["sample_id"][keep].numpy(), "x": out["x"][keep].numpy(),
                       "truth": out["truth"][keep].numpy()}
        freq, power = scores.spectrum
        spectra += [{"model": name, "frequency": f, "power": v} for f, v in zip(freq, power, strict=True)]
        samples[f"pred__{name}"] = out["pred"][keep].numpy()
        averaged = scores.averaged()
        log_to_run((payload.get("meta") or {}).get("mlflow_run_id"),
                   averaged | {k: float(v) for k, v in scores.efficiency.items()},
                   tables={WINDOW_ERRORS_ARTIFACT: window})
        run_metrics.update({f"{name}.{k}": averaged[k] for k in ("test_mse", "test_acc", "test_ssim")})
        logger.info("%s: test MSE %.5f, ACC %.4f, SSIM %.4f%s", name, averaged["test_mse"], averaged["test_acc"],
                    averaged["test_ssim"], " (oracle: reads hindsight text)" if oracle else "")
    samples["meta"] = {"models": list(models), "channels": list(normalisation_stats["channels"]),
                       "times": [str(t) for t in first_targets[test.keep]], "scoring": test.scoring()}
    return (pd.DataFrame(rows), pd.concat(errors, ignore_index=True), pd.DataFrame(efficiency),
            pd.DataFrame(spectra), samples, run_metrics)
