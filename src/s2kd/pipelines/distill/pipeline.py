"""Wiring of the ``distill`` pipeline: one node per core method, then the students' table."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from s2kd.pipelines.distill.nodes import student_node, summarise_students
from s2kd.training.methods import METHODS, TEACHERS


def student_nodes(*, ablation: bool) -> list[Node]:
    """``student_<method>.train`` for every method with this ``ablation`` flag: the student goes to the
    catalog entry ``student_<method>``, its validation row to ``student_<method>_validation``; it reads
    its teacher (and the narratives, for a teacher that reads them) and nothing else."""
    nodes = []
    for method, spec in METHODS.items():
        if spec.ablation != ablation:
            continue
        name = f"student_{method}"
        inputs = {"series": "series", "sample_index": "sample_index", "normalisation_stats": "normalisation_stats",
                  "params": "params:distill", "trainer": "params:trainer"}
        if spec.teacher is not None:
            inputs["teacher"] = f"teacher_{spec.teacher}"
            if TEACHERS[spec.teacher].use_text:
                inputs["narrative_embeddings"] = "narrative_embeddings"
        nodes.append(Node(func=student_node(method), inputs=inputs, outputs=[name, f"{name}_validation"],
                          name="train", namespace=name, tags=["distill", name]))
    return nodes


def create_pipeline(**kwargs) -> Pipeline:
    nodes = student_nodes(ablation=False)
    summaries = {n.outputs[0]: n.outputs[1] for n in nodes}
    return Pipeline([*nodes, Node(func=summarise_students, inputs=summaries,
                                  outputs=["distill_validation", "distill_metrics"], name="summarise_students")],
                    tags="distill")
