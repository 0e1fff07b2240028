"""``evaluate`` and ``report`` end to end on the tiny preset: every model scored once on the test
split, efficiency measured, and a self-contained report whose tables and images render."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser

import pandas as pd
import pytest
from PIL import Image

from s2kd.metrics import ALL, METRICS
from s2kd.pipelines.distill import create_pipeline as distill_pipeline
from s2kd.pipelines.evaluate import create_pipeline as evaluate_pipeline
from s2kd.pipelines.ingest import create_pipeline as ingest_pipeline
from s2kd.pipelines.narrate import create_pipeline as narrate_pipeline
from s2kd.pipelines.report import create_pipeline as report_pipeline
from s2kd.pipelines.train_teacher import create_pipeline as train_teacher_pipeline
from s2kd.training.methods import METHODS as REGISTRY
from tests.helpers import load_conf, run, tiny, tmp_catalog

METHODS = [m for m, spec in REGISTRY.items() if not spec.ablation]


def _run_everything(root):
    """ingest -> report on the tiny preset (one epoch), every output under ``root``; returns the catalog."""
    budget = {"max_epochs": 1, "max_train_samples": 32, "max_val_samples": 8}
    catalog, _ = tmp_catalog(load_conf(None), root, tiny(train_teacher=budget, distill=budget))
    run(ingest_pipeline() + narrate_pipeline() + train_teacher_pipeline() + distill_pipeline() + evaluate_pipeline()
        + report_pipeline(), catalog)
    return catalog


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    return root, _run_everything(root)


def test_every_model_gets_every_metric_per_lead_and_channel(evaluated):
    _, catalog = evaluated
    table = catalog.load("metrics_table")
    models = ["teacher_multimodal", "teacher_vision"] + [f"student_{m}" for m in METHODS]
    assert list(table["model"].unique()) == models
    assert set(table["metric"]) == set(METRICS) and sorted(table["lead"].unique()) == [0, 1, 2, 3, 4]
    # the synthetic source's one channel, t; "all" for the metrics that have a value over channels
    pooled = [m for m, spec in METRICS.items() if spec.channels != "none"]
    assert len(table) == len(models) * (len(METRICS) + len(pooled)) * 5
    assert set(table.loc[table["metric"] == "rmse_physical", "channel"]) == {"t"}
    assert set(table.loc[table["metric"] == "mse", "channel"]) == {"t", ALL}
    per = table.set_index(["model", "metric", "channel", "lead"])["value"]
    s2kd = per.loc["student_s2kd"]
    assert s2kd[("mse", ALL, 0)] == pytest.approx(sum(s2kd[("mse", ALL, k)] for k in range(1, 5)) / 4)
    # RMSE over all leads is the root of the MSE over all leads, in kelvin, with the same area weights
    assert s2kd[("rmse_physical", "t", 0)] == pytest.approx(
        (sum(s2kd[("mse_physical", "t", k)] for k in range(1, 5)) / 4) ** 0.5)
    assert 0 < s2kd[("rmse_physical", "t", 0)] < 100 and -1 <= s2kd[("acc", ALL, 0)] <= 1
    oracle = table.drop_duplicates("model").set_index("model")["oracle"]
    assert oracle["teacher_multimodal"] and not oracle["teacher_vision"] and not oracle["student_s2kd"]
    scoring = catalog.load("forecast_samples")["meta"]["scoring"]
    assert scoring["climatology"] == "fitted on the training split (annual, diurnal)"
    assert scoring["data_range"]["t"] > 0 and scoring["weights"] == "area (cell area from latitude bounds)"


def test_window_errors_average_to_each_models_test_mse(evaluated):
    """The bootstrap's unit, one MSE per model and test window, is the reported MSE taken apart: the mean
    over windows is each model's test MSE, every window is there once per model, with its first target time."""
    _, catalog = evaluated
    errors, table = catalog.load("window_errors"), catalog.load("metrics_table")
    mse = table[(table["metric"] == "mse") & (table["channel"] == ALL) & (table["lead"] == 0)].set_index("model")
    means = errors.groupby("model", sort=False)["mse"].mean()
    assert list(means.index) == list(mse.index)
    for model, value in means.items():
        assert value == pytest.approx(mse.loc[model, "value"], rel=1e-9), model
    index = catalog.load("sample_index")
    test_ids = set(index.loc[index["split"] == "test", "sample_id"])
    for _, group in errors.groupby("model"):
        assert sorted(group["sample_id"]) == sorted(test_ids) and group["time"].is_monotonic_increasing
    assert errors["mse"].std() > 0


def test_efficiency_has_parameters_flops_latency_and_memory(evaluated):
    _, catalog = evaluated
    eff = catalog.load("efficiency").set_index("model")
    assert {"parameters", "flops", "peak_memory_mb", "latency_ms_b1", "latency_ms_b32"} <= set(eff.columns)
    assert (eff[["parameters", "flops", "peak_memory_mb", "latency_ms_b1"]] > 0).all().all()
    assert eff.loc["student_s2kd", "parameters"] * 10 <= eff.loc["teacher_multimodal", "parameters"]
    assert eff.loc["student_s2kd", "flops"] < eff.loc["teacher_multimodal", "flops"]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables, self.images, self.headings, self._in_h2 = 0, [], [], False

    def handle_starttag(self, tag, attrs):
        self.tables += tag == "table"
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data.strip())
            self._in_h2 = False


def test_the_report_renders_its_tables_and_images(evaluated):
    root, catalog = evaluated
    html = (root / "data/08_reporting/synthetic/report.html").read_text()
    page = _Page()
    page.feed(html)
    assert page.tables >= 6
    assert {"Methods on the test split", "Per variable, in physical units", "In other benchmarks' conventions",
            "Per lead time", "Power spectra", "Forecasts", "Efficiency", "Data and parameters"} <= set(page.headings)
    assert len(page.images) == 2 + 2  # curves, spectra, one panel per kept sample
    for src in page.images:  # every image embedded and decodable: none broken
        assert src.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    assert "student_s2kd" in html and "Oracle: teacher_multimodal" in html
    assert "rmse_physical (t)" in html and "mse_openstl" in html and "K" in html  # per variable, in kelvin
    md = catalog.load("report_md")
    assert "| model | role |" in md and "student_feature_kd" in md


def test_two_variables_of_real_data_are_scored_and_reported_each_in_its_own_row(tmp_path, shared_data):
    """BikeNYC's in- and outflows through the whole chain (tiny preset, one epoch): a row per variable and
    lead for every metric, an `all` row only where pooling makes sense, a report column per variable."""
    path = str(shared_data / "bikenyc" / "NYCBike1_grid.h5")
    budget = {"max_epochs": 1, "max_train_samples": 32, "max_val_samples": 8}
    catalog, _ = tmp_catalog(load_conf("bikenyc"), tmp_path, tiny(ingest={"st_grid_h5": {"path": path}},
                                                                   train_teacher=budget, distill=budget))
    run(ingest_pipeline() + narrate_pipeline() + train_teacher_pipeline() + distill_pipeline() + evaluate_pipeline()
        + report_pipeline(), catalog)
    assert catalog.load("normalisation_stats")["cycles"] == ["annual", "weekly", "diurnal"]  # flows: a weekly cycle
    table = catalog.load("metrics_table")
    assert set(table["channel"]) == {"inflow", "outflow", ALL}
    assert set(table.loc[table["metric"] == "rmse_physical", "channel"]) == {"inflow", "outflow"}
    per = table[table["model"] == "student_s2kd"].set_index(["metric", "channel", "lead"])["value"]
    assert per[("mse", ALL, 2)] == pytest.approx((per[("mse", "inflow", 2)] + per[("mse", "outflow", 2)]) / 2)
    assert per[("mse_openstl", ALL, 2)] == pytest.approx(per[("mse_openstl", "inflow", 2)]
                                                         + per[("mse_openstl", "outflow", 2)])
    html = catalog.load("report_html")
    assert "rmse_physical (inflow)" in html and "rmse_physical (outflow)" in html
    assert "weighting: none (no latitude grid)" in html  # flows: no area weights


def test_the_report_lists_a_teacher_no_better_than_the_plain_student():
    from s2kd.pipelines.report.nodes import _teacher_check_section

    rows = pd.DataFrame([
        {"model": "student_student", "best_val_mse": 0.010},
        {"model": "student_s2kd", "teacher": "teacher_multimodal", "teacher_val_mse": 0.012, "student_val_mse": 0.010,
         "teacher_gain": -0.2, "teacher_beats_student": False, "skipped": False, "best_val_mse": 0.011},
        {"model": "student_sdkd", "teacher": "teacher_vision", "teacher_val_mse": 0.009, "student_val_mse": 0.010,
         "teacher_gain": 0.1, "teacher_beats_student": True, "skipped": False, "best_val_mse": 0.0095},
    ])
    section = _teacher_check_section(rows)
    assert list(section["table"]["model"]) == ["student_s2kd", "student_sdkd"]
    assert section["items"] == ["WARNING: teacher_multimodal is not better than the plain student on validation "
                                "(0.01200 vs 0.01000); student_s2kd learnt from it anyway "
                                "(distill.skip_weak_teachers: false)."]
    assert "Every teacher is better" in _teacher_check_section(rows.drop(index=1))["items"][0]
