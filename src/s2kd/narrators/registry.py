"""The narrator registry, ``NARRATORS``: from the ``narrate.narrator`` name to a builder.

A builder takes the narrator's option group (``narrate.<name>``) and the shared keyword arguments
``mode``, ``api_key``, ``system_prompt``, ``user_prompt`` and returns a
:class:`~s2kd.narrators.base.Narrator`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from s2kd.errors import ParameterError
from s2kd.narrators.base import MODES, Narrator
from s2kd.narrators.diagnostic import DiagnosticNarrator
from s2kd.narrators.openai_narrator import OpenAINarrator


def _diagnostic(options: Mapping[str, Any], *, mode: str, **_: Any) -> Narrator:
    return DiagnosticNarrator(mode=mode, **options)


def _openai(options: Mapping[str, Any], *, mode: str, api_key: str | None, system_prompt: str, user_prompt: str,
            **_: Any) -> Narrator:
    diagnostic = DiagnosticNarrator(mode=mode)
    return OpenAINarrator(mode=mode, api_key=api_key, system_prompt=system_prompt, user_prompt=user_prompt,
                          describer=diagnostic, fallback=diagnostic, **options)


NARRATORS: dict[str, Callable[..., Narrator]] = {"diagnostic": _diagnostic, "openai": _openai}


def build_narrator(name: str, options: Mapping[str, Any], **kwargs: Any) -> Narrator:
    """Build the narrator ``name``; raise :class:`ParameterError` for an unknown one or a bad option."""
    if name not in NARRATORS:
        raise ParameterError("narrate.narrator", f"unknown narrator '{name}'", f"use one of {sorted(NARRATORS)}")
    if kwargs.get("mode") not in MODES:
        raise ParameterError("narrate.mode", f"is {kwargs.get('mode')!r}", f"use one of {MODES}")
    try:
        return NARRATORS[name](dict(options or {}), **kwargs)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise ParameterError(f"narrate.{name}", str(exc), "see the narrator's docstring for its options") from exc
        raise

