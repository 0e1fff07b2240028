"""Wiring of the ``train_teacher`` pipeline."""

from kedro.pipeline import Node, Pipeline

from s2kd.pipelines.train_teacher.nodes import (
    summarise_teachers,
    train_ablation_teachers,
    train_multimodal_teacher,
    train_vision_teacher,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(func=train_multimodal_teacher, inputs=["series", "sample_index", "normalisation_stats", "narrative_embeddings",
                                                            "params:train_teacher"],
                 outputs=["teacher_multimodal", "teacher_multimodal_summary"], name="train_multimodal_teacher"),
            Node(func=train_vision_teacher, inputs=["series", "sample_index", "normalisation_stats", "params:train_teacher"],
                 outputs=["teacher_vision", "teacher_vision_summary"], name="train_vision_teacher"),
            # after the multimodal teacher (its summary is an input): under DDP every process then trains
            # before its first save, so the process group, and the barrier after each write, exist by then
            Node(func=train_ablation_teachers, inputs=["series", "sample_index", "normalisation_stats", "narrative_embeddings",
                                                           "params:train_teacher", "params:distill",
                                                           "teacher_multimodal_summary"],
                 outputs=["teacher_ablations", "teacher_ablation_summaries"], name="train_ablation_teachers"),
            Node(func=summarise_teachers, inputs=["teacher_multimodal_summary", "teacher_vision_summary",
                                                  "teacher_ablation_summaries"],
                 outputs=["teacher_validation", "teacher_metrics"], name="summarise_teachers"),
        ],
        tags="train_teacher",
    )
