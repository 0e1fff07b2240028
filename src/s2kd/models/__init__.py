"""Networks of S2-KD (``nn.Module`` only; training recipes live in :mod:`s2kd.training`).

Contract shared by every forecaster: layout ``(B, T, C, H, W)``; attribute ``uses_text: bool``;
``forward(x, text=None, text_mask=None) -> dict`` with ``"y_hat" (B, T_out, C, H, W)`` and
``"latent" (B, d, ceil(H/4), ceil(W/4))``; the teacher adds ``"z"``, ``"z_low"``, ``"z_high"``.

The registry: ``MODELS`` (kind -> class; each class names its config dataclass as ``config_class``).
A model is saved as ``(kind, config_to_dict(model.config), model.state_dict())`` and rebuilt,
without any training code, by ``build_model(kind, config_dict)`` + ``load_state_dict``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torch import nn

from s2kd.errors import ParameterError
from s2kd.models.presets import PRESETS, preset_configs
from s2kd.models.projector import Projector
from s2kd.models.student import SimVPStudent, StudentConfig, UNetStudent
from s2kd.models.teacher import MultimodalTeacher, TeacherConfig

MODELS: dict[str, type[nn.Module]] = {"teacher": MultimodalTeacher, "simvp": SimVPStudent, "unet": UNetStudent}

ModelConfig = TeacherConfig | StudentConfig


def _check_kind(kind: str) -> None:
    if kind not in MODELS:
        raise ParameterError("model kind", f"unknown kind {kind!r}", f"use one of {sorted(MODELS)}")


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    """A plain ``dict`` of a model config (JSON/YAML-safe values only)."""
    assert dataclasses.is_dataclass(config), f"expected a model config dataclass, got {type(config).__name__}"
    return dataclasses.asdict(config)


def config_from_dict(kind: str, values: Mapping[str, Any]) -> ModelConfig:
    """The config dataclass of ``kind`` from a dict; unknown or missing keys raise ``ParameterError``.

    For the students, ``backbone`` defaults to ``kind`` and must agree with it.
    """
    _check_kind(kind)
    cls = MODELS[kind].config_class
    values = dict(values)
    if cls is StudentConfig:
        values.setdefault("backbone", kind)
        if values["backbone"] != kind:
            raise ParameterError(f"{kind}.backbone", f"is {values['backbone']!r} for model kind {kind!r}",
                                 f"use backbone {kind!r} or model kind {values['backbone']!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    unknown, missing = sorted(set(values) - names), sorted(required - set(values))
    if unknown:
        raise ParameterError(f"{kind} config", f"unknown keys {unknown}", f"use only {sorted(names)}")
    if missing:
        raise ParameterError(f"{kind} config", f"missing keys {missing}", "give every required size")
    return cls(**values)


def build_model(kind: str, config: Mapping[str, Any] | ModelConfig) -> nn.Module:
    """Build the model ``kind`` (``"teacher"``, ``"simvp"``, ``"unet"``) from a config or its dict."""
    _check_kind(kind)
    if not dataclasses.is_dataclass(config):
        config = config_from_dict(kind, config)
    expected = MODELS[kind].config_class
    if not isinstance(config, expected):
        raise ParameterError("model config", f"{type(config).__name__} given for kind {kind!r}",
                             f"pass a {expected.__name__}")
    return MODELS[kind](config)


def build_student(config: StudentConfig) -> nn.Module:
    """The student named by ``config.backbone``."""
    return build_model(config.backbone, config)


def model_kind(model: nn.Module) -> str:
    """The registry kind of a built model (the inverse of ``MODELS``)."""
    for kind, cls in MODELS.items():
        if type(model) is cls:
            return kind
    raise ParameterError("model", f"{type(model).__name__} is not a registered model", f"use one of {sorted(MODELS)}")


__all__ = [
    "MODELS", "PRESETS", "MultimodalTeacher", "Projector", "SimVPStudent", "StudentConfig", "TeacherConfig",
    "UNetStudent", "build_model", "build_student", "config_from_dict", "config_to_dict", "model_kind", "preset_configs",
]
