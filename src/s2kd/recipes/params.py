"""Typed parameters of the two training pipelines, ``train_teacher`` and ``distill``.

Both share :class:`FitParams` (seed, budget, optimiser, windows, checkpoints); where and how
Lightning runs is the separate ``trainer`` group (:class:`s2kd.training.trainer.TrainerParams`).
Python defaults equal ``conf/base/parameters_{train_teacher,distill}.yml`` (a test checks it); the
values that depend on the dataset (``checkpoint_dir``, ``dataset``) have none.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import Field, field_validator

from s2kd.errors import ParameterError
from s2kd.losses.semantic import KINDS as SEMANTIC_KINDS
from s2kd.models.presets import PRESETS, preset_configs
from s2kd.models.projector import PROJECTOR_KINDS
from s2kd.models.student import BACKBONES
from s2kd.params import Count, Cutoff, Flag, NonNegative, Params, Positive, PositiveInt
from s2kd.training.distill import LATENT_TARGETS
from s2kd.training.methods import METHODS, settings_source

# the allowed values are those of the registries that use them
Preset = Literal[tuple(PRESETS)]
#: TeacherConfig fields the data fixes (channels, window lengths) or the pipeline sets (use_text)
FIXED_TEACHER_FIELDS = ("in_channels", "out_channels", "t_in", "t_out", "use_text")
#: StudentConfig fields the data fixes or ``distill.backbone`` sets
FIXED_STUDENT_FIELDS = ("in_channels", "out_channels", "t_in", "t_out", "backbone")


class FitParams(Params):
    """What every trained model needs beside its network.

    Attributes:
        seed: seed of the weights, the shuffling and the workers.
        max_epochs: the most epochs (a resumed run counts the epochs it resumes).
        patience: epochs without a lower validation MSE before early stopping.
        gradient_clip_val: clip the global gradient norm to this (0: no clipping).
        batch_size: windows per batch.
        lr: AdamW learning rate (cosine schedule over ``max_epochs``).
        weight_decay: AdamW weight decay.
        max_train_samples: evenly spaced training windows (``None``: all).
        max_val_samples: evenly spaced validation windows (``None``: all).
        checkpoint_dir: where each model's checkpoints go, one folder per set-up
            (:func:`s2kd.recipes.jobs.fingerprint`).
    """

    seed: Count = 0
    max_epochs: PositiveInt = 8
    patience: Count = 3
    gradient_clip_val: NonNegative = 1.0
    batch_size: PositiveInt = 16
    lr: Positive = 2e-3
    weight_decay: NonNegative = 1e-4
    max_train_samples: PositiveInt | None = 1000
    max_val_samples: PositiveInt | None = 300
    checkpoint_dir: str


def _check_overrides(overrides: dict[str, Any], kind: str, fixed: tuple[str, ...], **build: Any) -> dict[str, Any]:
    """Raise ``ValueError`` unless ``overrides`` are known fields of the ``kind`` config with values its
    own checks accept (built here from the ``tiny`` preset on a one-channel grid)."""
    teacher, student = preset_configs("tiny", in_channels=1, t_in=1, t_out=1, **build)
    config = teacher if kind == "teacher" else student
    allowed = sorted({f.name for f in dataclasses.fields(config)} - set(fixed))
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} of the {kind}: use only {allowed}")
    try:
        dataclasses.replace(config, **overrides)
    except ParameterError as exc:
        raise ValueError(f"{exc.where} {exc.problem}: {exc.fix}") from None
    return overrides


class TeacherParams(FitParams):
    """The ``train_teacher`` group: the privileged teacher and its vision-only twin."""

    group = "train_teacher"

    preset: Preset = "small"
    teacher: dict[str, Any] = Field(default_factory=lambda: {"text_dropout": 0.5})

    @field_validator("teacher")
    @classmethod
    def _teacher(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_overrides(value, "teacher", FIXED_TEACHER_FIELDS)


class LossSettings(Params):
    """How a method's loss terms are computed; which terms a method has is the methods registry's
    business (:data:`s2kd.training.methods.METHODS`).

    ``beta``, ``lam`` (``lambda`` in the YAML), ``gamma`` weight ``L_sem``, ``L_spec`` and the
    output-KD term; ``alpha`` is the spectral loss's high-band weight and ``cutoff`` its ``r_c``;
    ``semantic`` the form of ``L_sem``; ``sem_target`` / ``spec_target`` the teacher latent each latent
    term targets (:data:`s2kd.training.distill.LATENT_TARGETS`); ``projector`` maps the student latent
    onto the teacher's (training only).
    """

    beta: NonNegative = 0.01
    lam: NonNegative = Field(0.01, alias="lambda")
    gamma: NonNegative = 10.0
    alpha: NonNegative = 1.0
    cutoff: Cutoff = 0.25
    semantic: Literal[SEMANTIC_KINDS] = "mse"
    sem_target: Literal[LATENT_TARGETS] = "semantic"
    spec_target: Literal[LATENT_TARGETS] = "bands"
    amplitude_only: Flag = False
    projector: Literal[PROJECTOR_KINDS] = "conv1x1"


#: the YAML names of the loss settings, which ``distill.methods.<method>`` may override
LOSS_KEYS = tuple(f.alias or name for name, f in LossSettings.model_fields.items())


class DistillParams(FitParams, LossSettings):
    """The ``distill`` group: every student's loss settings, student network and cache.

    The loss settings at the top of the group (:class:`LossSettings`) are shared by every method;
    ``methods.<method>`` overrides some of them for one method (its ablations read their parent's
    entry: :func:`s2kd.training.methods.settings_source`); :meth:`loss_for` gives the result.
    ``skip_weak_teachers``: do not train a method whose teacher is not better than the plain student
    on validation (it is always checked, warned about and flagged).
    Which students exist is not a parameter: one node per method of
    :data:`s2kd.training.methods.METHODS`.
    """

    group = "distill"

    methods: dict[str, dict[str, Any]] = Field(default_factory=lambda: {
        "output_kd": {"gamma": 10.0}, "feature_kd": {"beta": 0.01, "sem_target": "translator"},
        "sdkd": {"lambda": 0.01, "amplitude_only": True},
        "s2kd": {"beta": 0.3, "semantic": "relational", "sem_target": "semantic", "lambda": 0.01},
        "s2kd_forecast": {"beta": 0.001, "lambda": 1.0}})
    backbone: Literal[BACKBONES] = "simvp"
    preset: Preset = "small"
    student: dict[str, Any] = Field(default_factory=dict)
    cache_batch_size: PositiveInt = 64
    skip_weak_teachers: Flag = False
    dataset: str

    @field_validator("student")
    @classmethod
    def _student(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_overrides(value, "student", FIXED_STUDENT_FIELDS)

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for method, overrides in value.items():
            if method not in METHODS:
                raise ValueError(f"unknown method {method!r} in distill.methods: use any of {sorted(METHODS)}")
            if settings_source(method) != method:
                raise ValueError(f"{method} takes the loss settings of {settings_source(method)}: set them there")
            unknown = sorted(set(overrides) - set(LOSS_KEYS))
            if unknown:
                raise ValueError(f"unknown loss setting(s) {unknown} of {method}: use only {list(LOSS_KEYS)}")
            try:
                LossSettings.model_validate(overrides)
            except ParameterError as exc:
                raise ValueError(f"distill.methods.{method}.{exc.where} {exc.problem}: {exc.fix}") from None
        return value

    def loss_for(self, method: str) -> LossSettings:
        """The loss settings of ``method``: the shared ones, overridden by its (or its parent's) entry."""
        shared = {key: getattr(self, name) for name, key in zip(LossSettings.model_fields, LOSS_KEYS, strict=True)}
        return LossSettings.model_validate({**shared, **self.methods.get(settings_source(method), {})})
