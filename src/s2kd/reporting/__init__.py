"""The report of a run: tables, figures and the HTML/Markdown documents. Library code (no Kedro,
no MLflow): pandas tables in, text and PNG bytes out."""

from s2kd.reporting.figures import (
    forecast_panels,
    lead_time_curves,
    power_spectra_figure,
    seed_lead_curves,
)
from s2kd.reporting.render import markdown_table, render_html, render_markdown
from s2kd.reporting.tables import (
    CONVENTION_METRICS,
    HEADLINE_METRICS,
    PHYSICAL_METRICS,
    by_metric,
    expand,
    method_table,
    winner_lines,
    with_changes,
)

__all__ = ["CONVENTION_METRICS", "HEADLINE_METRICS", "PHYSICAL_METRICS", "by_metric", "expand", "forecast_panels",
           "lead_time_curves", "method_table", "power_spectra_figure",
           "markdown_table", "render_html", "render_markdown", "seed_lead_curves", "winner_lines", "with_changes"]
