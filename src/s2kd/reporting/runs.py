"""Runs as MLflow returns them -> the tables and figures that compare methods.

The input is ``mlflow.search_runs(...)`` as a pandas frame (one row per run; ``run_id``, ``status``,
``tags.<name>``, ``params.<name>``, ``metrics.<name>`` columns). The caller queries MLflow
(``notebooks/compare_runs.ipynb``, ``benchmarks/results_doc.py``); this module only reshapes, so it
stays free of MLflow. Model runs carry the tags of ``docs/tracking.md`` (``role``, ``method``,
``dataset``, ``seed``, ...) and ``evaluate`` adds ``test_*`` metrics (``test_mse_lead<k>`` per lead).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from s2kd.metrics import METRICS

#: the student run's loss weights, as logged (0 for a term the method does not use)
WEIGHTS = ("beta", "lambda", "gamma")
_BENCH = re.compile(r"^bench_(?P<family>.+)_t(?P<teacher_seed>\d+)_s(?P<seed>\d+)$")


def dataset_family(name: str) -> str:
    """The dataset a run's data folder belongs to: ``bench_ncep_t1_s2`` (the benchmark's per-seed
    folders) -> ``ncep``; any other name is its own."""
    match = _BENCH.match(str(name))
    return match["family"] if match else str(name)


def model_runs(runs: pd.DataFrame, *, finished_only: bool = True) -> pd.DataFrame:
    """One row per model run (teachers and students): ``run_id, start_time, folder`` (the ``dataset``
    tag), ``dataset`` (:func:`dataset_family`), ``model, role, method, teacher, seed, teacher_seed,
    narrator``, the loss weights, and every metric without the ``metrics.`` prefix."""
    if runs.empty or "tags.role" not in runs:
        raise ValueError("no model runs: train a model with `kedro run` first (runs need the `role` tag of "
                         "docs/tracking.md; runs logged before it have none)")
    rows = runs[runs["tags.role"].isin(["teacher", "student"])]
    if finished_only and "status" in rows:
        rows = rows[rows["status"] == "FINISHED"]
    folder = rows["tags.dataset"].astype(str)
    out = pd.DataFrame({
        "run_id": rows["run_id"], "start_time": rows.get("start_time"), "folder": folder,
        "dataset": folder.map(dataset_family), "model": rows.get("tags.model"), "role": rows["tags.role"],
        "method": rows.get("tags.method"), "teacher": rows.get("tags.teacher"),
        "seed": pd.to_numeric(rows["tags.seed"], errors="coerce").astype("Int64"),
        "teacher_seed": folder.str.extract(_BENCH)["teacher_seed"].astype(float).astype("Int64"),
        "narrator": rows.get("tags.narrator")})
    for w in WEIGHTS:
        out[w] = pd.to_numeric(rows.get(f"params.{w}"), errors="coerce")
    metrics = rows[[c for c in rows if c.startswith("metrics.")]].rename(columns=lambda c: c.removeprefix("metrics."))
    return pd.concat([out, metrics], axis=1).reset_index(drop=True)


def student_runs(runs: pd.DataFrame, *, finished_only: bool = True) -> pd.DataFrame:
    """:func:`model_runs` of the students, the latest run kept when a model was logged twice in one
    dataset folder with the same weights (a rerun resumed from its checkpoint)."""
    rows = model_runs(runs, finished_only=finished_only)
    rows = rows[rows["role"] == "student"]
    if rows["start_time"].notna().any():
        rows = rows.sort_values("start_time", ascending=False)
    return rows.drop_duplicates(["folder", "method", "seed", *WEIGHTS]).reset_index(drop=True)


def tidy_metrics(models: pd.DataFrame, channels: Sequence[str]) -> pd.DataFrame:
    """The ``test_*`` metrics of :func:`model_runs` rows as the tidy table of ``evaluate`` after
    :func:`s2kd.reporting.by_metric`: ``model, role, metric, lead, value`` (lead 0: over all leads; a
    metric reported per variable named ``<metric> (<channel>)``), plus the rows' other id columns."""
    names: dict[str, tuple[str, int]] = {}
    for column in models:
        if not column.startswith("test_"):
            continue
        name = column.removeprefix("test_")
        if lead := re.fullmatch(r"mse_lead(\d+)", name):
            names[column] = ("mse", int(lead[1]))
        elif name in METRICS:
            names[column] = (name, 0)
        else:
            split = [(k, name[len(k) + 1:]) for k in METRICS
                     if name.startswith(f"{k}_") and name[len(k) + 1:] in channels]
            if split:
                k, channel = max(split, key=lambda kc: len(kc[0]))
                names[column] = (f"{k} ({channel})", 0)
    ids = [c for c in ("model", "role", "run_id", "folder") if c in models]
    long = models.melt(id_vars=ids, value_vars=list(names), var_name="column").dropna(subset=["value"])
    long["metric"] = long["column"].map(lambda c: names[c][0])
    long["lead"] = long["column"].map(lambda c: names[c][1])
    return long.drop(columns="column").reset_index(drop=True)


def method_table(students: pd.DataFrame, metrics: Sequence[str] = ("test_mse", "best_val_mse"), *,
                 reference: str = "student") -> pd.DataFrame:
    """Per dataset and method: the number of runs, each metric's mean and sample standard deviation over
    them, and ``<metric> vs <reference> %``: the change of the mean against the reference method's mean
    on the same dataset (negative: lower error). Methods in their first-seen order per dataset."""
    missing = [m for m in metrics if m not in students]
    if missing:
        raise ValueError(f"no runs have the metric(s) {missing}: run `kedro run --pipeline evaluate` for test_* "
                         f"metrics; the runs have {sorted(c for c in students if c.startswith(('test_', 'best_')))}")
    grouped = students.groupby(["dataset", "method"], sort=False)
    table = grouped.size().rename("runs").to_frame()
    for m in metrics:
        table[f"{m} mean"] = grouped[m].mean()
        table[f"{m} std"] = grouped[m].std()
        ref = table[f"{m} mean"].xs(reference, level="method") if reference in table.index.get_level_values(
            "method") else pd.Series(dtype=float)
        base = table.index.get_level_values("dataset").map(ref)
        table[f"{m} vs {reference} %"] = 100 * (table[f"{m} mean"].to_numpy() / np.asarray(base, float) - 1)
    return table.reset_index()


def lead_table(students: pd.DataFrame, metric: str = "mse") -> pd.DataFrame:
    """Long table ``dataset, method, lead, mean, std, runs`` of the per-lead test metric
    (``test_<metric>_lead<k>``) over runs."""
    pattern = re.compile(rf"^test_{re.escape(metric)}_lead(\d+)$")
    columns = {c: int(m[1]) for c in students if (m := pattern.match(c))}
    if not columns:
        raise ValueError(f"no test_{metric}_lead<k> metrics: run `kedro run --pipeline evaluate` first")
    long = students.melt(id_vars=["dataset", "method"], value_vars=list(columns), var_name="column").dropna()
    long["lead"] = long["column"].map(columns)
    out = long.groupby(["dataset", "method", "lead"], sort=False)["value"].agg(mean="mean", std="std", runs="count")
    return out.reset_index().sort_values(["dataset", "lead"], kind="stable").reset_index(drop=True)


def lead_figure(leads: pd.DataFrame, dataset: str, metric: str = "MSE"):
    """Per-lead error of each method on ``dataset``, a band of ± one standard deviation over runs."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for method, rows in leads[leads["dataset"] == dataset].groupby("method", sort=False):
        style = {"color": "black", "linestyle": "--"} if method == "student" else {}
        ax.plot(rows["lead"], rows["mean"], marker="o", label=method, **style)
        if rows["std"].notna().any():
            ax.fill_between(rows["lead"], rows["mean"] - rows["std"], rows["mean"] + rows["std"], alpha=0.15,
                            color=ax.lines[-1].get_color())
    ax.set(xlabel="lead (steps)", ylabel=f"test {metric}", title=f"{dataset}: error by lead time")
    ax.legend(fontsize=7, ncols=2)
    fig.tight_layout()
    return fig


def weights_figure(students: pd.DataFrame, metric: str = "best_val_mse"):
    """β, λ and γ of every student run against its validation MSE, one panel per weight (log scale,
    runs with the weight at 0 left out), methods coloured; the plain student's mean as a line."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(WEIGHTS), figsize=(10, 3.2), sharey=True)
    plain = students.loc[students["method"] == "student", metric].mean()
    for ax, weight in zip(axes, WEIGHTS, strict=True):
        for method, rows in students[students[weight] > 0].groupby("method", sort=False):
            ax.scatter(rows[weight], rows[metric], label=method, s=18)
        if not np.isnan(plain):
            ax.axhline(plain, color="black", linestyle="--", linewidth=1, label="student")
        ax.set(xscale="log", xlabel={"beta": "β (L_sem)", "lambda": "λ (L_spec)", "gamma": "γ (output KD)"}[weight])
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    axes[0].set_ylabel(metric)
    fig.tight_layout()
    return fig
