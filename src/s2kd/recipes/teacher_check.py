"""Is a teacher worth distilling? Its validation MSE against the plain student's, before it teaches.

A teacher that forecasts no better than the small student trained on the same windows has nothing to
pass on: distilling it can only pull the student towards worse forecasts. ``distill`` runs this check
for every method that has a teacher; the verdict is logged (a warning when the teacher is not better),
written into the method's row of ``distill_validation``, tagged on its MLflow run and shown in the
report, and with ``distill.skip_weak_teachers: true`` the method is not trained at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from s2kd.errors import InputError


def check_teacher(teacher_meta: Mapping[str, Any], baseline: Mapping[str, Any] | None, *,
                  teacher: str) -> dict[str, Any]:
    """The check's columns for a method's validation row.

    Args:
        teacher_meta: the teacher's ``meta`` (its validation row: ``best_val_mse``, ``val_windows``).
        baseline: the plain student's validation row (``student_student_validation``).
        teacher: the teacher's name, for messages.

    Returns:
        ``{"teacher_val_mse", "student_val_mse", "teacher_gain", "teacher_beats_student"}``, with
        ``teacher_gain = 1 - teacher / student`` (> 0: the teacher is better).

    Raises:
        InputError: no plain student's row (train it first), or rows without a validation MSE.
    """
    if not baseline or "best_val_mse" not in baseline:
        raise InputError("student_student_validation", "is missing: the teacher check compares every teacher "
                         "with the plain student", "train it first: kedro run --pipeline distill --namespaces "
                         "student_student")
    if "best_val_mse" not in teacher_meta:
        raise InputError(teacher, "has no best_val_mse in its meta", "train it again with train_teacher")
    t, s = float(teacher_meta["best_val_mse"]), float(baseline["best_val_mse"])
    for where, rows in (("teacher", teacher_meta), ("student", baseline)):
        if "val_windows" not in rows:
            raise InputError(f"{where} validation row", "has no val_windows", "train it again")
    if int(teacher_meta["val_windows"]) != int(baseline["val_windows"]):
        raise InputError(teacher, f"was validated on {teacher_meta['val_windows']} windows, the plain student on "
                         f"{baseline['val_windows']}", "give train_teacher.max_val_samples and "
                         "distill.max_val_samples the same value, so both are judged on the same windows")
    gain = 1.0 - t / s if s > 0 else math.nan
    return {"teacher_val_mse": t, "student_val_mse": s, "teacher_gain": gain, "teacher_beats_student": bool(t < s)}


def verdict(check: Mapping[str, Any], teacher: str) -> str:
    """One line for the log and the report: how the teacher compares with the plain student."""
    word = "better than" if check["teacher_beats_student"] else "NOT better than"
    return (f"{teacher} (val MSE {check['teacher_val_mse']:.5f}) is {word} the plain student "
            f"({check['student_val_mse']:.5f}; gain {100 * check['teacher_gain']:+.1f} %)")
