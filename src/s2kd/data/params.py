"""Typed, validated ``ingest`` parameters: bad values fail before any work, naming the parameter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from s2kd.data.normalisation import METHODS
from s2kd.errors import ParameterError


@dataclass(frozen=True)
class IngestParams:
    """The ``ingest`` parameter group (``conf/base/parameters_ingest.yml``)."""

    source: str
    source_options: dict[str, Any]
    t_in: int = 4
    t_out: int = 4
    stride: int = 1
    fractions: dict[str, float] = field(default_factory=lambda: {"train": 0.7, "val": 0.15, "test": 0.15})
    normalisation: str = "zscore"
    max_gap_steps: int = 0
    max_nan_fraction: float = 0.0
    nan_fill: float | None = None

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> IngestParams:
        """Build and check the parameters; raise :class:`ParameterError` on the first bad one."""
        source = params.get("source")
        if not isinstance(source, str):
            raise ParameterError("ingest.source", f"is {source!r}", "set it to synthetic, xarray or st_grid_h5")
        win = dict(params.get("windows") or {})
        val = dict(params.get("validation") or {})
        norm = dict(params.get("normalisation") or {})
        fractions = {k: float(v) for k, v in dict(params.get("splits") or {"train": 0.7, "val": 0.15, "test": 0.15}).items()}
        p = cls(
            source=source,
            source_options=dict(params.get(source) or {}),
            t_in=_int(win.get("t_in", 4), "ingest.windows.t_in", 1),
            t_out=_int(win.get("t_out", 4), "ingest.windows.t_out", 1),
            stride=_int(win.get("stride", 1), "ingest.windows.stride", 1),
            fractions=fractions,
            normalisation=str(norm.get("method", "zscore")),
            max_gap_steps=_int(val.get("max_gap_steps", 0), "ingest.validation.max_gap_steps", 0),
            max_nan_fraction=float(val.get("max_nan_fraction", 0.0)),
            nan_fill=None if val.get("nan_fill") is None else float(val["nan_fill"]),
        )
        if set(fractions) != {"train", "val", "test"} or min(fractions.values()) <= 0 or abs(sum(fractions.values()) - 1) > 1e-6:
            raise ParameterError("ingest.splits", f"is {fractions}",
                                 "give positive fractions for train, val and test that sum to 1")
        if p.normalisation not in METHODS:
            raise ParameterError("ingest.normalisation.method", f"is {p.normalisation!r}", f"use one of {METHODS}")
        if not 0.0 <= p.max_nan_fraction < 1.0:
            raise ParameterError("ingest.validation.max_nan_fraction", f"is {p.max_nan_fraction}", "use a value in [0, 1)")
        return p


def _int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(name, f"is {value!r}", f"use an integer >= {minimum}")
    return value
