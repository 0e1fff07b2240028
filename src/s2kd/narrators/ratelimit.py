"""A blocking, thread-safe request-rate limit that spaces requests evenly.

:class:`RateLimiter` gives each caller the next free start slot, ``max(now, previous slot +
60 / per_minute)``, reserved under a lock, and lets it wait until then: every request (a first try
or a retry) starts at least ``60 / per_minute`` seconds after the one before, whichever thread sends
it. Idle time earns no credit, so requests never go out in a burst (after a long ``Retry-After``
wait, say): the limit holds over any window, not only on average.

Hand-written rather than taken from a library: ``limits`` only answers "allowed now?" (no blocking
acquire) and ``pyrate-limiter`` counts requests per window (bursts up to the window's quota) with a
sleep that an abort cannot cut short, while the even spacing, the abort and an injectable clock take
these few lines.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from s2kd.errors import ParameterError


class RateLimiter:
    """At most ``per_minute`` starts a minute, evenly spaced, shared by every thread that calls :meth:`acquire`.

    Args:
        per_minute: the rate (a number > 0), or ``None`` for no limit.
        clock: the monotonic time source, in seconds.
        sleep: how to wait a number of seconds when :meth:`acquire` gets no ``abort`` event (tests
            pass a fake that advances a fake clock); with an ``abort`` event and no ``sleep`` given,
            the wait is ``abort.wait(seconds)`` so that setting the event ends it at once.
        where: the parameter's name in error messages.

    Attributes:
        interval: seconds between two starts (0 without a limit).
    """

    def __init__(self, per_minute: float | None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] | None = None,
                 where: str = "narrate.openai.requests_per_minute") -> None:
        if per_minute is not None and (isinstance(per_minute, bool) or not isinstance(per_minute, (int, float))
                                       or not math.isfinite(per_minute) or per_minute <= 0):
            raise ParameterError(where, f"is {per_minute!r}", "use a number > 0 (requests per minute), or null "
                                 "for no limit")
        self.per_minute = None if per_minute is None else float(per_minute)
        self.interval = 0.0 if per_minute is None else 60.0 / float(per_minute)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = -math.inf  # the earliest start of the next request

    def __repr__(self) -> str:
        return f"RateLimiter(per_minute={self.per_minute})"

    def reserve(self) -> float:
        """Reserve the next free start slot (a ``clock()`` time) and return it; it does not wait."""
        with self._lock:
            slot = max(self._clock(), self._next)
            self._next = slot + self.interval
            return slot

    def acquire(self, abort: threading.Event | None = None) -> bool:
        """Wait for this caller's slot; ``False`` (at once) when ``abort`` is or becomes set, else ``True``."""
        if abort is not None and abort.is_set():
            return False
        if self.per_minute is None:
            return True
        slot = self.reserve()
        while True:
            delay = slot - self._clock()
            if delay <= 0:
                return abort is None or not abort.is_set()
            if self._sleep is not None:
                self._sleep(delay)
                if abort is not None and abort.is_set():
                    return False
            elif abort is not None:
                if abort.wait(delay):
                    return False
            else:
                time.sleep(delay)
