"""The ``openai`` narrator: any OpenAI-compatible chat-completions endpoint writes the narratives.

Works with OpenAI, vLLM, Ollama, the llama.cpp server, DeepSeek and anything else that speaks the
chat-completions API, through the ``openai`` client. Each sample's input frames are rendered to one
PNG (:func:`s2kd.narrators.render.render_window`) and sent with its calendar metadata and a prompt
template; a model without vision (``vision=False``) gets the describer's diagnostics as text
instead. In ``hindsight`` mode the target frames go along as a second PNG.

Every answer is written to an on-disk cache (:class:`~s2kd.narrators.cache.NarrativeCache`) the
moment it arrives, keyed by a hash of (image or diagnostics, full prompt text, model): a cache hit
sends no request, so an interrupted run resumes without paying twice, while a changed prompt or
model asks again.

Requests run on a bounded thread pool (``max_concurrency``), spaced evenly to at most
``requests_per_minute`` HTTP requests a minute, retries included
(:class:`~s2kd.narrators.ratelimit.RateLimiter`), with our own retries (tenacity: exponential
backoff with jitter, ``Retry-After`` honoured up to ``backoff_max_s``) on 429, 5xx, timeouts,
connection errors and malformed answers. Token usage and an estimated cost are logged and kept in
``stats``.

The API key never appears in logs (a filter scrubs it from the ``openai``/``httpx2``/``httpcore2``
loggers too), in the cache, in :attr:`Narrative.error` or in raised exceptions.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import openai
import pandas as pd
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tqdm.auto import tqdm

from s2kd.checks import flag, integer
from s2kd.errors import InputError, ParameterError
from s2kd.narrators.base import MODES, Narrative, Narrator, SampleContext, text_hash
from s2kd.narrators.cache import NarrativeCache
from s2kd.narrators.ratelimit import RateLimiter
from s2kd.narrators.render import render_targets, render_window, value_range

logger = logging.getLogger(__name__)

ON_FAILURE = ("raise", "fallback")
CONTEXT_INSTRUCTION = "Describe only what the frames show and the calendar."
HINDSIGHT_INSTRUCTION_VISION = (
    "The first image shows the input frames, the second image the target frames that follow them (same colour "
    "scale). Describe what the input frames show and the calendar, then what happens in the target frames."
)
HINDSIGHT_INSTRUCTION_TEXT = (
    "The diagnostics also describe the target window that follows the input frames. Describe what the input "
    "frames show and the calendar, then what happens in the target window."
)
#: metadata fields left out of the prompt: bookkeeping, and events (listed on their own line)
SKIPPED_METADATA = ("sample_id", "split", "events")
#: HTTP statuses after which the whole run stops: the key, the permissions or the model are wrong
FATAL_STATUSES = (401, 403, 404)
#: how many per-sample errors a :class:`NarrationError` message spells out
MAX_ERRORS_SHOWN = 20
_LOGGER_PREFIXES = ("openai", "httpx", "httpx2", "httpcore", "httpcore2")


class NarrationError(RuntimeError):
    """Some samples got no narrative after all attempts (``on_failure="raise"``), or the run stopped.

    Attributes:
        errors: the last error (scrubbed of credentials) per failed sample id.
        total: the number of samples of the run.
    """

    def __init__(self, errors: dict[int, str], *, total: int, fatal: str | None = None) -> None:
        self.errors = dict(errors)
        self.total = total
        ids = sorted(self.errors)
        shown = "; ".join(f"sample {i}: {self.errors[i]}" for i in ids[:MAX_ERRORS_SHOWN])
        more = f"; ... and {len(ids) - MAX_ERRORS_SHOWN} more" if len(ids) > MAX_ERRORS_SHOWN else ""
        if fatal is not None:
            head = (f"narrate.openai: the endpoint refused the run ({fatal}); {len(ids)} of {total} samples got no "
                    f"narrative. Fix: check api_key, base_url and model")
        else:
            head = (f"narrate.openai: {len(ids)} of {total} samples got no narrative after all attempts "
                    f"(answers that did arrive are cached; rerun to retry only the failed ones, or set "
                    f"narrate.openai.on_failure: fallback). Failed sample ids: {ids}")
        super().__init__(f"{head}. Last errors: {shown}{more}" if shown else head)


class MalformedAnswerError(RuntimeError):
    """The endpoint answered, but without a usable narrative (no choices, no content, not JSON)."""


class _Fatal(RuntimeError):
    """A run-level refusal (401/403/404): no point in asking again for any sample."""


class Describer(Protocol):
    def describe(self, sample: SampleContext) -> str: ...


class _ScrubSecrets(logging.Filter):
    """Replaces registered secrets by ``***`` in log records (message, arguments, traceback text)."""

    def __init__(self) -> None:
        super().__init__("s2kd-scrub-secrets")
        self.secrets: set[str] = set()

    def scrub(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken record: leave it to logging's own error handling
            return True
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True


_SCRUBBER = _ScrubSecrets()
_SCRUBBER_LOCK = threading.Lock()


def _protect_loggers(secret: str) -> None:
    """Register ``secret`` with the scrubbing filter on every HTTP-client logger (and this module's)."""
    with _SCRUBBER_LOCK:
        _SCRUBBER.secrets.add(secret)
        names = {name for name in logging.Logger.manager.loggerDict
                 if name.split(".")[0] in _LOGGER_PREFIXES or name.startswith("s2kd.narrators")}
        names.update(_LOGGER_PREFIXES)
        names.add(__name__)
        for name in names:
            log = logging.getLogger(name)
            if _SCRUBBER not in log.filters:
                log.addFilter(_SCRUBBER)


def _fmt_time(t: Any) -> str:
    t = pd.Timestamp(t)
    return t.strftime("%Y-%m-%d %H:%M") if (t.second == 0 and t.microsecond == 0) else t.isoformat()


def _fmt_step(step: Any) -> str:
    seconds = pd.Timedelta(step).total_seconds()
    for unit, n in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= n and seconds % n == 0:
            return f"{int(seconds // n)} {unit}"
    return str(pd.Timedelta(step))


def _fmt_value(v: Any) -> str | None:
    """A compact text of a metadata value; ``None`` to leave it out (missing values)."""
    if v is None or (np.ndim(v) == 0 and not isinstance(v, (str, dict)) and bool(pd.isna(v))):
        return None
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return _fmt_time(v)
    if isinstance(v, (pd.Timedelta, np.timedelta64)):
        return _fmt_step(v)
    if isinstance(v, (bool, np.bool_)):
        return "yes" if bool(v) else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else f"{float(v):.4g}"
    if isinstance(v, str):
        if not v:
            return None
        try:  # ISO timestamps from stored tables
            if len(v) >= 10 and v[4] == "-" and v[7] == "-":
                return _fmt_time(pd.Timestamp(v))
        except (ValueError, TypeError):
            pass
        return v
    return str(v)


def _fmt_event(ev: dict[str, Any], *, hindsight: bool) -> str:
    kind = str(ev.get("type") or ev.get("name") or "event")
    parts = [kind]
    lat, lon = ev.get("lat0"), ev.get("lon0")
    if isinstance(lat, (int, float)) and isinstance(lon, (int, float)):
        lo = (float(lon) + 180.0) % 360.0 - 180.0
        parts.append(f"near {abs(lat):.0f}°{'N' if lat >= 0 else 'S'} {abs(lo):.0f}°{'E' if lo >= 0 else 'W'}")
    if ev.get("onset") is not None:
        parts.append(f"onset {_fmt_value(ev['onset'])}")
    if hindsight:
        if ev.get("end") is not None:
            parts.append(f"end {_fmt_value(ev['end'])}")
        flags = [name.replace("_", " ") for name in ("visible_in_input", "onset_in_target", "peak_in_target",
                                                     "ends_in_target") if ev.get(name)]
        if flags:
            parts.append(f"({', '.join(flags)})")
    return " ".join(parts)


def format_metadata(sample: SampleContext, mode: str) -> str:
    """A compact text of a sample's grid, times, calendar metadata and recorded events.

    Every metadata field but ``sample_id``, ``split`` and ``events`` is listed as ``key=value``
    (missing values left out); the events follow on one line: in ``context`` mode only those
    visible in the input window (type, place, onset), in ``hindsight`` mode all of them with their
    end and where they stand relative to the target window. ``hindsight`` also names the target times.
    """
    g = sample.grid
    ch = g.channels[0] if g.channels else "value"
    times = sample.input_times
    where = f"{g.kind} grid" + (f" ({g.domain})" if g.domain else "")
    lines = [f"{where}; channels: " + ", ".join(f"{c} ({g.units.get(c, '')})" if g.units.get(c) else c
                                                 for c in (g.channels or (ch,)))]
    if len(times):
        lines.append(f"input frames: {len(times)} from {_fmt_time(times[0])} to {_fmt_time(times[-1])}, "
                     f"every {_fmt_step(g.step)}")
    if mode == "hindsight" and sample.target_times is not None and len(sample.target_times):
        tt = sample.target_times
        lines.append(f"target frames: {len(tt)} from {_fmt_time(tt[0])} to {_fmt_time(tt[-1])}")
    fields = []
    for k, v in (sample.metadata or {}).items():
        if k in SKIPPED_METADATA:
            continue
        text = _fmt_value(v)
        if text is not None:
            fields.append(f"{k}={text}")
    if fields:
        lines.append("calendar: " + ", ".join(fields))
    events = [e for e in (sample.metadata or {}).get("events") or [] if isinstance(e, dict)]
    if mode == "context":
        events = [e for e in events if e.get("visible_in_input", True)]
    if events:
        lines.append("recorded events: " + "; ".join(_fmt_event(e, hindsight=mode == "hindsight") for e in events))
    return "\n".join(lines)


@dataclass
class _Request:
    index: int
    sample: SampleContext
    key: str
    messages: list[dict[str, Any]]


def _retry_after(exc: BaseException | None) -> float | None:
    """Seconds from a ``Retry-After``/``retry-after-ms`` header of an HTTP error, if any."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(float(ms) / 1000.0, 0.0)
        s = headers.get("retry-after")
        if s is not None:
            return max(float(s), 0.0)
    except (TypeError, ValueError):  # an HTTP date: use our own backoff
        return None
    return None


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError,
                        MalformedAnswerError)):
        return True  # APITimeoutError is an APIConnectionError
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500 or exc.status_code == 408
    return False


#: the options of the ``narrate.openai`` parameter group (the constructor's other arguments, ``mode``,
#: ``api_key``, the prompts, ``describer`` and ``fallback``, come from elsewhere)
OPTIONS = ("base_url", "model", "vision", "on_failure", "max_concurrency", "requests_per_minute", "timeout_s",
           "max_attempts", "backoff_initial_s", "backoff_max_s", "temperature", "max_tokens", "price_per_1k_input",
           "price_per_1k_output", "cache_dir", "show_progress", "channel", "dpi")
#: the options without a default
REQUIRED_OPTIONS = ("base_url", "model", "cache_dir")


def _need(ok: bool, name: str, problem: str, fix: str) -> None:
    if not ok:
        raise ParameterError(f"narrate.openai.{name}", problem, fix)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_options(options: Mapping[str, Any]) -> None:
    """Check the ``narrate.openai`` options; raise :class:`ParameterError` for the first bad one.

    Checks each option's type and range, that none is unknown and that ``base_url``, ``model`` and
    ``cache_dir`` are there. Needs neither the API key nor the prompts, so it can run before any
    pipeline node; :class:`OpenAINarrator` runs it on its own arguments too.
    """
    if not isinstance(options, Mapping):
        raise ParameterError("narrate.openai", f"is {type(options).__name__}, not a mapping",
                             f"give the options as a mapping: {', '.join(OPTIONS)}")
    unknown = sorted(str(k) for k in options if k not in OPTIONS)
    if unknown:
        raise ParameterError(f"narrate.openai.{unknown[0]}", "is not an option of the openai narrator",
                             f"use only {', '.join(OPTIONS)}")
    for key in REQUIRED_OPTIONS:
        _need(key in options, key, "is missing", f"set narrate.openai.{key}")
    o = dict(options)
    model, base_url = o["model"], o["base_url"]
    _need(isinstance(model, str) and bool(model.strip()), "model", f"is {model!r}", "name the endpoint's model")
    _need(base_url is None or (isinstance(base_url, str) and base_url.startswith(("http://", "https://"))),
          "base_url", f"is {base_url!r}", "give an http(s) URL such as http://localhost:8000/v1, or null")
    cache_dir = o["cache_dir"]
    _need((isinstance(cache_dir, str) and bool(cache_dir.strip())) or isinstance(cache_dir, PathLike), "cache_dir",
          f"is {cache_dir!r}", "give a folder path")
    if "on_failure" in o:
        _need(o["on_failure"] in ON_FAILURE, "on_failure", f"is {o['on_failure']!r}", f"use one of {ON_FAILURE}")
    for key in ("vision", "show_progress"):
        if key in o:
            flag(o[key], f"narrate.openai.{key}")
    for key, lo in (("max_concurrency", 1), ("max_attempts", 1), ("max_tokens", 1), ("dpi", 10), ("channel", 0)):
        if key in o:
            integer(o[key], f"narrate.openai.{key}", lo)
    for key in ("timeout_s", "backoff_max_s"):
        if key in o:
            _need(_is_number(o[key]) and o[key] > 0, key, f"is {o[key]!r}", "use a number > 0")
    for key in ("backoff_initial_s", "temperature", "price_per_1k_input", "price_per_1k_output"):
        if key in o:
            _need(_is_number(o[key]) and o[key] >= 0, key, f"is {o[key]!r}", "use a number >= 0")
    initial, longest = o.get("backoff_initial_s", 1.0), o.get("backoff_max_s", 30.0)
    _need(initial <= longest, "backoff_initial_s", f"{initial} > backoff_max_s {longest}",
          "make backoff_initial_s <= backoff_max_s")
    rpm = o.get("requests_per_minute")
    _need(rpm is None or (_is_number(rpm) and rpm > 0), "requests_per_minute", f"is {rpm!r}",
          "use a number > 0 (the endpoint's requests-per-minute limit, or a bit under it), or null for no limit")


class OpenAINarrator:
    """Narratives from an OpenAI-compatible chat-completions endpoint, cached on disk.

    Args:
        base_url: the endpoint (``None``: OpenAI's), e.g. ``http://localhost:11434/v1`` for Ollama.
        model: the model name the endpoint knows.
        api_key: the key (a string, or an object with ``get()`` such as
            :class:`s2kd.datasets.secret.Secret`). Required: local servers that need no key
            (vLLM, Ollama, llama.cpp) accept any non-empty string, e.g. ``"local"``.
        system_prompt: the system message ('' for none).
        user_prompt: a ``str.format`` template with the fields ``{metadata}`` (see
            :func:`format_metadata`), ``{diagnostics}`` (the describer's text when ``vision`` is
            ``False`` or a describer is given, else '') and ``{mode_instruction}``.
        cache_dir: the narrative cache folder.
        vision: send the frames as PNG (``False``: a text-only model gets the diagnostics instead).
        mode: ``context`` (input window only) or ``hindsight`` (the target frames go along).
        describer: an object with ``describe(sample) -> str`` (the diagnostic narrator);
            required when ``vision`` is ``False``.
        fallback: a :class:`Narrator` for the samples that fail (``on_failure="fallback"``).
        on_failure: ``raise`` (a :class:`NarrationError` after every sample was tried) or
            ``fallback``.
        max_concurrency: requests in flight at once (>= 1).
        requests_per_minute: the most HTTP requests a minute, retries included, evenly spaced
            (``60 / requests_per_minute`` seconds between two starts, shared by all workers: see
            :class:`~s2kd.narrators.ratelimit.RateLimiter`); ``None``: no limit.
        timeout_s: per-request timeout (> 0).
        max_attempts: attempts per sample, the first included (>= 1).
        backoff_initial_s: first retry delay (>= 0); doubles each retry, plus jitter.
        backoff_max_s: the longest retry delay, also the cap on a ``Retry-After`` header.
        temperature: sampling temperature.
        max_tokens: the longest answer, in tokens.
        price_per_1k_input: price per 1000 prompt tokens, for the cost estimate.
        price_per_1k_output: price per 1000 completion tokens.
        show_progress: show a progress bar.
        channel: which channel of the frames to render.
        dpi: resolution of the rendered PNG.

    A 401, 403 or 404 answer (wrong key, no access, unknown model) stops the whole run with a
    :class:`NarrationError`, whatever ``on_failure`` says: every other request would fail the same way.

    Attributes:
        stats: after :meth:`narrate`: ``requests`` (HTTP attempts sent), ``cache_hits``,
            ``failures``, ``fallbacks``, ``retries``, ``input_tokens``, ``output_tokens``,
            ``estimated_cost`` and ``seconds``.
    """

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None,
        model: str,
        api_key: Any,
        system_prompt: str,
        user_prompt: str,
        cache_dir: str | Path,
        vision: bool = True,
        mode: str = "context",
        describer: Describer | None = None,
        fallback: Narrator | None = None,
        on_failure: str = "raise",
        max_concurrency: int = 4,
        requests_per_minute: float | None = None,
        timeout_s: float = 60.0,
        max_attempts: int = 5,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        temperature: float = 0.2,
        max_tokens: int = 200,
        price_per_1k_input: float = 0.0,
        price_per_1k_output: float = 0.0,
        show_progress: bool = True,
        channel: int = 0,
        dpi: int = 80,
    ) -> None:
        if api_key is not None and not isinstance(api_key, str) and callable(getattr(api_key, "get", None)):
            api_key = api_key.get()
        if not isinstance(api_key, str) or not api_key.strip():
            raise ParameterError(
                "narrate.openai credentials", "no API key was given for the openai narrator",
                fix="put api_key under openai_narrator in conf/local/credentials.yml or export OPENAI_API_KEY")
        self._api_key = api_key
        _protect_loggers(api_key)

        check_options({"base_url": base_url, "model": model, "vision": vision, "on_failure": on_failure,
                       "max_concurrency": max_concurrency, "requests_per_minute": requests_per_minute,
                       "timeout_s": timeout_s, "max_attempts": max_attempts, "backoff_initial_s": backoff_initial_s,
                       "backoff_max_s": backoff_max_s, "temperature": temperature, "max_tokens": max_tokens,
                       "price_per_1k_input": price_per_1k_input, "price_per_1k_output": price_per_1k_output,
                       "cache_dir": cache_dir, "show_progress": show_progress, "channel": channel, "dpi": dpi})
        _need(mode in MODES, "mode", f"is {mode!r}", f"use one of {MODES}")
        _need(on_failure != "fallback" or callable(getattr(fallback, "narrate", None)), "fallback",
              "on_failure is 'fallback' but no fallback narrator was given", "give one, or set on_failure: raise")
        _need(bool(vision) or callable(getattr(describer, "describe", None)), "vision",
              "is false but no describer was given (a model without vision needs the diagnostics as text)",
              "give a describer, or set vision: true")
        _need(describer is None or callable(getattr(describer, "describe", None)), "describer",
              "has no describe(sample) method", "pass the diagnostic narrator")
        _need(isinstance(system_prompt, str), "system_prompt", f"is {type(system_prompt).__name__}", "give a string")
        _need(isinstance(user_prompt, str) and bool(user_prompt.strip()), "user_prompt", "is empty",
              "give a template with {metadata}, {diagnostics} and {mode_instruction}")
        try:
            user_prompt.format(metadata="", diagnostics="", mode_instruction="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ParameterError("narrate.openai.user_prompt", f"is not a valid template ({type(exc).__name__}: "
                                 f"{exc})", "use only the fields {metadata}, {diagnostics} and {mode_instruction}; "
                                 "double literal braces as {{ }}") from None
        _need(bool(vision) or "{diagnostics}" in user_prompt, "user_prompt",
              "has no {diagnostics} field but vision is false, so the model would see nothing of the frames",
              "add {diagnostics} to the template")

        self.base_url = base_url
        self.model = model
        self.system_prompt = system_prompt
        self.user_prompt = user_prompt
        self.vision = bool(vision)
        self.mode = mode
        self.describer = describer
        self.fallback = fallback
        self.on_failure = on_failure
        self.max_concurrency = max_concurrency
        self.requests_per_minute = None if requests_per_minute is None else float(requests_per_minute)
        self.timeout_s = float(timeout_s)
        self.max_attempts = max_attempts
        self.backoff_initial_s = float(backoff_initial_s)
        self.backoff_max_s = float(backoff_max_s)
        self.temperature = float(temperature)
        self.max_tokens = max_tokens
        self.price_per_1k_input = float(price_per_1k_input)
        self.price_per_1k_output = float(price_per_1k_output)
        self.show_progress = show_progress
        self.channel = channel
        self.dpi = dpi
        self.cache = NarrativeCache(cache_dir)
        kwargs: dict[str, Any] = {"api_key": api_key, "timeout": self.timeout_s, "max_retries": 0}
        if base_url is not None:
            kwargs["base_url"] = base_url
        self._client = openai.OpenAI(**kwargs)
        _protect_loggers(api_key)  # loggers the client created
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._limiter = RateLimiter(requests_per_minute)
        self._backoff = wait_exponential_jitter(multiplier=self.backoff_initial_s or 1e-3, max=self.backoff_max_s,
                                                jitter=max(self.backoff_initial_s, 1e-3))
        self.stats: dict[str, Any] = self._empty_stats()

    def __repr__(self) -> str:
        return (f"OpenAINarrator(base_url={self.base_url!r}, model={self.model!r}, mode={self.mode!r}, "
                f"vision={self.vision}, api_key='***')")

    @property
    def prompt_hash(self) -> str:
        """Hash of the prompt templates and mode."""
        return text_hash(self.system_prompt, self.user_prompt, self.mode)

    # -- helpers ----------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _error_text(self, exc: BaseException) -> str:
        status = getattr(exc, "status_code", None)
        head = f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")
        message = str(exc).strip()
        return self._scrub(f"{head}: {message}" if message else head)

    @staticmethod
    def _empty_stats() -> dict[str, Any]:
        return {"requests": 0, "cache_hits": 0, "failures": 0, "fallbacks": 0, "retries": 0, "input_tokens": 0,
                "output_tokens": 0, "estimated_cost": 0.0, "seconds": 0.0}

    def _count(self, **increments: int) -> None:
        with self._lock:
            for k, v in increments.items():
                self.stats[k] += v

    def _mode_instruction(self) -> str:
        if self.mode == "context":
            return CONTEXT_INSTRUCTION
        return HINDSIGHT_INSTRUCTION_VISION if self.vision else HINDSIGHT_INSTRUCTION_TEXT

    def _build_request(self, sample: SampleContext, index: int = 0) -> _Request:
        """The chat messages and cache key of one sample (renders the PNGs)."""
        diagnostics = ""
        if self.describer is not None:
            diagnostics = str(self.describer.describe(sample))
        text = self.user_prompt.format(metadata=format_metadata(sample, self.mode), diagnostics=diagnostics,
                                       mode_instruction=self._mode_instruction())
        messages: list[dict[str, Any]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        if self.vision:
            n_c = sample.inputs.shape[1] if np.ndim(sample.inputs) == 4 else 0
            if not self.channel < n_c:
                raise InputError(f"sample {sample.sample_id}", f"has {n_c} channels, channel {self.channel} was "
                                 "asked for", "set narrate.openai.channel to an existing channel")
            if self.mode == "hindsight":
                if sample.targets is None:
                    raise InputError(f"sample {sample.sample_id}", "hindsight mode needs the target frames, the "
                                     "sample has none", "build hindsight samples with their targets")
                vr = value_range(sample.inputs[:, self.channel], sample.targets[:, self.channel])
                pngs = [render_window(sample, channel=self.channel, dpi=self.dpi, vrange=vr),
                        render_targets(sample, channel=self.channel, dpi=self.dpi, vrange=vr)]
            else:
                pngs = [render_window(sample, channel=self.channel, dpi=self.dpi)]
            content: list[dict[str, Any]] = [{"type": "text", "text": text}]
            for png in pngs:
                url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
                content.append({"type": "image_url", "image_url": {"url": url}})
            messages.append({"role": "user", "content": content})
            key = NarrativeCache.key(*pngs, self.system_prompt, text, self.model)
        else:
            messages.append({"role": "user", "content": text})
            key = NarrativeCache.key(diagnostics, self.system_prompt, text, self.model)
        return _Request(index=index, sample=sample, key=key, messages=messages)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        after = _retry_after(exc)
        if after is not None:
            return min(after, self.backoff_max_s)
        return float(self._backoff(state))

    def _before_sleep(self, state: RetryCallState) -> None:
        self._count(retries=1)
        exc = state.outcome.exception() if state.outcome is not None else None
        sample_id = state.args[0].sample.sample_id if state.args else "?"
        logger.info("openai narrator: sample %s, attempt %d of %d failed (%s); retrying in %.2f s", sample_id,
                    state.attempt_number, self.max_attempts, self._error_text(exc) if exc else "?",
                    state.next_action.sleep if state.next_action else 0.0)

    def _attempt(self, req: _Request) -> tuple[str, int, int, str]:
        if not self._limiter.acquire(self._abort):  # every attempt, retries too, waits for its slot
            raise _Fatal("the run was stopped")
        self._count(requests=1)
        try:
            response = self._client.chat.completions.create(
                model=self.model, messages=req.messages, temperature=self.temperature, max_tokens=self.max_tokens)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedAnswerError(f"the answer is not valid JSON ({type(exc).__name__})") from None
        except openai.APIStatusError as exc:
            if exc.status_code in FATAL_STATUSES:
                self._abort.set()
                raise _Fatal(self._error_text(exc)) from None
            raise
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise MalformedAnswerError("the answer has no choices")
        message = getattr(choices[0], "message", None)
        content = getattr(message, "content", None)
        if not isinstance(content, str) or not content.strip():
            raise MalformedAnswerError("the answer has no message content")
        usage = getattr(response, "usage", None)
        n_in = int(getattr(usage, "prompt_tokens", 0) or 0)
        n_out = int(getattr(usage, "completion_tokens", 0) or 0)
        self._count(input_tokens=n_in, output_tokens=n_out)
        return content.strip(), n_in, n_out, str(getattr(response, "model", "") or "")

    def _ask(self, req: _Request) -> Narrative:
        """One sample: attempts with retries, then the answer written to the cache at once."""
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: _retryable(e) and not self._abort.is_set()),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        text, n_in, n_out, served_by = retrying(self._attempt, req)
        self.cache.put(req.key, {"text": text, "model": self.model, "served_by": served_by,
                                 "input_tokens": n_in, "output_tokens": n_out, "sample_id": req.sample.sample_id,
                                 "prompt_hash": self.prompt_hash, "mode": self.mode, "created": time.time()})
        return Narrative(sample_id=req.sample.sample_id, text=text, narrator=self.name, model=self.model,
                         prompt_hash=self.prompt_hash, input_tokens=n_in, output_tokens=n_out,
                         extra={"cache_key": req.key})

    def _from_cache(self, req: _Request, record: dict[str, Any]) -> Narrative:
        return Narrative(sample_id=req.sample.sample_id, text=record["text"], narrator=self.name,
                         model=str(record.get("model", self.model)), prompt_hash=self.prompt_hash, cached=True,
                         input_tokens=int(record.get("input_tokens", 0) or 0),
                         output_tokens=int(record.get("output_tokens", 0) or 0), extra={"cache_key": req.key})

    # -- the run ----------------------------------------------------------------------------------

    def narrate(self, samples: list[SampleContext]) -> list[Narrative]:
        """One narrative per sample, in order (see the class docstring for failures and the cache)."""
        start = time.perf_counter()
        self.stats = self._empty_stats()
        self._abort.clear()
        samples = list(samples)
        results: list[Narrative | None] = [None] * len(samples)
        errors: dict[int, str] = {}  # position -> scrubbed error
        fatal: str | None = None
        futures: dict[Future, _Request] = {}
        pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="openai-narrator")
        bar = tqdm(total=len(samples), desc=f"narrate (openai {self.model}, {self.mode})", unit="sample",
                   disable=not self.show_progress)
        try:
            for i, sample in enumerate(samples):
                if self._abort.is_set():
                    break
                req = self._build_request(sample, i)
                record = self.cache.get(req.key)
                if record is not None:
                    results[i] = self._from_cache(req, record)
                    self._count(cache_hits=1)
                    bar.update(1)
                    continue
                fut = pool.submit(self._ask, req)
                fut.add_done_callback(lambda _f: bar.update(1))
                futures[fut] = req
            wait_futures(list(futures))
        except BaseException:
            self._abort.set()
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
            raise
        pool.shutdown(wait=True)
        bar.close()

        for fut, req in futures.items():
            if fut.cancelled():
                continue
            exc = fut.exception()
            if exc is None:
                results[req.index] = fut.result()
            elif isinstance(exc, _Fatal):
                fatal = fatal or str(exc)
                errors[req.index] = self._scrub(str(exc))
            else:
                errors[req.index] = self._error_text(exc)
        self._count(failures=len(errors))
        if fatal is not None:
            self._finish(start, len(samples))
            raise NarrationError({samples[i].sample_id: e for i, e in errors.items()}, total=len(samples),
                                 fatal=self._scrub(fatal)) from None
        if errors:
            for i in sorted(errors):
                logger.warning("openai narrator: sample %s failed after %d attempts: %s", samples[i].sample_id,
                               self.max_attempts, errors[i])
            if self.on_failure == "raise":
                self._finish(start, len(samples))
                raise NarrationError({samples[i].sample_id: e for i, e in errors.items()},
                                     total=len(samples)) from None
            failed = sorted(errors)
            assert self.fallback is not None
            replacements = self.fallback.narrate([samples[i] for i in failed])
            if len(replacements) != len(failed):
                raise RuntimeError("the fallback narrator returned a wrong number of narratives")
            for i, n in zip(failed, replacements, strict=True):
                n.fallback = True
                n.error = errors[i]
                results[i] = n
            self._count(fallbacks=len(failed))
        self._finish(start, len(samples))
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _finish(self, start: float, n: int) -> None:
        s = self.stats
        s["estimated_cost"] = (s["input_tokens"] / 1000.0 * self.price_per_1k_input
                               + s["output_tokens"] / 1000.0 * self.price_per_1k_output)
        s["seconds"] = time.perf_counter() - start
        logger.info("openai narrator (%s): %d samples in %.1f s: %d from cache, %d requests (%d retries), "
                    "%d failed, %d fell back; tokens in %d, out %d; estimated cost %.4f",
                    self.model, n, s["seconds"], s["cache_hits"], s["requests"], s["retries"], s["failures"],
                    s["fallbacks"], s["input_tokens"], s["output_tokens"], s["estimated_cost"])

