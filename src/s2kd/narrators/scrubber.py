"""Keeps API keys out of the logs: a logging filter that replaces registered secrets by ``***``.

:func:`protect_loggers` registers a key and puts the one shared filter on every logger of the HTTP
clients (``openai``, ``httpx``, ``httpx2``, ``httpcore``, ``httpcore2`` and their children) and of
``s2kd.narrators``. A logger's filter only sees the records logged on that very logger (not those
its children propagate), hence the filter on each logger that exists, called again whenever a
client may have created new ones.
"""

from __future__ import annotations

import logging
import threading

_LOGGER_PREFIXES = ("openai", "httpx", "httpx2", "httpcore", "httpcore2")


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


def protect_loggers(secret: str) -> None:
    """Register ``secret`` with the scrubbing filter on every HTTP-client logger (and the narrators')."""
    with _SCRUBBER_LOCK:
        _SCRUBBER.secrets.add(secret)
        names = {name for name in logging.Logger.manager.loggerDict
                 if name.split(".")[0] in _LOGGER_PREFIXES or name.startswith("s2kd.narrators")}
        names.update(_LOGGER_PREFIXES)
        names.add("s2kd.narrators.openai_narrator")
        for name in names:
            log = logging.getLogger(name)
            if _SCRUBBER not in log.filters:
                log.addFilter(_SCRUBBER)
