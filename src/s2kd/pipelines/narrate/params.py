"""Typed, validated ``narrate`` parameters: bad values fail before any work, naming the parameter.

The ``openai`` options are checked by :func:`s2kd.narrators.openai_narrator.check_options`, the
same checks the narrator runs, here without needing the API key or the prompts; the ``diagnostic``
options by building the narrator (it holds no resources).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from s2kd.checks import choice, flag, integer, known_keys
from s2kd.errors import ParameterError
from s2kd.narrators.base import MODES
from s2kd.narrators.diagnostic import DiagnosticNarrator
from s2kd.narrators.openai_narrator import check_options
from s2kd.narrators.registry import NARRATORS


@dataclass(frozen=True)
class NarrateParams:
    """The ``narrate`` parameter group (``conf/base/parameters_narrate.yml``)."""

    narrator: str = "diagnostic"
    mode: str = "hindsight"
    chunk_size: int = 256
    options: dict[str, Any] = field(default_factory=dict)
    max_length: int = 96
    embedding_batch_size: int = 64
    shuffle: bool = False
    shuffle_seed: int = 0

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> NarrateParams:
        """Build and check the parameters; raise :class:`ParameterError` on the first bad one."""
        known_keys(params, "narrate", {"narrator", "mode", "chunk_size", "embedding", *NARRATORS})
        name = params.get("narrator", "diagnostic")
        if name not in NARRATORS:
            raise ParameterError("narrate.narrator", f"unknown narrator {name!r}", f"use one of {sorted(NARRATORS)}")
        mode = choice(params.get("mode", "context"), "narrate.mode", MODES)
        options = dict(params.get(name) or {})
        if name == "openai":
            check_options(options)
        else:
            known_keys(options, f"narrate.{name}", {"max_items"})
            DiagnosticNarrator(mode=mode, **options)
        emb = dict(params.get("embedding") or {})
        known_keys(emb, "narrate.embedding", {"max_length", "batch_size", "shuffle", "shuffle_seed"})
        max_length = integer(emb.get("max_length", 96), "narrate.embedding.max_length", 8)
        if max_length > 256:
            raise ParameterError("narrate.embedding.max_length", f"is {max_length}", "use 8..256 tokens (MiniLM's limit is 256)")
        return cls(
            narrator=name, mode=mode, options=options,
            chunk_size=integer(params.get("chunk_size", 256), "narrate.chunk_size", 1),
            max_length=max_length,
            embedding_batch_size=integer(emb.get("batch_size", 64), "narrate.embedding.batch_size", 1),
            shuffle=flag(emb.get("shuffle", False), "narrate.embedding.shuffle"),
            shuffle_seed=integer(emb.get("shuffle_seed", 0), "narrate.embedding.shuffle_seed", 0),
        )
