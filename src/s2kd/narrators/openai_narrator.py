"""The ``openai`` narrator: any OpenAI-compatible chat-completions endpoint writes the narratives.

Works with OpenAI, vLLM, Ollama, the llama.cpp server, DeepSeek and anything else that speaks the
chat-completions API, through the ``openai`` client. Each sample's input frames are rendered to one
PNG (:func:`s2kd.narrators.render.render_window`) and sent with its calendar metadata
(:func:`s2kd.narrators.prompt.format_metadata`) and a prompt template; a model without vision
(``vision=False``) gets the describer's diagnostics as text instead. In ``hindsight`` mode the
target frames go along as a second PNG. Its options are :class:`~s2kd.narrators.params.OpenAIOptions`.

Every answer is written to an on-disk cache (:class:`~s2kd.narrators.cache.NarrativeCache`) the
moment it arrives, keyed by a hash of (image or diagnostics, full prompt text, model): a cache hit
sends no request, so an interrupted run resumes without paying twice, while a changed prompt or
model asks again.

Requests run on a bounded thread pool (``max_concurrency``), spaced evenly to at most
``requests_per_minute`` HTTP requests a minute, retries included
(:class:`~s2kd.narrators.ratelimit.RateLimiter`), with our own retries (tenacity: exponential
backoff with jitter, ``Retry-After`` honoured up to ``backoff_max_s``) on 429, 5xx, timeouts,
connection errors and malformed answers (:mod:`~s2kd.narrators.endpoint_errors`). Token usage and
an estimated cost are logged and kept in ``stats``.

The API key never appears in logs (:mod:`~s2kd.narrators.scrubber` scrubs it from the
``openai``/``httpx2``/``httpcore2`` loggers too), in the cache, in :attr:`Narrative.error` or in
raised exceptions.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import openai
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tqdm.auto import tqdm

from s2kd.errors import InputError, ParameterError
from s2kd.narrators.base import Narrative, Narrator, SampleContext, check_mode, text_hash
from s2kd.narrators.cache import NarrativeCache
from s2kd.narrators.endpoint_errors import (
    FATAL_STATUSES,
    MalformedAnswerError,
    NarrationError,
    RunRefused,
    is_retryable,
    retry_after,
)
from s2kd.narrators.params import OpenAIOptions
from s2kd.narrators.prompt import check_prompts, format_metadata, mode_instruction
from s2kd.narrators.ratelimit import RateLimiter
from s2kd.narrators.render import render_targets, render_window, value_range
from s2kd.narrators.scrubber import protect_loggers

logger = logging.getLogger(__name__)


class Describer(Protocol):
    def describe(self, sample: SampleContext) -> str: ...


@dataclass
class _Request:
    index: int
    sample: SampleContext
    key: str
    messages: list[dict[str, Any]]


def _need(ok: bool, name: str, problem: str, fix: str) -> None:
    if not ok:
        raise ParameterError(f"narrate.openai.{name}", problem, fix)


class OpenAINarrator:
    """Narratives from an OpenAI-compatible chat-completions endpoint, cached on disk.

    Args:
        options: the ``narrate.openai`` options (an :class:`~s2kd.narrators.params.OpenAIOptions`, or
            a mapping it is built from).
        mode: ``context`` (input window only) or ``hindsight`` (the target frames go along).
        api_key: the key (a string, or an object with ``get()`` such as
            :class:`s2kd.datasets.secret.Secret`). Required: local servers that need no key
            (vLLM, Ollama, llama.cpp) accept any non-empty string, e.g. ``"local"``.
        system_prompt: the system message ('' for none).
        user_prompt: a ``str.format`` template with the fields ``{metadata}`` (see
            :func:`~s2kd.narrators.prompt.format_metadata`), ``{diagnostics}`` (the describer's text
            when ``vision`` is ``False`` or a describer is given, else '') and ``{mode_instruction}``.
        describer: an object with ``describe(sample) -> str`` (the diagnostic narrator);
            required when ``options.vision`` is ``False``.
        fallback: a :class:`Narrator` for the samples that fail (``on_failure="fallback"``).

    A 401, 403 or 404 answer (wrong key, no access, unknown model) stops the whole run with a
    :class:`NarrationError`, whatever ``on_failure`` says: every other request would fail the same way.

    Raises:
        ParameterError: no API key; ``mode`` unknown; a prompt template that is not one; ``on_failure:
            fallback`` without a fallback; ``vision: false`` without a describer or ``{diagnostics}``.

    Attributes:
        stats: after :meth:`narrate`: ``requests`` (HTTP attempts sent), ``cache_hits``,
            ``failures``, ``fallbacks``, ``retries``, ``input_tokens``, ``output_tokens``,
            ``estimated_cost`` and ``seconds``.
    """

    name = "openai"

    def __init__(
        self,
        options: OpenAIOptions | Mapping[str, Any],
        *,
        mode: str,
        api_key: Any,
        system_prompt: str,
        user_prompt: str,
        describer: Describer | None = None,
        fallback: Narrator | None = None,
    ) -> None:
        if api_key is not None and not isinstance(api_key, str) and callable(getattr(api_key, "get", None)):
            api_key = api_key.get()
        if not isinstance(api_key, str) or not api_key.strip():
            raise ParameterError(
                "narrate.openai credentials", "no API key was given for the openai narrator",
                fix="put api_key under openai_narrator in conf/local/credentials.yml or export OPENAI_API_KEY")
        self._api_key = api_key
        protect_loggers(api_key)

        o = options if isinstance(options, OpenAIOptions) else OpenAIOptions.model_validate(options)
        check_mode(mode)
        _need(o.on_failure != "fallback" or callable(getattr(fallback, "narrate", None)), "fallback",
              "on_failure is 'fallback' but no fallback narrator was given", "give one, or set on_failure: raise")
        _need(o.vision or callable(getattr(describer, "describe", None)), "vision",
              "is false but no describer was given (a model without vision needs the diagnostics as text)",
              "give a describer, or set vision: true")
        _need(describer is None or callable(getattr(describer, "describe", None)), "describer",
              "has no describe(sample) method", "pass the diagnostic narrator")
        check_prompts(system_prompt, user_prompt, vision=o.vision)

        self.options = o
        self.model = o.model
        self.mode = mode
        self.system_prompt = system_prompt
        self.user_prompt = user_prompt
        self.describer = describer
        self.fallback = fallback
        self.cache = NarrativeCache(o.cache_dir)
        kwargs: dict[str, Any] = {"api_key": api_key, "timeout": o.timeout_s, "max_retries": 0}
        if o.base_url is not None:
            kwargs["base_url"] = o.base_url
        self._client = openai.OpenAI(**kwargs)
        protect_loggers(api_key)  # loggers the client created
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._limiter = RateLimiter(o.requests_per_minute)
        self._backoff = wait_exponential_jitter(multiplier=o.backoff_initial_s or 1e-3, max=o.backoff_max_s,
                                                jitter=max(o.backoff_initial_s, 1e-3))
        self.stats: dict[str, Any] = self._empty_stats()

    def __repr__(self) -> str:
        return (f"OpenAINarrator(base_url={self.options.base_url!r}, model={self.model!r}, mode={self.mode!r}, "
                f"vision={self.options.vision}, api_key='***')")

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

    def _build_request(self, sample: SampleContext, index: int = 0) -> _Request:
        """The chat messages and cache key of one sample (renders the PNGs)."""
        o = self.options
        diagnostics = ""
        if self.describer is not None:
            diagnostics = str(self.describer.describe(sample))
        text = self.user_prompt.format(metadata=format_metadata(sample, self.mode), diagnostics=diagnostics,
                                       mode_instruction=mode_instruction(self.mode, o.vision))
        messages: list[dict[str, Any]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        if o.vision:
            n_c = sample.inputs.shape[1] if np.ndim(sample.inputs) == 4 else 0
            if not o.channel < n_c:
                raise InputError(f"sample {sample.sample_id}", f"has {n_c} channels, channel {o.channel} was "
                                 "asked for", "set narrate.openai.channel to an existing channel")
            if self.mode == "hindsight":
                if sample.targets is None:
                    raise InputError(f"sample {sample.sample_id}", "hindsight mode needs the target frames, the "
                                     "sample has none", "build hindsight samples with their targets")
                vr = value_range(sample.inputs[:, o.channel], sample.targets[:, o.channel])
                pngs = [render_window(sample, channel=o.channel, dpi=o.dpi, vrange=vr),
                        render_targets(sample, channel=o.channel, dpi=o.dpi, vrange=vr)]
            else:
                pngs = [render_window(sample, channel=o.channel, dpi=o.dpi)]
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
        after = retry_after(exc)
        if after is not None:
            return min(after, self.options.backoff_max_s)
        return float(self._backoff(state))

    def _before_sleep(self, state: RetryCallState) -> None:
        self._count(retries=1)
        exc = state.outcome.exception() if state.outcome is not None else None
        sample_id = state.args[0].sample.sample_id if state.args else "?"
        logger.info("openai narrator: sample %s, attempt %d of %d failed (%s); retrying in %.2f s", sample_id,
                    state.attempt_number, self.options.max_attempts, self._error_text(exc) if exc else "?",
                    state.next_action.sleep if state.next_action else 0.0)

    def _attempt(self, req: _Request) -> tuple[str, int, int, str]:
        if not self._limiter.acquire(self._abort):  # every attempt, retries too, waits for its slot
            raise RunRefused("the run was stopped")
        self._count(requests=1)
        try:
            response = self._client.chat.completions.create(
                model=self.model, messages=req.messages, temperature=self.options.temperature,
                max_tokens=self.options.max_tokens)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedAnswerError(f"the answer is not valid JSON ({type(exc).__name__})") from None
        except openai.APIStatusError as exc:
            if exc.status_code in FATAL_STATUSES:
                self._abort.set()
                raise RunRefused(self._error_text(exc)) from None
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
            stop=stop_after_attempt(self.options.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: is_retryable(e) and not self._abort.is_set()),
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
        pool = ThreadPoolExecutor(max_workers=self.options.max_concurrency, thread_name_prefix="openai-narrator")
        bar = tqdm(total=len(samples), desc=f"narrate (openai {self.model}, {self.mode})", unit="sample",
                   disable=not self.options.show_progress)
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
            elif isinstance(exc, RunRefused):
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
                               self.options.max_attempts, errors[i])
            if self.options.on_failure == "raise":
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
        s["estimated_cost"] = (s["input_tokens"] / 1000.0 * self.options.price_per_1k_input
                               + s["output_tokens"] / 1000.0 * self.options.price_per_1k_output)
        s["seconds"] = time.perf_counter() - start
        logger.info("openai narrator (%s): %d samples in %.1f s: %d from cache, %d requests (%d retries), "
                    "%d failed, %d fell back; tokens in %d, out %d; estimated cost %.4f",
                    self.model, n, s["seconds"], s["cache_hits"], s["requests"], s["retries"], s["failures"],
                    s["fallbacks"], s["input_tokens"], s["output_tokens"], s["estimated_cost"])
