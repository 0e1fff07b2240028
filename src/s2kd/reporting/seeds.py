"""Results over several seeds: mean ± standard deviation, per-seed ratios, per-lead gains.

Inputs are the tidy ``metrics_table`` of ``evaluate`` (``model, method, role, oracle, metric, lead,
value``; ``lead`` 0 is the mean over leads) stacked over runs with a ``seed`` column, and the
``efficiency`` tables likewise. Library code: pandas in, pandas and text out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from s2kd.metrics import higher_is_better


def stack_seeds(tables: Mapping[int, pd.DataFrame]) -> pd.DataFrame:
    """One table per seed -> one table with a ``seed`` column (seeds in ascending order)."""
    if not tables:
        raise ValueError("no tables to stack: run the benchmark for at least one seed first")
    return pd.concat([t.assign(seed=int(s)) for s, t in sorted(tables.items())], ignore_index=True)


def seed_summary(metrics: pd.DataFrame, names: Sequence[str], *, lead: int = 0) -> pd.DataFrame:
    """``mean``, ``std`` (sample, ``ddof=1``; NaN for one seed) and ``n`` of each model's ``names``
    at ``lead`` over seeds: columns ``model, role, metric, mean, std, n``, models in first-seen order."""
    rows = metrics[(metrics["lead"] == lead) & metrics["metric"].isin(names)]
    grouped = rows.groupby(["model", "role", "metric"], sort=False)["value"]
    out = grouped.agg(mean="mean", std="std", n="count").reset_index()  # pandas' std: ddof=1, NaN for one value
    order = {m: i for i, m in enumerate(names)}
    return out.sort_values("metric", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def mean_std_table(summary: pd.DataFrame, names: Sequence[str], *, digits: int = 4) -> pd.DataFrame:
    """``seed_summary`` as one row per model and one ``"mean ± std"`` text column per metric."""
    def cell(r: pd.Series) -> str:
        return f"{r['mean']:.{digits}g}" + ("" if np.isnan(r["std"]) else f" ± {r['std']:.{digits - 2}g}")

    text = summary.assign(cell=summary.apply(cell, axis=1))
    table = text.pivot_table(index=["model", "role"], columns="metric", values="cell", aggfunc="first", sort=False)
    table = table[[n for n in names if n in table.columns]].reset_index()
    table.columns.name = None
    order = {"teacher": 0, "student": 1}
    return table.sort_values("role", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def ratios(metrics: pd.DataFrame, numerator: str, denominators: Sequence[str], *, metric: str = "mse",
           lead: int = 0) -> pd.DataFrame:
    """``numerator / denominator`` of ``metric`` within each seed, then its mean, std and range.

    Columns ``denominator, mean, std, min, max, n, wins`` (``wins``: seeds where the numerator is
    better, by the metric's direction). Denominators not in the table are left out.
    """
    rows = metrics[(metrics["metric"] == metric) & (metrics["lead"] == lead)]
    wide = rows.pivot_table(index="seed", columns="model", values="value")
    better_high = higher_is_better(metric)
    out = []
    for den in denominators:
        if numerator not in wide or den not in wide:
            continue
        r = (wide[numerator] / wide[den]).dropna()
        wins = int(((wide[numerator] > wide[den]) if better_high else (wide[numerator] < wide[den])).loc[r.index].sum())
        out.append({"denominator": den, "mean": r.mean(), "std": r.std(),
                    "min": r.min(), "max": r.max(), "n": len(r), "wins": wins})
    return pd.DataFrame(out, columns=["denominator", "mean", "std", "min", "max", "n", "wins"])


def lead_changes(metrics: pd.DataFrame, reference: str, *, metric: str = "mse") -> pd.DataFrame:
    """Each model's % change of ``metric`` against ``reference`` within each seed, averaged over seeds:
    one row per lead (> 0), one column per model (the reference's own column is all zeros)."""
    rows = metrics[(metrics["metric"] == metric) & (metrics["lead"] > 0)]
    per_seed = rows.pivot_table(index=["seed", "lead"], columns="model", values="value")
    if reference not in per_seed:
        return pd.DataFrame(index=pd.Index([], name="lead"))
    return (100.0 * per_seed.div(per_seed[reference], axis=0) - 100.0).groupby(level="lead").mean()


def lead_table(metrics: pd.DataFrame, models: Sequence[str], *, metric: str = "mse",
               reference: str | None = None) -> pd.DataFrame:
    """Mean over seeds of ``metric`` at each lead (rows) for each model (columns); with ``reference``,
    one more column per other model: its mean per-seed % change against the reference at that lead."""
    rows = metrics[(metrics["metric"] == metric) & (metrics["lead"] > 0) & metrics["model"].isin(models)]
    table = rows.pivot_table(index="lead", columns="model", values="value", aggfunc="mean")
    table = table[[m for m in models if m in table.columns]]
    if reference is not None and reference in table.columns:
        changes = lead_changes(rows, reference, metric=metric)
        for m in table.columns.tolist():
            if m != reference:
                table[f"{m} vs {reference} (%)"] = changes[m]
    table.columns.name = None
    return table.reset_index()


def efficiency_ratios(efficiency: pd.DataFrame, student: str, teacher: str,
                      columns: Sequence[str] = ("parameters", "flops", "latency_ms_b1",
                                                "latency_ms_b32")) -> pd.DataFrame:
    """Teacher / student of each efficiency column (how many times smaller or faster the student is),
    the medians over seeds of both: columns ``quantity, teacher, student, teacher_over_student``."""
    eff = efficiency.groupby("model")[list(columns)].median()
    if student not in eff.index or teacher not in eff.index:
        raise KeyError(f"efficiency has no row for {student!r} or {teacher!r}; it has {sorted(eff.index)}")
    return pd.DataFrame([{"quantity": c, "teacher": eff.loc[teacher, c], "student": eff.loc[student, c],
                          "teacher_over_student": eff.loc[teacher, c] / eff.loc[student, c]} for c in columns])
