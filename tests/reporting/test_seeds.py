"""Results over seeds: means and sample standard deviations, per-seed ratios, per-lead changes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from s2kd.reporting import seed_lead_curves
from s2kd.reporting.seeds import (
    efficiency_ratios,
    lead_table,
    mean_std_table,
    ratios,
    seed_summary,
    stack_seeds,
)

# value[model][seed] at lead 1; lead 2 is 1.5x, lead 0 the mean of both
MSE = {"teacher_multimodal": [0.5, 0.7, 0.6], "student_student": [1.0, 2.0, 1.5], "student_s2kd": [0.9, 2.2, 1.2]}


def _table(seed: int) -> pd.DataFrame:
    rows = []
    for model, values in MSE.items():
        role = "teacher" if model.startswith("teacher") else "student"
        v = values[seed]
        for lead, value in ((1, v), (2, 1.5 * v), (0, 1.25 * v)):
            rows.append({"model": model, "method": model, "role": role, "oracle": role == "teacher",
                         "metric": "mse", "lead": lead, "value": value})
            rows.append({"model": model, "method": model, "role": role, "oracle": role == "teacher",
                         "metric": "acc", "lead": lead, "value": 1.0 - value / 10})
    return pd.DataFrame(rows)


@pytest.fixture
def metrics() -> pd.DataFrame:
    return stack_seeds({2: _table(2), 0: _table(0), 1: _table(1)})


def test_stack_orders_seeds_and_refuses_nothing(metrics):
    assert metrics["seed"].drop_duplicates().tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="at least one seed"):
        stack_seeds({})


def test_summary_is_mean_and_sample_std_over_seeds(metrics):
    s = seed_summary(metrics, ("mse", "acc")).set_index(["model", "metric"])
    for model, values in MSE.items():
        lead0 = 1.25 * np.array(values)
        assert s.loc[(model, "mse"), "mean"] == pytest.approx(lead0.mean())
        assert s.loc[(model, "mse"), "std"] == pytest.approx(lead0.std(ddof=1))
        assert s.loc[(model, "mse"), "n"] == 3
    one = seed_summary(metrics[metrics["seed"] == 0], ("mse",))
    assert one["std"].isna().all()


def test_mean_std_table_has_teachers_first_and_the_spread(metrics):
    table = mean_std_table(seed_summary(metrics, ("mse",)), ("mse",), digits=3)
    assert table["model"].iloc[0] == "teacher_multimodal"
    row = table.set_index("model").loc["student_student", "mse"]
    assert row == f"{1.25 * 1.5:.3g} ± {np.std(1.25 * np.array(MSE['student_student']), ddof=1):.1g}"


def test_ratios_are_taken_within_each_seed_then_averaged(metrics):
    r = ratios(metrics, "student_s2kd",
               ["student_student", "teacher_multimodal", "student_missing"]).set_index("denominator")
    per_seed = np.array(MSE["student_s2kd"]) / np.array(MSE["student_student"])
    assert r.loc["student_student", "mean"] == pytest.approx(per_seed.mean())
    # the mean of ratios, not the ratio of means (which differs for these numbers)
    assert r.loc["student_student",
                 "mean"] != pytest.approx(np.mean(MSE["student_s2kd"]) / np.mean(MSE["student_student"]))
    assert r.loc["student_student", "std"] == pytest.approx(per_seed.std(ddof=1))
    assert r.loc["student_student", "wins"] == 2 and r.loc["student_student", "n"] == 3
    assert r.loc["teacher_multimodal", "wins"] == 0
    assert "student_missing" not in r.index
    acc = ratios(metrics, "student_s2kd", ["student_student"], metric="acc").set_index("denominator")
    assert acc.loc["student_student", "wins"] == 2  # higher ACC is better: the same two seeds win


def test_lead_table_changes_are_per_seed_means(metrics):
    table = lead_table(metrics, ["student_student", "student_s2kd"], reference="student_student").set_index("lead")
    assert list(table.index) == [1, 2]
    assert table.loc[2, "student_s2kd"] == pytest.approx(1.5 * np.mean(MSE["student_s2kd"]))
    change = 100 * (np.array(MSE["student_s2kd"]) / np.array(MSE["student_student"]) - 1)
    assert table.loc[1, "student_s2kd vs student_student (%)"] == pytest.approx(change.mean())


def test_efficiency_ratios_use_medians_and_name_a_missing_model():
    eff = pd.DataFrame({"model": ["teacher_multimodal", "student_s2kd"] * 3,
                        "parameters": [1000, 10] * 3, "flops": [500, 50] * 3,
                        "latency_ms_b1": [10.0, 2.0, 30.0, 2.0, 12.0, 4.0], "latency_ms_b32": [1.0, 1.0] * 3})
    r = efficiency_ratios(eff, "student_s2kd", "teacher_multimodal").set_index("quantity")
    assert r.loc["parameters", "teacher_over_student"] == pytest.approx(100)
    assert r.loc["latency_ms_b1", "teacher_over_student"] == pytest.approx(12.0 / 2.0)
    with pytest.raises(KeyError, match="student_unknown"):
        efficiency_ratios(eff, "student_unknown", "teacher_multimodal")


def test_seed_lead_curves_is_a_real_png(metrics):
    image = Image.open(io.BytesIO(seed_lead_curves(metrics, ["student_student", "student_s2kd", "teacher_multimodal"])))
    image.load()
    assert image.format == "PNG" and image.size[0] > 600
