"""Wiring of the ``ingest`` pipeline."""

from kedro.pipeline import Node, Pipeline

from s2kd.pipelines.ingest.nodes import (
    describe_samples,
    load_and_validate,
    normalise_series,
    split_and_fit,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(func=load_and_validate, inputs=["params:ingest", "xarray_storage_options"],
                 outputs=["raw_series", "source_events", "time_context"],
                 name="load_and_validate_source"),
            Node(func=split_and_fit, inputs=["raw_series", "params:ingest"],
                 outputs=["sample_index", "normalisation_stats"],
                 name="split_and_fit_normalisation"),
            Node(func=normalise_series, inputs=["raw_series", "normalisation_stats"], outputs="series",
                 name="normalise_series"),
            Node(func=describe_samples, inputs=["sample_index", "source_events", "time_context", "params:ingest"],
                 outputs="sample_metadata", name="describe_samples"),
        ],
        tags="ingest",
    )
