"""Wiring of the ``train_teacher`` pipeline: one node per core teacher role, then their table."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from s2kd.pipelines.train_teacher.nodes import summarise_teachers, teacher_node
from s2kd.training.methods import TEACHERS


def teacher_nodes(*, ablation: bool) -> list[Node]:
    """``teacher_<role>.train`` for every teacher role with this ``ablation`` flag: the model goes to
    the catalog entry ``teacher_<role>``, its validation row to ``teacher_<role>_validation``."""
    nodes = []
    for role, spec in TEACHERS.items():
        if spec.ablation != ablation:
            continue
        name = f"teacher_{role}"
        inputs = {"series": "series", "sample_index": "sample_index", "normalisation_stats": "normalisation_stats",
                  "params": "params:train_teacher", "trainer": "params:trainer"}
        if spec.use_text:
            inputs["narrative_embeddings"] = "narrative_embeddings"
        nodes.append(Node(func=teacher_node(role), inputs=inputs, outputs=[name, f"{name}_validation"],
                          name="train", namespace=name, tags=["train_teacher", name]))
    return nodes


def create_pipeline(**kwargs) -> Pipeline:
    nodes = teacher_nodes(ablation=False)
    summaries = {n.outputs[0]: n.outputs[1] for n in nodes}
    return Pipeline([*nodes, Node(func=summarise_teachers, inputs=summaries,
                                  outputs=["teacher_validation", "teacher_metrics"], name="summarise_teachers")],
                    tags="train_teacher")
