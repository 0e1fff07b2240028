"""Node of the ``ablations`` pipeline: the validation table of the ablation models."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)


def summarise_ablations(teacher_vision: dict[str, Any], student: dict[str, Any],
                        **summaries: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float]]:
    """The ablation teachers' and students' validation rows, each against its baseline read from its
    saved row: a teacher against the vision teacher (``shuffled_text_gain`` = 1 - MSE / vision MSE,
    as ``text_gain`` of the multimodal teacher), a student against the plain one (``vs_baseline``)."""
    table = pd.DataFrame(list(summaries.values()))
    teacher = table["model"].str.startswith("teacher_")
    base = teacher.map({True: teacher_vision["best_val_mse"], False: student["best_val_mse"]})
    table["vs_baseline"] = table["best_val_mse"] / base - 1.0
    metrics = {f"{row.model}.best_val_mse": float(row.best_val_mse) for row in table.itertuples()}
    for row in table.itertuples():
        if row.model == "teacher_shuffled":
            metrics["shuffled_text_gain"] = -float(row.vs_baseline)
        elif not row.model.startswith("teacher_"):
            metrics[f"{row.method}.vs_student"] = float(row.vs_baseline)
        logger.info("%-28s val MSE %.5f (%+.1f%% vs %s)", row.model, row.best_val_mse, 100 * row.vs_baseline,
                    "the vision teacher" if row.model.startswith("teacher_") else "the plain student")
    return table, metrics
