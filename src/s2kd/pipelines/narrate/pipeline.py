"""Wiring of the ``narrate`` pipeline."""

from kedro.pipeline import Node, Pipeline

from s2kd.pipelines.narrate.nodes import embed_narratives, write_narratives


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=write_narratives,
                inputs=["series", "sample_index", "sample_metadata", "normalisation_stats", "narrator_system_prompt",
                        "narrator_user_prompt", "narrator_api_key", "params:narrate"],
                outputs=["narratives", "narration_metrics"],
                name="write_narratives",
            ),
            Node(func=embed_narratives, inputs=["narratives", "sample_index", "params:narrate"],
                 outputs="narrative_embeddings", name="embed_narratives"),
        ],
        tags="narrate",
    )
