"""Nodes of the ``report`` pipeline: assemble tables, figures and narratives into two documents."""

from __future__ import annotations

import json
import logging
from typing import Any

import pandas as pd

from s2kd.data.params import IngestParams
from s2kd.narrators.params import NarrateParams
from s2kd.recipes.evaluation import EvaluateParams
from s2kd.recipes.params import DistillParams, TeacherParams
from s2kd.reporting import (
    CONVENTION_METRICS,
    PHYSICAL_METRICS,
    forecast_panels,
    lead_time_curves,
    method_table,
    power_spectra_figure,
    render_html,
    render_markdown,
    winner_lines,
    with_changes,
)
from s2kd.tracking import flatten, log_text, plain
from s2kd.training.trainer import TrainerParams

logger = logging.getLogger(__name__)


def _narratives(narratives: pd.DataFrame, sample_ids: list[int]) -> list[dict[str, str]]:
    by_id = narratives.set_index("sample_id")
    out = []
    for sid in sample_ids:
        if sid in by_id.index:
            row = by_id.loc[sid]
            out.append({"label": f"sample {sid} ({row.get('narrator', '')}, {row.get('model', '')})",
                        "text": str(row["text"])})
    return out


def _units(stats: dict[str, Any]) -> str:
    units = stats.get("units") or {}
    return ", ".join(f"{c}: {units.get(c) or 'normalised'}" for c in stats.get("channels", []))


def _narrator(narrate: NarrateParams) -> str:
    """Which narrator wrote the narratives, in which mode ("diagnostic narrator, hindsight mode")."""
    model = f" ({narrate.openai.model} at {narrate.openai.base_url})" if narrate.narrator == "openai" else ""
    return f"{narrate.narrator} narrator{model}, {narrate.mode} mode"


def _teacher_check_section(rows: pd.DataFrame) -> dict[str, Any]:
    """The teachers checked against the plain student before they taught (``distill``'s verdicts)."""
    cols = ["model", "teacher", "teacher_val_mse", "student_val_mse", "teacher_gain", "teacher_beats_student",
            "skipped"]
    checked = rows[rows["teacher_beats_student"].notna()][cols] if "teacher_beats_student" in rows else None
    if checked is None or checked.empty:
        return {"heading": "Teacher check", "paragraphs": ["No method with a teacher was checked in this run."]}
    weak = checked[~checked["teacher_beats_student"].astype(bool)]
    items = [f"WARNING: {r.teacher} is not better than the plain student on validation ({r.teacher_val_mse:.5f} vs "
             f"{r.student_val_mse:.5f}); {r.model} " + ("was skipped." if bool(r.skipped) else
                                                         "learnt from it anyway (distill.skip_weak_teachers: false).")
             for r in weak.itertuples()]
    return {"heading": "Teacher check",
            "paragraphs": ["Before it teaches, every teacher's validation MSE is compared with the plain student's "
                           "on the same windows (teacher_gain = 1 - teacher / student; > 0: the teacher is better)."],
            "items": items or ["Every teacher is better than the plain student on validation."], "table": checked}


def _ranges(scoring: dict[str, Any]) -> str:
    return ", ".join(f"{c} {v:.3g}" for c, v in (scoring.get("data_range") or {}).items()) or "not recorded"


def write_report(
    metrics_table: pd.DataFrame, efficiency: pd.DataFrame, power_spectra: pd.DataFrame,
    forecast_samples: dict[str, Any],
    narratives: pd.DataFrame, validation: dict[str, Any], normalisation_stats: dict[str, Any], ingest: IngestParams,
    narrate: NarrateParams, train_teacher: TeacherParams, distill: DistillParams, trainer: TrainerParams,
    evaluate: EvaluateParams,
) -> tuple[str, str]:
    """``(html, markdown)`` of the run; the HTML is also stored in the run's MLflow run as an artifact."""
    table = method_table(metrics_table)
    changes = with_changes(table, "mse")
    change_cols = [c for c in changes.columns if c.startswith("mse vs")]
    models = list(table["model"])
    meta = forecast_samples.get("meta") or {}
    sample_ids = [int(s) for s in forecast_samples["sample_id"]]
    oracle = [m for m, o in zip(table["model"], table["oracle"], strict=True) if o]
    dataset = distill.dataset
    rows = pd.DataFrame([load() if callable(load) else load for load in validation.values()])
    trained = rows[rows["model"].isin(models)].set_index("model").reindex(models).reset_index()
    eff = efficiency.copy()
    teacher_row = eff[eff["model"] == "teacher_multimodal"]
    if not teacher_row.empty:
        t = teacher_row.iloc[0]
        eff["speed-up b1 vs teacher"] = t["latency_ms_b1"] / eff["latency_ms_b1"]
        eff["params / teacher"] = eff["parameters"] / t["parameters"]
    scoring = meta.get("scoring") or {}
    weighting = f"weighting: {scoring.get('weights', 'not recorded')}"
    sections: list[dict[str, Any]] = [
        {"heading": "Methods on the test split",
         "paragraphs": [f"Over all lead times and all channels, in normalised units (mse and mae {weighting}). Lower "
                        "is better for errors, higher for acc, ssim, psnr. The last columns give each model's MSE "
                        "change against the plain student and against feature_kd (negative: lower error). "
                        "Formulas and the names other benchmarks use: docs/evaluation.md."]
         + [f"Narratives: {_narrator(narrate)}."]
         + ([f"Oracle: {', '.join(oracle)} read hindsight narratives, privileged text written with the target "
             "window in view; they are upper references, not deployable forecasters."] if oracle else []),
         "table": changes[["model", "role", *[c for c in table.columns if c not in ("model", "role", "oracle")],
                           *change_cols]]},
        {"heading": "Per variable, in physical units",
         "paragraphs": [f"RMSE (the root of the MSE over all forecasts and leads, as WeatherBench 2 and OpenSTL) "
                        f"and MAE of each variable in its own units ({_units(normalisation_stats)}; {weighting})."],
         "table": method_table(metrics_table, PHYSICAL_METRICS).drop(columns="oracle")},
        {"heading": "In other benchmarks' conventions",
         "paragraphs": ["The same forecasts scored as OpenSTL reports them (frame sums over channels and grid in "
                        "normalised units; SSIM and PSNR on frames scaled to [0, 1] by the training range) and "
                        "WeatherBench 2's per-forecast RMSE (the mean of each forecast's RMSE). "
                        f"PSNR and SSIM ranges: the training split's ({_ranges(scoring)}); ACC against a "
                        f"climatology {scoring.get('climatology', 'fitted on the training split')}."],
         "table": method_table(metrics_table, CONVENTION_METRICS).drop(columns="oracle")},
        {"heading": "Where S2-KD wins and where it does not", "items": winner_lines(table)},
        _teacher_check_section(rows),
        {"heading": "Per lead time", "images": [{"alt": "metrics per lead time (teachers dashed)",
                                                 "png": lead_time_curves(metrics_table)}]},
        {"heading": "Power spectra",
         "paragraphs": ["Radially averaged power spectra of the test forecasts (Hann window, "
                        "mean removed); a forecast that blurs loses power at high frequency."],
         "images": [{"alt": "radially averaged power spectra of truth and models",
                     "png": power_spectra_figure(power_spectra)}]},
        {"heading": "Forecasts", "images": [
            {"alt": f"test sample {sid} ({meta.get('times', [''] * len(sample_ids))[i]}): input, truth, models",
             "png": forecast_panels(forecast_samples, models, i, title=f"sample {sid}")}
            for i, sid in enumerate(sample_ids)],
         "narratives": _narratives(narratives, sample_ids)},
        {"heading": "Efficiency", "paragraphs": ["FLOPs and peak tensor memory of one forward pass at batch 1; median "
                                                 "CPU latency over repeated runs after warm-up."], "table": eff},
        {"heading": "Validation (training-time) results",
         "table": trained[["model", "best_val_mse", "epochs", "parameters"]]},
        {"heading": "Data and parameters", "table": pd.DataFrame(
            [{"parameter": k, "value": json.dumps(v) if not isinstance(v, str) else v} for k, v in flatten({
                "dataset": dataset, "channels": normalisation_stats.get("channels"),
                "t_in": normalisation_stats.get("t_in"), "t_out": normalisation_stats.get("t_out"),
                "train": f"{normalisation_stats.get('train_start')} .. {normalisation_stats.get('train_end')}",
                "ingest": plain(ingest), "narrate": {k: v for k, v in plain(narrate).items() if k != "openai"},
                "train_teacher": plain(train_teacher), "distill": plain(distill), "trainer": plain(trainer),
                "evaluate": plain(evaluate)}).items()])},
    ]
    title = f"S2-KD report — {dataset}"
    subtitle = f"{len(models)} models, test windows scored once by `evaluate`."
    html = render_html(title, subtitle, sections)
    markdown = render_markdown(title, subtitle, sections)
    log_text(html, "report/report.html")
    log_text(markdown, "report/report.md")
    logger.info("report: %d models, %d figures", len(models), 3 + len(sample_ids))
    return html, markdown
