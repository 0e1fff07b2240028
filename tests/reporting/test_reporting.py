"""Report tables, figures and documents: numbers right, images real, untrusted text escaped."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from s2kd.reporting import (
    forecast_panels,
    lead_time_curves,
    method_table,
    power_spectra_figure,
    render_html,
    render_markdown,
    winner_lines,
    with_changes,
)


def _metrics() -> pd.DataFrame:
    rows = []
    values = {"teacher_multimodal": 0.8, "student_student": 1.0, "student_feature_kd": 0.95, "student_s2kd": 0.9}
    for model, v in values.items():
        role = "teacher" if model.startswith("teacher") else "student"
        for lead in (0, 1, 2):
            rows.append({"model": model, "method": model.removeprefix("student_"), "role": role,
                         "oracle": role == "teacher", "metric": "mse", "lead": lead, "value": v * (1 + 0.1 * lead)})
            rows.append({"model": model, "method": model, "role": role, "oracle": role == "teacher", "metric": "acc",
                         "lead": lead, "value": 1 - v / 4})
    return pd.DataFrame(rows)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        if tag == "script":
            self.scripts += 1


def test_method_table_and_changes_against_references():
    table = method_table(_metrics())
    assert list(table["model"])[0] == "teacher_multimodal" and list(table.columns[-2:]) == ["mse", "acc"]
    changes = with_changes(table, "mse").set_index("model")
    assert changes.loc["student_s2kd", "mse vs student (%)"] == pytest.approx(-10.0)
    assert changes.loc["student_s2kd", "mse vs feature_kd (%)"] == pytest.approx(100 * (0.9 / 0.95 - 1))
    lines = winner_lines(table)
    assert any(line.startswith("mse: s2kd 0.9 beats student (1), feature_kd (0.95)") for line in lines)
    worse = _metrics()
    worse.loc[worse["model"] == "student_s2kd", "value"] = 2.0
    assert any("mse: s2kd 2 does not beat student (1), feature_kd (0.95)" in line
               for line in winner_lines(method_table(worse)))


def test_figures_are_png_images():
    metrics = _metrics()
    spectra = pd.DataFrame([{"model": m, "frequency": f, "power": 1 / f} for m in ("truth", "student_s2kd")
                            for f in (0.1, 0.2, 0.4)])
    rng = np.random.default_rng(0)
    samples = {"x": rng.normal(size=(2, 4, 1, 8, 16)), "truth": rng.normal(size=(2, 3, 1, 8, 16)),
               "pred__student_s2kd": rng.normal(size=(2, 3, 1, 8, 16))}
    for png in (lead_time_curves(metrics), power_spectra_figure(spectra),
                forecast_panels(samples, ["student_s2kd", "absent"], 1)):
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and min(image.size) > 100


def test_html_is_self_contained_and_escapes_untrusted_narratives():
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)> | pipes'
    png = lead_time_curves(_metrics())
    sections = [{"heading": "Table", "table": pd.DataFrame({"model": ["<b>m</b>"], "mse": [0.5]})},
                {"heading": "Figure", "images": [{"alt": "curves", "png": png}]},
                {"heading": "Narratives", "narratives": [{"label": "sample 1", "text": evil}]}]
    html = render_html("t", "s", sections)
    parsed = _Collector()
    parsed.feed(html)
    assert parsed.scripts == 0 and "table" in parsed.tags
    assert "&lt;script&gt;" in html and "&lt;b&gt;m&lt;/b&gt;" in html
    assert len(parsed.images) == 1 and parsed.images[0].startswith("data:image/png;base64,")
    assert base64.b64decode(parsed.images[0].split(",", 1)[1]) == png  # embedded, nothing to fetch
    assert not re.search(r'src="(?!data:)', html)
    md = render_markdown("t", "s", sections)
    assert "<script>" not in md and "\\| pipes" in md and "| &lt;b&gt;m&lt;/b&gt; | 0.5 |" in md


def test_expanded_metric_columns_do_not_depend_on_the_order_of_the_rows():
    """docs/results.md is regenerated as runs come in: its columns must not move with MLflow's metric order."""
    from s2kd.reporting.tables import expand

    names = ["mse", "mae", "rmse_physical", "acc"]
    rows = pd.DataFrame({"metric": ["mae (t2m)", "rmse_physical (z500)", "mse (z500)", "acc", "mse", "mae",
                                    "mse (t2m)", "rmse_physical (t2m)", "mae (z500)", "other"]})
    expected = ("mse", "mse (t2m)", "mse (z500)", "mae", "mae (t2m)", "mae (z500)", "rmse_physical (t2m)",
                "rmse_physical (z500)", "acc")
    for seed in range(5):
        assert expand(names, rows.sample(frac=1.0, random_state=seed)) == expected
