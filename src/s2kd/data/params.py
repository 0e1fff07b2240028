"""Typed, validated ``ingest`` parameters: bad values fail before any work, naming the parameter."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from s2kd.checks import choice, integer, known_keys, number
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
        from s2kd.data.sources import SOURCES  # the registry imports every reader

        known_keys(params, "ingest", {"source", "windows", "splits", "normalisation", "validation", *SOURCES})
        source = params.get("source")
        if not isinstance(source, str) or source not in SOURCES:
            raise ParameterError("ingest.source", f"unknown source {source!r}", f"use one of {sorted(SOURCES)}")
        options = dict(params.get(source) or {})
        accepted = set(inspect.signature(SOURCES[source]).parameters)
        bad = sorted(set(options) - accepted)
        if bad:
            raise ParameterError(f"ingest.{source}", f"unexpected keyword argument(s) {bad}",
                                 f"use only {sorted(accepted)} (see the docstring of {SOURCES[source].__name__})")
        win = dict(params.get("windows") or {})
        val = dict(params.get("validation") or {})
        norm = dict(params.get("normalisation") or {})
        known_keys(win, "ingest.windows", {"t_in", "t_out", "stride"})
        known_keys(val, "ingest.validation", {"max_gap_steps", "max_nan_fraction", "nan_fill"})
        known_keys(norm, "ingest.normalisation", {"method"})
        splits = dict(params.get("splits") or {"train": 0.7, "val": 0.15, "test": 0.15})
        fractions = {k: number(v, f"ingest.splits.{k}", low=0, high=1, low_open=True) for k, v in splits.items()}
        if set(fractions) != {"train", "val", "test"} or abs(sum(fractions.values()) - 1) > 1e-6:
            raise ParameterError("ingest.splits", f"is {fractions}",
                                 "give positive fractions for train, val and test that sum to 1")
        nan_fill = val.get("nan_fill")
        return cls(
            source=source,
            source_options=options,
            t_in=integer(win.get("t_in", 4), "ingest.windows.t_in", 1),
            t_out=integer(win.get("t_out", 4), "ingest.windows.t_out", 1),
            stride=integer(win.get("stride", 1), "ingest.windows.stride", 1),
            fractions=fractions,
            normalisation=choice(norm.get("method", "zscore"), "ingest.normalisation.method", METHODS),
            max_gap_steps=integer(val.get("max_gap_steps", 0), "ingest.validation.max_gap_steps", 0),
            max_nan_fraction=_fraction(val.get("max_nan_fraction", 0.0)),
            nan_fill=None if nan_fill is None else number(nan_fill, "ingest.validation.nan_fill"),
        )


def _fraction(value: Any) -> float:
    v = number(value, "ingest.validation.max_nan_fraction", low=0)
    if not v < 1:
        raise ParameterError("ingest.validation.max_nan_fraction", f"is {v:g}", "use a value in [0, 1)")
    return v
