"""The parameter registry, ``PARAMETER_GROUPS``: from a parameter group to its typed check.

Every pipeline's nodes take their settings as ``params:<group>``; the project's hook
(:class:`s2kd.hooks.ParameterValidationHook`) builds each group a run will use with the class
below before the first node runs, so a bad value (a negative β, a cutoff outside (0, 0.5],
``t_out`` < 1, an unknown method) stops the run with the parameter's name and the allowed range,
before any data is read or any output written. Not a pipeline (``find_pipelines`` registers folders).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from s2kd.data.params import IngestParams
from s2kd.pipelines.distill.params import DistillParams
from s2kd.pipelines.evaluate.params import EvaluateParams
from s2kd.pipelines.narrate.params import NarrateParams
from s2kd.pipelines.train_teacher.params import TeacherParams

PARAMETER_GROUPS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "ingest": IngestParams.from_dict,
    "narrate": NarrateParams.from_dict,
    "train_teacher": TeacherParams.from_dict,
    "distill": DistillParams.from_dict,
    "evaluate": EvaluateParams.from_dict,
}


def validate_parameters(groups: Mapping[str, Any]) -> dict[str, Any]:
    """Check each ``{group: values}`` that has a typed class; returns ``{group: typed params}``.

    Raises:
        ParameterError: for the first bad value, naming it (``distill.beta``) and its allowed range.
    """
    return {name: PARAMETER_GROUPS[name](values or {}) for name, values in groups.items() if name in PARAMETER_GROUPS}
