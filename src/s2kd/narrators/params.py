"""The typed ``narrate`` parameters (``conf/base/parameters_narrate.yml``).

:class:`NarrateParams` is the whole ``narrate`` group, the type hint of the ``narrate`` pipeline's
nodes: Kedro builds it from the configuration before the first node runs, so a bad value stops the
run naming the parameter (``narrate.openai.max_concurrency``) and what is allowed. Its parts serve
library users on their own: ``OpenAINarrator(OpenAIOptions(cache_dir=...), ...)``,
``DiagnosticNarrator(DiagnosticOptions(max_items=5), mode="context")``.

Every default equals the YAML's value; ``narrate.openai.cache_dir`` has none (the YAML puts the
dataset's name in it).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import Field, StrictInt, field_validator, model_validator

from s2kd.narrators.base import Mode
from s2kd.params import Count, Flag, NonNegative, Params, Positive, PositiveInt

#: the names of :data:`s2kd.narrators.registry.NARRATORS` (the registry checks that they agree)
NarratorName = Literal["diagnostic", "openai"]
OnFailure = Literal["raise", "fallback"]
ON_FAILURE: tuple[str, ...] = get_args(OnFailure)


class DiagnosticOptions(Params):
    """``narrate.diagnostic``: the offline narrator.

    Attributes:
        max_items: anomalies / hotspots / events named per narrative (>= 1).
    """

    group: ClassVar[str] = "narrate.diagnostic"

    max_items: PositiveInt = 3


class OpenAIOptions(Params):
    """``narrate.openai``: any OpenAI-compatible chat-completions endpoint.

    Attributes:
        base_url: the endpoint, an http(s) URL (``None``: OpenAI's), e.g. ``http://localhost:11434/v1``
            for Ollama.
        model: the model name the endpoint knows.
        vision: send the frames as PNG (``False``: a text-only model gets the diagnostics instead).
        on_failure: ``raise`` (a :class:`~s2kd.narrators.endpoint_errors.NarrationError` after every
            sample was tried) or ``fallback`` (the diagnostic narrative, flagged per sample).
        max_concurrency: requests in flight at once.
        requests_per_minute: the most HTTP requests a minute, retries included, evenly spaced
            (``60 / requests_per_minute`` seconds between two starts, shared by all workers: see
            :class:`~s2kd.narrators.ratelimit.RateLimiter`); ``None``: no limit.
        timeout_s: per-request timeout.
        max_attempts: attempts per sample, the first included.
        backoff_initial_s: first retry delay; doubles each retry, plus jitter (<= ``backoff_max_s``).
        backoff_max_s: the longest retry delay, also the cap on a ``Retry-After`` header.
        temperature: sampling temperature.
        max_tokens: the longest answer, in tokens.
        price_per_1k_input: price per 1000 prompt tokens (USD), for the cost estimate only.
        price_per_1k_output: price per 1000 completion tokens (USD).
        cache_dir: the narrative cache folder (required).
        show_progress: show a progress bar.
        channel: which channel of the frames to render.
        dpi: resolution of the rendered PNG (>= 10).
    """

    group: ClassVar[str] = "narrate.openai"

    base_url: str | None = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    vision: Flag = True
    on_failure: OnFailure = "raise"
    max_concurrency: PositiveInt = 4
    requests_per_minute: Positive | None = None
    timeout_s: Positive = 60.0
    max_attempts: PositiveInt = 5
    backoff_initial_s: NonNegative = 1.0
    backoff_max_s: Positive = 30.0
    temperature: NonNegative = 0.2
    max_tokens: PositiveInt = 200
    price_per_1k_input: NonNegative = 0.00015
    price_per_1k_output: NonNegative = 0.0006
    cache_dir: Path
    show_progress: Flag = True
    channel: Count = 0
    dpi: Annotated[StrictInt, Field(ge=10)] = 80

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("give an http(s) URL such as http://localhost:8000/v1, or null")
        return value

    @field_validator("model")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name the endpoint's model")
        return value

    @field_validator("cache_dir", mode="before")
    @classmethod
    def _folder(cls, value: Any) -> Any:
        if not isinstance(value, str | PathLike) or (isinstance(value, str) and not value.strip()):
            raise ValueError("give a folder path")
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> OpenAIOptions:
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError(f"make narrate.openai.backoff_initial_s ({self.backoff_initial_s}) <= "
                             f"narrate.openai.backoff_max_s ({self.backoff_max_s})")
        return self


class EmbeddingParams(Params):
    """``narrate.embedding``: the frozen all-MiniLM-L6-v2 token embeddings of the narratives.

    Attributes:
        max_length: tokens per narrative, [CLS] and [SEP] included (8..256: MiniLM reads 256 at most).
        batch_size: narratives encoded at a time.
        shuffle: permute the narratives across the samples of each split, for every teacher of the run
            (a control; the ``s2kd_shuffled_text`` ablation's teacher shuffles its own copy).
        shuffle_seed: the seed of that permutation.
    """

    group: ClassVar[str] = "narrate.embedding"

    max_length: Annotated[StrictInt, Field(ge=8, le=256)] = 96
    batch_size: PositiveInt = 64
    shuffle: Flag = False
    shuffle_seed: Count = 0


class NarrateParams(Params):
    """The ``narrate`` parameter group.

    Attributes:
        narrator: a name of the registry :data:`~s2kd.narrators.registry.NARRATORS`.
        mode: ``hindsight`` (also the target window: privileged, the teacher's default) or
            ``context`` (the input window only).
        chunk_size: samples read and narrated at a time.
        diagnostic: the ``diagnostic`` narrator's options.
        openai: the ``openai`` narrator's options.
        embedding: the token embeddings' options.
    """

    group: ClassVar[str] = "narrate"

    narrator: NarratorName = "diagnostic"
    mode: Mode = "hindsight"
    chunk_size: PositiveInt = 256
    diagnostic: DiagnosticOptions = Field(default_factory=DiagnosticOptions)
    openai: OpenAIOptions
    embedding: EmbeddingParams = Field(default_factory=EmbeddingParams)
