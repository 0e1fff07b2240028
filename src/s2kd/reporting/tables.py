"""The method × metric tables, and their % change against reference methods."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from s2kd.metrics import ALL, higher_is_better

#: normalised or dimensionless, over all channels
HEADLINE_METRICS = ("mse", "mae", "acc", "ssim", "psnr", "spectral_error_low", "spectral_error_mid",
                    "spectral_error_high")
#: physical units, one column per variable
PHYSICAL_METRICS = ("rmse_physical", "mae_physical")
#: the same forecasts in OpenSTL's and WeatherBench 2's conventions (docs/evaluation.md)
CONVENTION_METRICS = ("mse_openstl", "mae_openstl", "ssim_openstl", "psnr_openstl", "rmse_physical_per_forecast")


def by_metric(metrics: pd.DataFrame) -> pd.DataFrame:
    """One value per model, metric and lead: the rows over all channels, and for a metric reported per
    variable only (physical units) one metric per variable, named ``<metric> (<channel>)``."""
    if "channel" not in metrics:
        return metrics
    pooled = set(metrics.loc[metrics["channel"] == ALL, "metric"])
    per_variable = ~metrics["metric"].isin(pooled)
    out = metrics[(metrics["channel"] == ALL) | per_variable].copy()
    named = per_variable[out.index]
    out.loc[named, "metric"] = out.loc[named, "metric"] + " (" + out.loc[named, "channel"] + ")"
    return out.drop(columns="channel")


def expand(names: Sequence[str], metrics: pd.DataFrame) -> tuple[str, ...]:
    """``names`` as they appear in ``by_metric(metrics)``: a per-variable metric becomes its variables'."""
    present = sorted(set(metrics["metric"]))  # a metric before its variables, whatever the rows' order
    return tuple(m for n in names for m in present if m == n or m.startswith(f"{n} ("))


def method_table(metrics: pd.DataFrame, names: Sequence[str] = HEADLINE_METRICS) -> pd.DataFrame:
    """Lead-averaged metrics, one row per model (teachers first), one column per metric (per variable
    for a metric in physical units)."""
    metrics = by_metric(metrics)
    names = expand(names, metrics)
    avg = metrics[(metrics["lead"] == 0) & metrics["metric"].isin(names)]
    table = avg.pivot_table(index=["model", "role", "oracle"], columns="metric", values="value", sort=False)
    table = table[[n for n in names if n in table.columns]].reset_index()
    table.columns.name = None  # no stray "metric" header row in the HTML table
    order = {"teacher": 0, "student": 1}
    return table.sort_values("role", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def with_changes(table: pd.DataFrame, metric: str,
                 references: tuple[str, ...] = ("student_student", "student_feature_kd"),
                 ) -> pd.DataFrame:
    """``table`` plus, for each reference model present, a column ``<metric> vs <reference>``: the %
    change of ``metric`` against that model, signed so that negative is better for errors and positive
    is better for scores (ACC, SSIM, PSNR) — the plain relative change either way."""
    out = table.copy()
    values = out.set_index("model")[metric]
    for ref in references:
        if ref in values.index:
            out[f"{metric} vs {ref.removeprefix('student_')} (%)"] = 100.0 * (out[metric] / values[ref] - 1.0)
    return out


def winner_lines(table: pd.DataFrame, method: str = "student_s2kd",
                 against: tuple[str, ...] = ("student_student", "student_feature_kd", "student_output_kd",
                                             "student_sdkd"),
                 ) -> list[str]:
    """Plain sentences: for each metric, whether ``method`` beats each baseline, with the numbers."""
    rows = table.set_index("model")
    if method not in rows.index:
        return [f"`{method}` was not evaluated."]
    lines = []
    for metric in [c for c in table.columns if c in HEADLINE_METRICS]:
        better = higher_is_better(metric.split(" (")[0])
        mine = rows.loc[method, metric]
        beaten = [b for b in against
                  if b in rows.index and ((mine > rows.loc[b, metric]) if better else (mine < rows.loc[b, metric]))]
        lost = [b for b in against if b in rows.index and b not in beaten]
        words = []
        if beaten:
            words.append("beats " + ", ".join(_named(rows, b, metric) for b in beaten))
        if lost:
            words.append("does not beat " + ", ".join(_named(rows, b, metric) for b in lost))
        lines.append(f"{metric}: s2kd {mine:.4g} " + "; ".join(words) + ".")
    return lines


def _named(rows: pd.DataFrame, model: str, metric: str) -> str:
    return f"{model.removeprefix('student_')} ({rows.loc[model, metric]:.4g})"
