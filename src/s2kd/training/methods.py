"""The distillation methods compared by ``distill``: one registry, ``METHODS``.

Each method names the teacher it learns from and the loss terms it adds to ``L_task``; the weights
come from ``conf/base/parameters_distill.yml`` (β for ``sem``, λ for ``spec``, γ for ``out``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from s2kd.errors import ParameterError

TEACHERS = ("multimodal", "vision", "shuffled")


@dataclass(frozen=True)
class Method:
    """A distillation method.

    Attributes:
        teacher: ``multimodal``, ``vision``, ``shuffled`` (a multimodal teacher trained on shuffled
            narratives), or ``None`` for the plain student.
        terms: the distillation terms added to ``L_task``: ``sem`` (β), ``spec`` (λ), ``out`` (γ).
    """

    teacher: str | None
    terms: tuple[str, ...]


METHODS: dict[str, Method] = {
    "student": Method(None, ()),
    "output_kd": Method("multimodal", ("out",)),
    "feature_kd": Method("vision", ("sem",)),  # FitNets
    "sdkd": Method("vision", ("spec",)),
    "s2kd": Method("multimodal", ("sem", "spec")),
    "s2kd_sem_only": Method("multimodal", ("sem",)),
    "s2kd_spec_only": Method("multimodal", ("spec",)),
    "s2kd_shuffled_text": Method("shuffled", ("sem", "spec")),
}


def method_list(value: Any) -> list[str]:
    """``distill.methods`` as a list: a YAML list, or one string of names joined by ``+`` (or commas or
    spaces), which is how several methods pass through ``kedro run --params`` (it splits on commas)."""
    if isinstance(value, str):
        return [m for m in re.split(r"[+,\s]+", value) if m]
    return list(value or [])


def method_weights(name: str, *, beta: float, lam: float, gamma: float) -> dict[str, float]:
    """The loss weights of a method: ``{"task": 1, "sem": β, "spec": λ, "out": γ}`` for its terms.

    Raises:
        ParameterError: an unknown method or a negative weight.
    """
    if name not in METHODS:
        raise ParameterError("distill.methods", f"unknown method '{name}'", f"use any of {sorted(METHODS)}")
    for symbol, value in (("beta", beta), ("lambda", lam), ("gamma", gamma)):
        if not value >= 0:
            raise ParameterError(f"distill.{symbol}", f"is {value}", "use a weight >= 0")
    values = {"sem": float(beta), "spec": float(lam), "out": float(gamma)}
    return {"task": 1.0, **{t: values[t] for t in METHODS[name].terms}}
