"""Typed, validated ``evaluate`` parameters: bad values fail before any work, naming the parameter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from s2kd.checks import flag, integer, known_keys, optional_int
from s2kd.errors import ParameterError


@dataclass(frozen=True)
class EvaluateParams:
    """The ``evaluate`` parameter group (``conf/base/parameters_evaluate.yml``)."""

    batch_size: int = 64
    max_test_samples: int | None = None
    latency_batch_sizes: tuple[int, ...] = (1, 32)
    latency_warmup: int = 3
    latency_repeats: int = 20
    panel_samples: int = 3
    progress: bool = True

    @classmethod
    def from_dict(cls, params: Mapping[str, Any] | None) -> EvaluateParams:
        """Build and check the parameters; raise :class:`ParameterError` on the first bad one."""
        p = dict(params or {})
        known_keys(p, "evaluate", {"batch_size", "max_test_samples", "latency_batch_sizes", "latency_warmup",
                                   "latency_repeats", "panel_samples", "progress"})
        sizes = p.get("latency_batch_sizes", [1, 32])
        if (not isinstance(sizes, list | tuple) or not sizes
                or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in sizes)):
            raise ParameterError("evaluate.latency_batch_sizes", f"is {sizes!r}", "list batch sizes >= 1")
        return cls(
            batch_size=integer(p.get("batch_size", 64), "evaluate.batch_size", 1),
            max_test_samples=optional_int(p.get("max_test_samples"), "evaluate.max_test_samples"),
            latency_batch_sizes=tuple(sizes),
            latency_warmup=integer(p.get("latency_warmup", 3), "evaluate.latency_warmup", 0),
            latency_repeats=integer(p.get("latency_repeats", 20), "evaluate.latency_repeats", 1),
            panel_samples=integer(p.get("panel_samples", 3), "evaluate.panel_samples", 0),
            progress=flag(p.get("progress", True), "evaluate.progress"),
        )
