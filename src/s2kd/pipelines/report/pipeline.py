"""Wiring of the ``report`` pipeline."""

from kedro.pipeline import Node, Pipeline

from s2kd.pipelines.report.nodes import write_report


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(func=write_report,
                 inputs=["metrics_table", "efficiency", "power_spectra", "forecast_samples", "narratives",
                         "teacher_validation", "distill_validation", "normalisation_stats", "params:ingest",
                         "params:narrate", "params:train_teacher", "params:distill", "params:evaluate"],
                 outputs=["report_html", "report_md"], name="write_report"),
        ],
        tags="report",
    )
