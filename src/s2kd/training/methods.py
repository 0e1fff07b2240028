"""What is trained: the teachers (``TEACHERS``) and the distillation methods (``METHODS``).

The pipelines are generated from these two registries: one ``train_teacher`` node per core teacher,
one ``distill`` node per core method, and the ablations (``ablation=True``) in the ``ablations``
pipeline. Each method names the teacher it learns from and the loss terms it adds to ``L_task``;
the weights come from ``conf/base/parameters_distill.yml`` (β for ``sem``, λ for ``spec``, γ for
``out``).
"""

from __future__ import annotations

from dataclasses import dataclass

from s2kd.errors import ParameterError


@dataclass(frozen=True)
class Teacher:
    """A teacher role.

    Attributes:
        use_text: whether it reads the narratives (the privileged multimodal teacher).
        shuffle_text: trained on narratives permuted across the samples of each split (ablation).
        ablation: trained only for an ablation.
    """

    use_text: bool
    shuffle_text: bool = False
    ablation: bool = False


TEACHERS: dict[str, Teacher] = {
    "multimodal": Teacher(use_text=True),
    "vision": Teacher(use_text=False),
    "shuffled": Teacher(use_text=True, shuffle_text=True, ablation=True),
}


@dataclass(frozen=True)
class Method:
    """A distillation method.

    Attributes:
        teacher: a role of :data:`TEACHERS`, or ``None`` for the plain student.
        terms: the distillation terms added to ``L_task``: ``sem`` (β), ``spec`` (λ), ``out`` (γ).
        ablation: a variant of ``s2kd`` that isolates one of its parts.
    """

    teacher: str | None
    terms: tuple[str, ...]
    ablation: bool = False


METHODS: dict[str, Method] = {
    "student": Method(None, ()),
    "output_kd": Method("multimodal", ("out",)),
    "feature_kd": Method("vision", ("sem",)),  # FitNets
    "sdkd": Method("vision", ("spec",)),
    "s2kd": Method("multimodal", ("sem", "spec")),
    "s2kd_sem_only": Method("multimodal", ("sem",), ablation=True),
    "s2kd_spec_only": Method("multimodal", ("spec",), ablation=True),
    "s2kd_shuffled_text": Method("shuffled", ("sem", "spec"), ablation=True),
}


def teacher_names(*, ablation: bool | None = None) -> list[str]:
    """``teacher_<role>`` of every teacher (``ablation`` True/False: only ablation / core ones)."""
    return [f"teacher_{r}" for r, t in TEACHERS.items() if ablation is None or t.ablation == ablation]


def student_names(*, ablation: bool | None = None) -> list[str]:
    """``student_<method>`` of every method (``ablation`` True/False: only ablation / core ones)."""
    return [f"student_{m}" for m, spec in METHODS.items() if ablation is None or spec.ablation == ablation]


def method_weights(name: str, *, beta: float, lam: float, gamma: float) -> dict[str, float]:
    """The loss weights of a method: ``{"task": 1, "sem": β, "spec": λ, "out": γ}`` for its terms.

    Raises:
        ParameterError: an unknown method or a negative weight.
    """
    if name not in METHODS:
        raise ParameterError("method", f"unknown method '{name}'", f"use any of {sorted(METHODS)}")
    for symbol, value in (("beta", beta), ("lambda", lam), ("gamma", gamma)):
        if not value >= 0:
            raise ParameterError(f"distill.{symbol}", f"is {value}", "use a weight >= 0")
    values = {"sem": float(beta), "spec": float(lam), "out": float(gamma)}
    return {"task": 1.0, **{t: values[t] for t in METHODS[name].terms}}
