"""s2kd.reporting.runs: MLflow's run frame -> the method table, per-lead curves and weight plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from s2kd.reporting.runs import (
    dataset_family,
    lead_table,
    method_table,
    student_runs,
    tidy_metrics,
    weights_figure,
)


def _runs() -> pd.DataFrame:
    rows = []
    for folder in ("bench_ncep_t0_s0", "bench_ncep_t0_s1", "bench_ncep_t1_s0"):
        seed = int(folder[-1])
        for method, mse, beta in (("student", 1.0, 0.0), ("s2kd", 0.9, 0.3)):
            mse = mse + 0.1 * seed
            rows.append({"run_id": f"{folder}-{method}", "status": "FINISHED", "start_time": pd.Timestamp(0),
                         "tags.role": "student", "tags.method": method, "tags.dataset": folder, "tags.seed": str(seed),
                         "tags.teacher": "multimodal", "tags.narrator": "diagnostic", "params.beta": str(beta),
                         "params.lambda": "0.01", "params.gamma": "0.0", "metrics.test_mse": mse,
                         "metrics.best_val_mse": mse / 2, "metrics.test_mse_lead1": mse - 0.1,
                         "metrics.test_mse_lead2": mse + 0.1})
    rows.append(rows[-1] | {"run_id": "killed", "status": "KILLED", "metrics.test_mse": 99.0})
    rows.append({"run_id": "t", "status": "FINISHED", "tags.role": "teacher", "tags.dataset": "ncep"})
    return pd.DataFrame(rows)


def test_dataset_family_joins_the_benchmarks_seed_folders():
    assert dataset_family("bench_ncep_t1_s2") == dataset_family("ncep") == "ncep"
    assert dataset_family("bench_synthetic_dial_0.5_t0_s0") == "synthetic_dial_0.5"
    assert dataset_family("bench_ncep_tuning") == "bench_ncep_tuning"


def test_method_table_averages_runs_and_compares_with_the_student():
    students = student_runs(_runs())
    assert len(students) == 6
    assert "killed" not in set(students["run_id"]) and (students["dataset"] == "ncep").all()
    assert sorted(students["teacher_seed"].unique()) == [0, 1]
    table = method_table(students).set_index("method")
    # seeds 0, 1, 0 -> student 1.0, 1.1, 1.0; s2kd 0.9, 1.0, 0.9
    assert table.loc["student", "test_mse mean"] == pytest.approx(3.1 / 3)
    assert table.loc["s2kd", "test_mse std"] == pytest.approx(np.std([0.9, 1.0, 0.9], ddof=1))
    assert table.loc["s2kd", "test_mse vs student %"] == pytest.approx(100 * (2.8 / 3.1 - 1))
    assert table.loc["student", "test_mse vs student %"] == 0 and (table["runs"] == 3).all()
    with pytest.raises(ValueError, match="test_acc.*pipeline evaluate"):
        method_table(students, ["test_acc"])


def test_lead_table_and_the_weights_figure():
    students = student_runs(_runs())
    leads = lead_table(students).set_index(["method", "lead"])
    assert leads.loc[("s2kd", 1), "mean"] == pytest.approx(np.mean([0.8, 0.9, 0.8]))
    assert leads.loc[("s2kd", 2), "runs"] == 3
    fig = weights_figure(students)
    assert [len(ax.collections) for ax in fig.axes] == [1, 2, 0]  # one scatter per method with the weight > 0
    with pytest.raises(ValueError, match="no model runs"):
        student_runs(pd.DataFrame())


def test_tidy_metrics_names_per_variable_metrics_and_leads_as_evaluate_does():
    models = pd.DataFrame({"model": ["student_s2kd"], "role": ["student"], "run_id": ["r"], "folder": ["ncep"],
                           "test_mse": [1.0], "test_rmse_physical_t": [2.0], "test_rmse_physical_per_forecast_t": [3.0],
                           "test_mse_lead2": [4.0], "test_acc": [0.9], "test_surprise": [5.0], "best_val_mse": [0.1]})
    tidy = tidy_metrics(models, ["t"]).set_index(["metric", "lead"])["value"].to_dict()
    assert tidy == {("mse", 0): 1.0, ("rmse_physical (t)", 0): 2.0, ("rmse_physical_per_forecast (t)", 0): 3.0,
                    ("mse", 2): 4.0, ("acc", 0): 0.9}  # an unknown test_* name and non-test metrics are left out
