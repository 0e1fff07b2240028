"""Wiring of the ``report`` pipeline."""

from kedro.pipeline import Node, Pipeline

from s2kd.pipelines.report.nodes import write_report


def report_node() -> Node:
    """The node that writes ``report.html`` and ``report.md`` from what ``evaluate`` measured."""
    return Node(func=write_report,
                inputs=["metrics_table", "efficiency", "power_spectra", "forecast_samples", "narratives",
                        "validation_summaries", "normalisation_stats", "params:ingest", "params:narrate",
                        "params:train_teacher", "params:distill", "params:trainer", "params:evaluate"],
                outputs=["report_html", "report_md"], name="write_report")


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([report_node()], tags="report")
