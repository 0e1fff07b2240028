"""Wiring of the ``distill`` pipeline."""

from kedro.pipeline import Node, Pipeline

from s2kd.pipelines.distill.nodes import distill_students, summarise_students


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(func=distill_students,
                 inputs=["series", "sample_index", "normalisation_stats", "narrative_embeddings", "teacher_multimodal",
                         "teacher_vision", "teacher_ablations", "params:distill"],
                 outputs=["students", "student_summaries"], name="distill_students"),
            Node(func=summarise_students, inputs="student_summaries", outputs=["distill_validation", "distill_metrics"],
                 name="summarise_students"),
        ],
        tags="distill",
    )
