"""Wiring of the ``forecast`` pipeline: one node, the chosen model on the new file's last frames."""

from kedro.pipeline import Node, Pipeline

from s2kd.pipelines.forecast.nodes import forecast_new_data


def create_pipeline(**kwargs) -> Pipeline:
    inputs = ["forecast_model", "series", "normalisation_stats", "params:ingest", "params:forecast"]
    return Pipeline([Node(func=forecast_new_data, inputs=inputs, outputs="forecast_output", name="forecast_new_data")],
                    tags="forecast")
