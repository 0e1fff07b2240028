"""Model sizes: ``tiny`` (tests, seconds), ``small`` (the CPU default), ``paper`` (GPU).

Parameters (``sum(p.numel())``, C=1, T_in=T_out=4; they move by a few percent with C and T):

======  ===========  =============  ============
preset  teacher      simvp student  unet student
======  ===========  =============  ============
tiny    117 k        7.1 k          7.1 k
small   969 k        33 k           49 k
paper   152 M        6.6 M          7.4 M
======  ===========  =============  ============

Every student has at most 1/10 of its teacher's parameters (``tests/models`` checks it). Most of a
teacher's parameters sit in the FNO weights of the ``H/4 x W/4`` latent, which cost little
compute; the full-resolution stages stay narrow (16 channels in ``small``), which keeps the
``small`` teacher cheap enough to train on a CPU. The FNO window keeps ``|ky| < n_modes`` and
``kx < n_modes``: at a 32x64 grid the latent is 8x16 and its whole low band (``r <= 0.25``:
``|ky| <= 2``, ``kx <= 4``) is inside the window from ``n_modes = 5`` on (``small``, ``paper``).
"""

from __future__ import annotations

from typing import Any

from s2kd.errors import ParameterError
from s2kd.models.student import BACKBONES, StudentConfig
from s2kd.models.teacher import TeacherConfig

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "teacher": {"width": 8, "d": 32, "n_fusion": 1, "n_heads": 2, "n_translator": 2, "low_op": "fno",
                    "n_modes": 3},
        "student": {"simvp": {"width": 8, "d": 16, "n_blocks": 1}, "unet": {"width": 4, "d": 16, "n_blocks": 1}},
    },
    "small": {
        "teacher": {"width": 16, "d": 64, "n_fusion": 2, "n_heads": 4, "n_translator": 2, "low_op": "fno",
                    "n_modes": 5},
        "student": {"simvp": {"width": 16, "d": 32, "n_blocks": 2}, "unet": {"width": 12, "d": 32, "n_blocks": 2}},
    },
    "paper": {
        "teacher": {"width": 64, "d": 448, "n_fusion": 4, "n_heads": 8, "n_translator": 5, "low_op": "fno",
                    "n_modes": 6},
        "student": {"simvp": {"width": 64, "d": 384, "n_blocks": 8}, "unet": {"width": 64, "d": 384, "n_blocks": 8}},
    },
}


def preset_configs(preset: str, *, in_channels: int, t_in: int, t_out: int,
                   backbone: str = "simvp") -> tuple[TeacherConfig, StudentConfig]:
    """The ``(TeacherConfig, StudentConfig)`` of a preset for data with ``in_channels`` channels.

    Both forecast all input channels (``out_channels = in_channels``). Change anything else with
    ``dataclasses.replace``.
    """
    if preset not in PRESETS:
        raise ParameterError("model.preset", f"unknown preset {preset!r}", f"use one of {sorted(PRESETS)}")
    if backbone not in BACKBONES:
        raise ParameterError("model.backbone", f"unknown backbone {backbone!r}", f"use one of {BACKBONES}")
    shared = {"in_channels": in_channels, "out_channels": in_channels, "t_in": t_in, "t_out": t_out}
    teacher = TeacherConfig(**shared, **PRESETS[preset]["teacher"])
    student = StudentConfig(backbone=backbone, **shared, **PRESETS[preset]["student"][backbone])
    return teacher, student
