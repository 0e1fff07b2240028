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
from s2kd.training.distill import SPECTRAL_ON

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


class DistillParams(FitParams):
    """The ``distill`` group: every student's loss weights, student network and cache.

    ``beta``, ``lam`` (``lambda`` in the YAML), ``gamma`` weight ``L_sem``, ``L_spec`` and the
    output-KD term; ``alpha`` is the spectral loss's high-band weight and ``cutoff`` its ``r_c``.
    ``skip_weak_teachers``: do not train a method whose teacher is not better than the plain student
    on validation (it is always checked, warned about and flagged).
    Which students exist is not a parameter: one node per method of
    :data:`s2kd.training.methods.METHODS`.
    """

    group = "distill"

    beta: NonNegative = 0.01
    lam: NonNegative = Field(1.0, alias="lambda")
    gamma: NonNegative = 10.0
    alpha: NonNegative = 1.0
    cutoff: Cutoff = 0.25
    semantic: Literal[SEMANTIC_KINDS] = "mse"
    amplitude_only: Flag = False
    spectral_on: Literal[SPECTRAL_ON] = "output"
    projector: Literal[PROJECTOR_KINDS] = "conv1x1"
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
