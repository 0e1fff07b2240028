"""``evaluate`` and ``report`` end to end on the tiny preset: every model scored once on the test
split, efficiency measured, and a self-contained report whose tables and images render."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser

import pandas as pd
import pytest
from PIL import Image

from s2kd.metrics import METRICS
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


def test_the_same_seed_gives_bit_identical_metrics(evaluated, tmp_path):
    """Determinism on CPU: the whole chain again, from scratch in another folder (no checkpoint to resume),
    gives the same narratives, the same validation losses and bit-identical test metrics."""
    _, first = evaluated
    second = _run_everything(tmp_path)
    pd.testing.assert_frame_equal(first.load("narratives"), second.load("narratives"), check_exact=True)
    for name in ("teacher_validation", "distill_validation"):
        a, b = first.load(name), second.load(name)
        assert a["best_val_mse"].tolist() == b["best_val_mse"].tolist(), name
    a, b = first.load("metrics_table"), second.load("metrics_table")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert len(a) > 100 and a["value"].notna().all()


def test_every_model_gets_every_metric_per_lead_and_averaged(evaluated):
    _, catalog = evaluated
    table = catalog.load("metrics_table")
    models = ["teacher_multimodal", "teacher_vision"] + [f"student_{m}" for m in METHODS]
    assert list(table["model"].unique()) == models
    assert set(table["metric"]) == set(METRICS) and sorted(table["lead"].unique()) == [0, 1, 2, 3, 4]
    assert len(table) == len(models) * len(METRICS) * 5
    per = table.set_index(["model", "metric", "lead"])["value"]
    assert per[("student_s2kd", "mse",
                0)] == pytest.approx(sum(per[("student_s2kd", "mse", k)] for k in range(1, 5)) / 4)
    # the synthetic grid is lat/lon: RMSE in kelvin is the weighted root of the physical MSE's order
    assert 0 < per[("student_s2kd", "rmse_physical", 0)] < 100 and -1 <= per[("student_s2kd", "acc", 0)] <= 1
    oracle = table.drop_duplicates("model").set_index("model")["oracle"]
    assert oracle["teacher_multimodal"] and not oracle["teacher_vision"] and not oracle["student_s2kd"]


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
    assert page.tables >= 4
    assert {"Methods on the test split", "Per lead time", "Power spectra", "Forecasts", "Efficiency",
            "Data and parameters"} <= set(page.headings)
    assert len(page.images) == 2 + 2  # curves, spectra, one panel per kept sample
    for src in page.images:  # every image embedded and decodable: none broken
        assert src.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    assert "student_s2kd" in html and "Oracle: teacher_multimodal" in html
    md = catalog.load("report_md")
    assert "| model | role |" in md and "student_feature_kd" in md
