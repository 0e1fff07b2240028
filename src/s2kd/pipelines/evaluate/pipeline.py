"""Wiring of the ``evaluate`` pipeline."""

from kedro.pipeline import Node, Pipeline

from s2kd.pipelines.evaluate.nodes import evaluate_models


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(func=evaluate_models,
                 inputs=["series", "sample_index", "normalisation_stats", "narrative_embeddings", "teacher_multimodal",
                         "teacher_vision", "teacher_ablations", "students", "params:narrate", "params:evaluate"],
                 outputs=["metrics_table", "efficiency", "power_spectra", "forecast_samples", "evaluation_metrics"],
                 name="evaluate_models"),
        ],
        tags="evaluate",
    )
