"""Wiring of the ``train_teacher`` pipeline: one node per core teacher role, then their table."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from s2kd.pipelines.train_teacher.nodes import summarise_teachers, teacher_node
from s2kd.pipelines.training import summary_node, training_node
from s2kd.training.methods import TEACHERS


def teacher_nodes(*, ablation: bool) -> list[Node]:
    """``teacher_<role>.train`` for every teacher role with this ``ablation`` flag; only the roles that
    read the narratives get them."""
    return [training_node(teacher_node(role), f"teacher_{role}", params="train_teacher", tag="train_teacher",
                          narratives=spec.use_text)
            for role, spec in TEACHERS.items() if spec.ablation == ablation]


def create_pipeline(**kwargs) -> Pipeline:
    nodes = teacher_nodes(ablation=False)
    return Pipeline([*nodes, summary_node(summarise_teachers, nodes, ["teacher_validation", "teacher_metrics"],
                                          "summarise_teachers")], tags="train_teacher")
