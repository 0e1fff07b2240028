"""Typed, validated ``train_teacher`` parameters: bad values fail before any work, naming the parameter."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from s2kd.checks import choice, integer, known_keys, number, optional_int, positive
from s2kd.errors import ParameterError
from s2kd.models.presets import PRESETS
from s2kd.models.teacher import TeacherConfig
from s2kd.pipelines.runs import TRAINER_KEYS, trainer_settings
from s2kd.training.trainer import TrainerSettings

#: every key of the train_teacher group some code reads
ALLOWED_KEYS = TRAINER_KEYS | {"preset", "teacher", "batch_size", "lr", "weight_decay", "max_train_samples",
                               "max_val_samples", "checkpoint_dir"}
#: TeacherConfig fields the data fixes (channels, window lengths) or the pipeline sets (use_text)
FIXED_FIELDS = {"in_channels", "out_channels", "t_in", "t_out", "use_text"}


@dataclass(frozen=True)
class TeacherParams:
    """The ``train_teacher`` parameter group (``conf/base/parameters_train_teacher.yml``)."""

    trainer: TrainerSettings
    checkpoint_dir: str
    trainer_options: dict[str, Any] = field(default_factory=dict)  # the trainer keys as given (fingerprints)
    preset: str = "small"
    teacher: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    max_train_samples: int | None = None
    max_val_samples: int | None = None

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> TeacherParams:
        """Build and check the parameters; raise :class:`ParameterError` on the first bad one."""
        known_keys(params, "train_teacher", ALLOWED_KEYS)
        trainer, trainer_options = trainer_settings(params, "train_teacher")
        overrides = dict(params.get("teacher") or {})
        allowed = {f.name for f in dataclasses.fields(TeacherConfig)} - FIXED_FIELDS
        known_keys(overrides, "train_teacher.teacher", allowed)
        if "text_dropout" in overrides:
            value = number(overrides["text_dropout"], "train_teacher.teacher.text_dropout", low=0)
            if not value < 1:
                raise ParameterError("train_teacher.teacher.text_dropout", f"is {value:g}", "use a probability in [0, 1)")
        if "cutoff" in overrides:
            number(overrides["cutoff"], "train_teacher.teacher.cutoff", low=0, high=0.5, low_open=True)
        if "checkpoint_dir" not in params:
            raise ParameterError("train_teacher.checkpoint_dir", "is missing", "name a folder for the training checkpoints")
        return cls(
            trainer=trainer, checkpoint_dir=str(params["checkpoint_dir"]), trainer_options=trainer_options,
            preset=choice(params.get("preset", "small"), "train_teacher.preset", sorted(PRESETS)),
            teacher=overrides,
            batch_size=integer(params.get("batch_size", 16), "train_teacher.batch_size", 1),
            lr=positive(params.get("lr", 1e-3), "train_teacher.lr"),
            weight_decay=number(params.get("weight_decay", 1e-4), "train_teacher.weight_decay", low=0),
            max_train_samples=optional_int(params.get("max_train_samples"), "train_teacher.max_train_samples"),
            max_val_samples=optional_int(params.get("max_val_samples"), "train_teacher.max_val_samples"),
        )
