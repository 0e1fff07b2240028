"""Wiring of the ``export`` pipeline."""

from kedro.pipeline import Node, Pipeline

from s2kd.pipelines.export.nodes import export_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([Node(func=export_model, inputs=["forecast_model", "series", "normalisation_stats",
                                                     "params:forecast"],
                          outputs=["exported_model", "export_report"], name="export_model")], tags="export")
