"""Wiring of the ``evaluate`` pipeline: one node that scores the core models on the test split."""

from __future__ import annotations

from collections.abc import Sequence

from kedro.pipeline import Node, Pipeline

from s2kd.pipelines.evaluate.nodes import evaluate_models
from s2kd.training.methods import student_names, teacher_names


def evaluate_node(models: Sequence[str]) -> Node:
    """The node that scores ``models`` (catalog entries of trained models, in table order)."""
    inputs = {"series": "series", "sample_index": "sample_index", "normalisation_stats": "normalisation_stats",
              "narrative_embeddings": "narrative_embeddings", "narrate": "params:narrate",
              "params": "params:evaluate", "loading": "params:loading", **{m: m for m in models}}
    return Node(func=evaluate_models, inputs=inputs,
                outputs=["metrics_table", "window_errors", "efficiency", "power_spectra", "forecast_samples",
                         "evaluation_metrics"],
                name="evaluate_models")


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([evaluate_node([*teacher_names(ablation=False), *student_names(ablation=False)])],
                    tags="evaluate")
