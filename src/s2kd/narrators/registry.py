"""The narrator registry, ``NARRATORS``: from the ``narrate.narrator`` name to a builder.

A builder takes the typed ``narrate`` parameters (:class:`~s2kd.narrators.params.NarrateParams`:
the narrator's options ``narrate.<name>`` and ``narrate.mode``) and the keyword arguments that are
not configuration, ``api_key``, ``system_prompt`` and ``user_prompt``, and returns a
:class:`~s2kd.narrators.base.Narrator`. The names of this registry are the values
``narrate.narrator`` accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

from s2kd.narrators.base import Narrator
from s2kd.narrators.diagnostic import DiagnosticNarrator
from s2kd.narrators.openai_narrator import OpenAINarrator
from s2kd.narrators.params import NarrateParams, NarratorName


def _diagnostic(params: NarrateParams, **_: Any) -> Narrator:
    return DiagnosticNarrator(params.diagnostic, mode=params.mode)


def _openai(params: NarrateParams, *, api_key: Any, system_prompt: str, user_prompt: str, **_: Any) -> Narrator:
    # the describer and the fallback keep the diagnostic narrator's own defaults (max_items 3), as they
    # always have: narrate.diagnostic configures the diagnostic narrator only (and changing it would
    # change the cache keys of text-only models)
    diagnostic = DiagnosticNarrator(mode=params.mode)
    return OpenAINarrator(params.openai, mode=params.mode, api_key=api_key, system_prompt=system_prompt,
                          user_prompt=user_prompt, describer=diagnostic, fallback=diagnostic)


NARRATORS: dict[str, Callable[..., Narrator]] = {"diagnostic": _diagnostic, "openai": _openai}
assert set(NARRATORS) == set(get_args(NarratorName)), "add a new narrator to NarratorName in narrators/params.py too"


def build_narrator(params: NarrateParams, *, api_key: Any = None, system_prompt: str = "",
                   user_prompt: str = "") -> Narrator:
    """The narrator ``params.narrator``, built from its options (the name was checked by the model)."""
    return NARRATORS[params.narrator](params, api_key=api_key, system_prompt=system_prompt, user_prompt=user_prompt)
