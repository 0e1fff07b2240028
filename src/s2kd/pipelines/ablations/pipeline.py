"""Wiring of the ``ablations`` pipeline: one node per ablation teacher and student (generated from
the registries), their table, then ``evaluate`` and ``report`` over every model, ablations included.

Run after the core chain (it reads the core teachers and students): ``kedro run --pipeline ablations``.
It is not part of the default ``kedro run``, which stays at the core methods' cost.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from s2kd.pipelines.ablations.nodes import summarise_ablations
from s2kd.pipelines.distill.pipeline import student_nodes
from s2kd.pipelines.evaluate.pipeline import evaluate_node
from s2kd.pipelines.report.pipeline import report_node
from s2kd.pipelines.train_teacher.pipeline import teacher_nodes
from s2kd.pipelines.training import summary_node
from s2kd.training.methods import student_names, teacher_names


def create_pipeline(**kwargs) -> Pipeline:
    nodes = teacher_nodes(ablation=True) + student_nodes(ablation=True)
    baselines = {"teacher_vision": "teacher_vision_validation", "student": "student_student_validation"}
    return Pipeline([
        *nodes,
        summary_node(summarise_ablations, nodes, ["ablation_validation", "ablation_metrics"], "summarise_ablations",
                     baselines),
        evaluate_node([*teacher_names(), *student_names()]),
        report_node(),
    ], tags="ablations")
