"""What is trained: the teachers (``TEACHERS``) and the distillation methods (``METHODS``).

The pipelines are generated from these two registries: one ``train_teacher`` node per core teacher,
one ``distill`` node per core method, and the ablations (``ablation=True``) in the ``ablations``
pipeline. Each method names the teacher it learns from, the loss terms it adds to ``L_task`` and where
its ``L_spec`` compares (latents, as the paper writes S2-KD, or forecasts); the weights and the other
loss settings come from ``conf/base/parameters_distill.yml`` (β for ``sem``, λ for ``spec``, γ for
``out``), per method (``distill.methods``; see :class:`s2kd.recipes.params.DistillParams`).
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
        spectral_on: what its ``L_spec`` compares: ``latent`` (the projected student latent and a teacher
            latent) or ``output`` (the student's and the teacher's forecasts).
        settings_from: the method whose loss settings it takes (an ablation reads its parent's).
        ablation: trained in the ``ablations`` pipeline: a variant that isolates one part of a method.
    """

    teacher: str | None
    terms: tuple[str, ...]
    spectral_on: str = "latent"
    settings_from: str | None = None
    ablation: bool = False


METHODS: dict[str, Method] = {
    "student": Method(None, ()),
    "output_kd": Method("multimodal", ("out",)),
    "feature_kd": Method("vision", ("sem",)),  # FitNets
    "sdkd": Method("vision", ("spec",)),  # banded spectral distillation of latents (SDKD)
    "s2kd": Method("multimodal", ("sem", "spec")),  # the paper's form: both terms on latents
    "s2kd_forecast": Method("multimodal", ("sem", "spec"), spectral_on="output"),  # L_spec on the forecasts
    "s2kd_sem_only": Method("multimodal", ("sem",), settings_from="s2kd", ablation=True),
    "s2kd_spec_only": Method("multimodal", ("spec",), settings_from="s2kd", ablation=True),
    "s2kd_shuffled_text": Method("shuffled", ("sem", "spec"), settings_from="s2kd", ablation=True),
    # the baselines' losses with the multimodal teacher: the teacher's effect apart from the loss's
    "feature_kd_multimodal": Method("multimodal", ("sem",), settings_from="feature_kd", ablation=True),
    "sdkd_multimodal": Method("multimodal", ("spec",), settings_from="sdkd", ablation=True),
}


def teacher_names(*, ablation: bool | None = None) -> list[str]:
    """``teacher_<role>`` of every teacher (``ablation`` True/False: only ablation / core ones)."""
    return [f"teacher_{r}" for r, t in TEACHERS.items() if ablation is None or t.ablation == ablation]


def student_names(*, ablation: bool | None = None) -> list[str]:
    """``student_<method>`` of every method (``ablation`` True/False: only ablation / core ones)."""
    return [f"student_{m}" for m, spec in METHODS.items() if ablation is None or spec.ablation == ablation]


def settings_source(name: str) -> str:
    """The method whose entry of ``distill.methods`` sets ``name``'s loss settings (itself or its parent)."""
    return METHODS[name].settings_from or name


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
