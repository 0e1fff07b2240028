"""Figures of the report as PNG bytes: matplotlib ``Figure`` objects drawn without pyplot, so no
display is needed and importing this module leaves the caller's backend alone (a notebook's inline one)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from s2kd.reporting.seeds import lead_changes
from s2kd.reporting.tables import by_metric


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _style(model: str) -> dict:
    return {"linestyle": "--" if model.startswith("teacher") else "-", "marker": "o", "markersize": 3}


def lead_time_curves(metrics: pd.DataFrame,
                     names: Sequence[str] = ("mse", "acc", "ssim", "spectral_error_high")) -> bytes:
    """One panel per metric (over all channels): its value at each lead time, one line per model
    (teachers dashed)."""
    metrics = by_metric(metrics)
    per_lead = metrics[metrics["lead"] > 0]
    names = [n for n in names if n in set(per_lead["metric"])]
    fig = Figure(figsize=(4.2 * len(names), 3.4))
    axes = fig.subplots(1, len(names), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for model, rows in per_lead[per_lead["metric"] == name].groupby("model", sort=False):
            ax.plot(rows["lead"], rows["value"], label=model, **_style(model))
        ax.set_title(name)
        ax.set_xlabel("lead time (steps)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return _png(fig)


def power_spectra_figure(spectra: pd.DataFrame) -> bytes:
    """Radially averaged power spectra of the truth and every model, log-log."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for model, rows in spectra.groupby("model", sort=False):
        style = {"color": "black", "linewidth": 2.5} if model == "truth" else _style(model)
        ax.loglog(rows["frequency"], rows["power"], label=model, **style)
    ax.set_xlabel("radial frequency (cycles/pixel)")
    ax.set_ylabel("power")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return _png(fig)


def forecast_panels(samples: Mapping[str, np.ndarray], models: Sequence[str], index: int, *, channel: int = 0,
                    title: str = "") -> bytes:
    """One test sample: the last input frame, then per lead time the truth and each model's forecast.

    Rows: input, truth, then one row per model; columns: lead times; one colour scale per sample.
    """
    truth = samples["truth"][index, :, channel]  # (T, H, W)
    rows = [("input (last frame)", samples["x"][index, -1:, channel]), ("truth", truth)]
    rows += [(m, samples[f"pred__{m}"][index, :, channel]) for m in models if f"pred__{m}" in samples]
    t = truth.shape[0]
    vmin, vmax = float(np.nanmin(truth)), float(np.nanmax(truth))
    cell_w = 2.0
    cell_h = max(0.6, min(2.5, cell_w * truth.shape[-2] / truth.shape[-1]))  # keep the grid's aspect
    fig = Figure(figsize=(cell_w * t + 2.2, (cell_h + 0.25) * len(rows) + 0.4), layout="constrained")
    axes = fig.subplots(len(rows), t, squeeze=False)
    for r, (label, frames) in enumerate(rows):
        for c in range(t):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < frames.shape[0]:
                im = ax.imshow(frames[c], vmin=vmin, vmax=vmax, cmap="RdBu_r", origin="upper")
            else:
                ax.axis("off")
            if r == 0 and c == 0:
                ax.set_title("t0", fontsize=8)
            elif r == 1:
                ax.set_title(f"+{c + 1}", fontsize=8)
        axes[r][0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.colorbar(im, ax=axes, shrink=0.6, label="normalised")
    if title:
        fig.suptitle(title, fontsize=9)
    return _png(fig)


def seed_lead_curves(metrics: pd.DataFrame, models: Sequence[str], *, metric: str = "mse",
                     reference: str = "student_student", title: str = "") -> bytes:
    """Two panels over seeds (a ``seed`` column): ``metric`` per lead time, mean with a ±1 std band,
    one line per model; and each model's mean per-seed % change against ``reference`` per lead."""
    rows = metrics[(metrics["metric"] == metric) & (metrics["lead"] > 0) & metrics["model"].isin(models)]
    stats = rows.groupby(["model", "lead"])["value"].agg(["mean", "std"]).reset_index()
    changes = lead_changes(rows, reference, metric=metric)
    fig = Figure(figsize=(10, 3.6))
    ax, ax2 = fig.subplots(1, 2)
    for model in [m for m in models if m in set(stats["model"])]:
        s = stats[stats["model"] == model]
        line = ax.plot(s["lead"], s["mean"], label=model, **_style(model))[0]
        ax.fill_between(s["lead"], s["mean"] - s["std"].fillna(0), s["mean"] + s["std"].fillna(0),
                        color=line.get_color(), alpha=0.12)
        if model != reference and model in changes:
            ax2.plot(changes.index, changes[model].values, label=model, color=line.get_color(), **_style(model))
    ax.set_title(f"{title} test {metric} (mean ± std over seeds)".strip())
    ax2.axhline(0.0, color="k", linewidth=0.8)
    ax2.set_title(f"% change of {metric} against {reference} (negative: better)")
    for a in (ax, ax2):
        a.set_xlabel("lead time (steps)")
        a.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)
