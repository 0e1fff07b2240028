"""Wiring of the ``distill`` pipeline: one node per core method, then the students' table."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from s2kd.pipelines.distill.nodes import student_node, summarise_students
from s2kd.pipelines.training import summary_node, training_node
from s2kd.training.methods import METHODS, TEACHERS


def student_nodes(*, ablation: bool) -> list[Node]:
    """``student_<method>.train`` for every method with this ``ablation`` flag; each reads its teacher
    (and the narratives, for a teacher that reads them) and the plain student's validation row, which
    its teacher is checked against before it teaches (so the plain student trains first)."""
    return [training_node(student_node(method), f"student_{method}", params="distill", tag="distill",
                          teacher=f"teacher_{spec.teacher}" if spec.teacher else None,
                          narratives=spec.teacher is not None and TEACHERS[spec.teacher].use_text,
                          baseline="student_student_validation" if spec.teacher else None)
            for method, spec in METHODS.items() if spec.ablation == ablation]


def create_pipeline(**kwargs) -> Pipeline:
    nodes = student_nodes(ablation=False)
    return Pipeline([*nodes, summary_node(summarise_students, nodes, ["distill_validation", "distill_metrics"],
                                          "summarise_students")], tags="distill")
