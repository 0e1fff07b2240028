"""What can go wrong with a chat-completions endpoint, and which failures are worth another attempt.

- :class:`NarrationError`: the run's verdict, raised after every sample was tried (or the endpoint
  refused the run); it lists the failed sample ids and their last errors.
- :class:`MalformedAnswerError`: an answer without a usable narrative (retried).
- :class:`RunRefused`: 401/403/404, the key, the permissions or the model are wrong (never retried:
  the whole run stops).
- :func:`is_retryable` (429, 5xx, 408, timeouts, connection errors, malformed answers) and
  :func:`retry_after` (the server's ``Retry-After``).
"""

from __future__ import annotations

import openai

#: HTTP statuses after which the whole run stops: the key, the permissions or the model are wrong
FATAL_STATUSES = (401, 403, 404)
#: how many per-sample errors a :class:`NarrationError` message spells out
MAX_ERRORS_SHOWN = 20


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


class RunRefused(RuntimeError):
    """A run-level refusal (401/403/404), or a stopped run: no point in asking again for any sample."""


def retry_after(exc: BaseException | None) -> float | None:
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


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt may succeed: 429, 5xx, 408, timeouts, connection errors, malformed answers."""
    if isinstance(exc, (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError,
                        MalformedAnswerError)):
        return True  # APITimeoutError is an APIConnectionError
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500 or exc.status_code == 408
    return False
