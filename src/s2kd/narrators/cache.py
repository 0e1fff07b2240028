"""An on-disk cache of narratives: one small JSON file per answer, written the moment it arrives.

The key is the sha256 of what produced the answer (the image or diagnostics bytes, the full prompt
text, the model), so an interrupted run resumes without asking twice, and a changed prompt or model
asks again. Files live under ``directory/<key[:2]>/<key>.json`` and are written atomically (a
temporary file in the same folder, then ``os.replace``), so a killed process leaves either the whole
record or none. A corrupt or truncated file reads as a miss (logged) and is overwritten by the next
answer.

A record holds the text, the model, token usage and the time it was written. It must never hold
credentials or HTTP headers: :meth:`NarrativeCache.put` refuses records with such keys.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: record keys that could hold credentials; :meth:`NarrativeCache.put` refuses them
FORBIDDEN_KEYS = frozenset({"api_key", "apikey", "key", "authorization", "headers", "header", "credentials",
                            "token", "secret", "password"})


class NarrativeCache:
    """Narratives on disk, one JSON file per key.

    Args:
        directory: the cache folder (created when missing).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(*parts: str | bytes) -> str:
        """The sha256 (64 hex digits) of the parts (bytes or text), each followed by a separator."""
        h = hashlib.sha256()
        for p in parts:
            b = p if isinstance(p, bytes) else str(p).encode()
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
        return h.hexdigest()

    def path(self, key: str) -> Path:
        """Where the record of ``key`` lives."""
        if len(key) < 3 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of ``key``, or ``None`` when absent, unreadable or corrupt (logged)."""
        path = self.path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("narrative cache: cannot read %s (%s); treating it as a miss", path, type(exc).__name__)
            return None
        try:
            record = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            logger.warning("narrative cache: %s is corrupt or truncated (%d bytes); treating it as a miss, it will be "
                           "overwritten", path, len(raw))
            return None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            logger.warning("narrative cache: %s holds no narrative text; treating it as a miss", path)
            return None
        return record

    def put(self, key: str, record: dict[str, Any]) -> Path:
        """Write ``record`` for ``key`` atomically; adds ``created`` (UNIX time) when missing.

        Raises:
            ValueError: the record has a key that could hold credentials (see :data:`FORBIDDEN_KEYS`)
                or no ``text``.
        """
        bad = sorted(k for k in record if str(k).lower() in FORBIDDEN_KEYS)
        if bad:
            raise ValueError(f"a narrative cache record must not hold {bad}")
        if not isinstance(record.get("text"), str):
            raise ValueError("a narrative cache record needs a 'text' string")
        record = {**record, "created": record.get("created", time.time())}
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return path

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("??/*.json"))
