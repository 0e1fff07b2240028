"""Typed, validated ``distill`` parameters: bad values fail before any work, naming the parameter."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from s2kd.checks import choice, flag, integer, known_keys, number, optional_int, positive
from s2kd.errors import ParameterError
from s2kd.losses.semantic import KINDS as SEMANTIC_KINDS
from s2kd.models.presets import PRESETS
from s2kd.models.projector import PROJECTOR_KINDS
from s2kd.models.student import BACKBONES, StudentConfig
from s2kd.pipelines.runs import TRAINER_KEYS, trainer_settings
from s2kd.training.distill import SPECTRAL_ON
from s2kd.training.methods import METHODS, method_list
from s2kd.training.trainer import TrainerSettings

#: every key of the distill group some code reads
ALLOWED_KEYS = TRAINER_KEYS | {
    "methods", "beta", "lambda", "gamma", "alpha", "cutoff", "semantic", "amplitude_only", "spectral_on", "projector",
    "backbone", "preset", "student", "batch_size", "lr", "weight_decay", "max_train_samples", "max_val_samples",
    "cache_batch_size", "checkpoint_dir", "dataset"}


@dataclass(frozen=True)
class DistillParams:
    """The ``distill`` parameter group (``conf/base/parameters_distill.yml``).

    ``beta``, ``lam`` (``lambda`` in the YAML), ``gamma`` weight ``L_sem``, ``L_spec`` and output KD;
    ``alpha`` is the spectral loss's high-band weight and ``cutoff`` its ``r_c``.
    """

    methods: tuple[str, ...]
    trainer: TrainerSettings
    checkpoint_dir: str
    backbone: str = "simvp"
    preset: str = "small"
    student: dict[str, Any] = field(default_factory=dict)
    projector: str = "conv1x1"
    beta: float = 1.0
    lam: float = 1.0
    gamma: float = 1.0
    alpha: float = 1.0
    cutoff: float = 0.25
    semantic: str = "mse"
    amplitude_only: bool = False
    spectral_on: str = "latent"
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    max_train_samples: int | None = None
    max_val_samples: int | None = None
    cache_batch_size: int = 64

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> DistillParams:
        """Build and check the parameters; raise :class:`ParameterError` on the first bad one."""
        methods = method_list(params.get("methods"))
        if not methods or not all(isinstance(m, str) for m in methods):
            raise ParameterError("distill.methods", f"is {methods!r}", f"list one or more of {sorted(METHODS)}")
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ParameterError("distill.methods", f"unknown method(s) {unknown}", f"use any of {sorted(METHODS)}")
        if len(set(methods)) != len(methods):
            raise ParameterError("distill.methods", f"lists a method twice: {list(methods)}", "list each method once")
        weights = {key: number(params.get(key, 1.0), f"distill.{key}", low=0) for key in ("beta", "lambda", "gamma", "alpha")}
        cutoff = number(params.get("cutoff", 0.25), "distill.cutoff", low=0, high=0.5, low_open=True)
        backbone = choice(params.get("backbone", "simvp"), "distill.backbone", list(BACKBONES))
        preset = choice(params.get("preset", "small"), "distill.preset", sorted(PRESETS))
        projector = choice(params.get("projector", "conv1x1"), "distill.projector", list(PROJECTOR_KINDS))
        semantic = choice(params.get("semantic", "mse"), "distill.semantic", list(SEMANTIC_KINDS))
        spectral_on = choice(params.get("spectral_on", "latent"), "distill.spectral_on", list(SPECTRAL_ON))
        student = dict(params.get("student") or {})
        bad = set(student) - {f.name for f in dataclasses.fields(StudentConfig)}
        if bad:
            raise ParameterError("distill.student", f"unknown option(s) {sorted(bad)}", "use fields of StudentConfig")
        if "checkpoint_dir" not in params:
            raise ParameterError("distill.checkpoint_dir", "is missing", "name a folder for the training checkpoints")
        known_keys(params, "distill", ALLOWED_KEYS)
        trainer, _ = trainer_settings(params, "distill")
        return cls(
            methods=tuple(methods), trainer=trainer, checkpoint_dir=str(params["checkpoint_dir"]), backbone=backbone,
            preset=preset, student=student, projector=projector, beta=weights["beta"], lam=weights["lambda"],
            gamma=weights["gamma"], alpha=weights["alpha"], cutoff=cutoff, semantic=semantic,
            amplitude_only=flag(params.get("amplitude_only", False), "distill.amplitude_only"), spectral_on=spectral_on,
            batch_size=integer(params.get("batch_size", 16), "distill.batch_size", 1),
            lr=positive(params.get("lr", 2e-3), "distill.lr"),
            weight_decay=number(params.get("weight_decay", 1e-4), "distill.weight_decay", low=0),
            max_train_samples=optional_int(params.get("max_train_samples"), "distill.max_train_samples"),
            max_val_samples=optional_int(params.get("max_val_samples"), "distill.max_val_samples"),
            cache_batch_size=integer(params.get("cache_batch_size", 64), "distill.cache_batch_size", 1),
        )

    def teachers(self) -> list[str]:
        """The teachers the requested methods learn from (``multimodal``, ``vision``, ``shuffled``)."""
        return sorted({METHODS[m].teacher for m in self.methods if METHODS[m].teacher is not None})
