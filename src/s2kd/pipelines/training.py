"""What the training pipelines share: one namespaced node per trained model, and the node that tables
their validation rows. Not a pipeline (``find_pipelines`` registers folders only)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kedro.pipeline import Node

#: what every training node reads
DATA = {"series": "series", "sample_index": "sample_index", "normalisation_stats": "normalisation_stats"}


def training_node(func: Callable, name: str, *, params: str, tag: str, teacher: str | None = None,
                  narratives: bool = False, baseline: str | None = None) -> Node:
    """``<name>.train``, in the namespace ``name`` (one box per model in ``kedro viz``): the model goes to
    the catalog entry ``name``, its validation row to ``<name>_validation``. It reads the data,
    ``params:<params>``, ``params:trainer`` and ``params:loading`` (where windows are read from), and its
    teacher and the narratives only when it uses them;
    ``baseline``: the validation row its teacher is checked against (the plain student's)."""
    inputs = {**DATA, "params": f"params:{params}", "trainer": "params:trainer", "loading": "params:loading"}
    if teacher is not None:
        inputs["teacher"] = teacher
    if narratives:
        inputs["narrative_embeddings"] = "narrative_embeddings"
    if baseline is not None:
        inputs["baseline"] = baseline
    return Node(func=func, inputs=inputs, outputs=[name, f"{name}_validation"], name="train", namespace=name,
                tags=[tag, name])


def summary_node(func: Callable, nodes: Sequence[Node], outputs: list[str], name: str,
                 baselines: dict[str, str] | None = None) -> Node:
    """The node that tables the validation rows of ``nodes`` (``func(**{model: row}, **baselines)``;
    ``baselines``: more inputs, e.g. the saved rows the rows are compared with)."""
    inputs = {n.outputs[0]: n.outputs[1] for n in nodes} | (baselines or {})
    return Node(func=func, inputs=inputs, outputs=outputs, name=name)
