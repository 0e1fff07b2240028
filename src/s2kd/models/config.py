"""What every forecaster's config holds: the data's shape and the network's two widths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from s2kd.errors import ParameterError


@dataclass
class ForecasterConfig:
    """The fields every model config shares (:class:`~s2kd.models.teacher.TeacherConfig`,
    :class:`~s2kd.models.student.StudentConfig`).

    Attributes:
        in_channels: channels ``C`` of the input frames.
        out_channels: channels of the predicted frames.
        t_in: input frames.
        t_out: predicted frames.
        width: channels of the full-resolution stage.
        d: channels of the latent at ``H/4 x W/4``.
    """

    where: ClassVar[str] = "model"

    in_channels: int
    out_channels: int
    t_in: int
    t_out: int
    width: int
    d: int

    def __post_init__(self) -> None:
        self.require_counts(("in_channels", "out_channels", "t_in", "t_out", "width", "d"), minimum=1)

    def require_counts(self, names: tuple[str, ...], *, minimum: int) -> None:
        """Raise :class:`ParameterError` (``<where>.<name>``) unless each field is an integer >= ``minimum``."""
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ParameterError(f"{self.where}.{name}", f"is {value!r}", f"use an integer >= {minimum}")
