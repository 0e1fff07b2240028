"""Small typed checks shared by the parameter classes of every pipeline.

Each returns the checked value or raises :class:`~s2kd.errors.ParameterError` naming the parameter
(``name``, dotted as in the YAML), what it is and the allowed range, so a bad run stops before any
work with a message that says what to change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from s2kd.errors import ParameterError


def choice(value: Any, name: str, options: Sequence[Any]) -> Any:
    if value not in options:
        raise ParameterError(name, f"is {value!r}", f"use one of {list(options)}")
    return value


def number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False) -> float:
    """A real number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(name, f"is {value!r}", "use a number")
    v = float(value)
    too_low = low is not None and (v <= low if low_open else v < low)
    if too_low or (high is not None and v > high) or v != v:
        raise ParameterError(name, f"is {v:g}", f"use a number {_range(low, high, low_open)}")
    return v


def positive(value: Any, name: str) -> float:
    """A number > 0."""
    v = number(value, name)
    if not v > 0:
        raise ParameterError(name, f"is {v:g}", "use a number > 0")
    return v


def integer(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(name, f"is {value!r}", f"use an integer >= {minimum}")
    return value


def optional_int(value: Any, name: str, minimum: int = 1) -> int | None:
    return None if value is None else integer(value, name, minimum)


def flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ParameterError(name, f"is {value!r}", "use true or false")
    return value


def known_keys(params: Mapping[str, Any], name: str, allowed: set[str]) -> None:
    """Refuse keys no code reads (a typo such as ``max_epoch`` would silently do nothing)."""
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ParameterError(name, f"has unknown key(s) {unknown}", f"use only {sorted(allowed)}")


def _range(low: float | None, high: float | None, low_open: bool) -> str:
    if high is None:
        return f"{'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"<= {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}]"
