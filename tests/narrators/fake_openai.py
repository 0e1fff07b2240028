"""A local OpenAI-compatible chat-completions server for tests (127.0.0.1 only, no internet).

``FakeOpenAIServer`` runs a ``ThreadingHTTPServer`` on a free port in a daemon thread and answers
``POST /v1/chat/completions``. It records every request (JSON body, headers without
``Authorization``, whether the bearer key was present and equal to the expected one, its arrival
and answer times), counts requests and the most requests in flight at once (with a log of the
in-flight count over time), and answers with a canned text (a function of the request) or an
injected fault:

- ``"429"``: HTTP 429 with ``Retry-After: 0``;
- ``"500"``: HTTP 500;
- ``"hang"``: sleep ``hang_s`` (at most 5 s, cut short when the server stops) before answering,
  longer than the client's timeout;
- ``"malformed"``: HTTP 200 with a body that is not JSON;
- ``"empty_choices"``: HTTP 200 with ``"choices": []``;
- ``"no_content"``: HTTP 200 whose message has ``content: null``;
- ``"401"``: HTTP 401 (a wrong key), its message echoing the ``Authorization`` header as some
  servers do;
- ``"500_echo"``: HTTP 500 whose message echoes the ``Authorization`` header (to check that
  clients scrub credentials from error texts).

Faults come from a scripted queue (``faults``, one per request, in arrival order; ``None`` for a
normal answer) and, once the queue is empty, from ``rule(body, index)``. The server only answers:
it never sends anything on its own, and stops cleanly on exit.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)

FAULTS = ("429", "500", "500_echo", "hang", "malformed", "empty_choices", "no_content", "401")
MAX_HANG_S = 5.0


def prompt_of(body: dict[str, Any]) -> str:
    """The text of the last user message of a chat-completions request body."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return "\n".join(p.get("text", "") for p in content or [] if p.get("type") == "text")
    return ""


def system_of(body: dict[str, Any]) -> str:
    """The system message of a request body ('' when none)."""
    for message in body.get("messages", []):
        if message.get("role") == "system":
            return message.get("content") or ""
    return ""


def images_of(body: dict[str, Any]) -> list[bytes]:
    """The decoded images (``data:`` URLs) of the last user message, in order."""
    out = []
    for message in body.get("messages", []):
        content = message.get("content")
        if message.get("role") != "user" or isinstance(content, str):
            continue
        for part in content or []:
            if part.get("type") == "image_url":
                url = part["image_url"]["url"]
                head, _, data = url.partition(",")
                assert head.startswith("data:image/png;base64"), head[:40]
                out.append(base64.b64decode(data))
    return out


def image_hashes(body: dict[str, Any]) -> list[str]:
    """sha256 of each image of a request body."""
    return [hashlib.sha256(b).hexdigest() for b in images_of(body)]


def default_answer(body: dict[str, Any]) -> str:
    """``Narrative for <first 30 characters of the prompt>``."""
    return f"Narrative for {prompt_of(body)[:30]}"


class FakeOpenAIServer:
    """An OpenAI-compatible server on ``127.0.0.1`` for the duration of a ``with`` block.

    Args:
        api_key: the bearer key requests should carry (``auth_ok`` in each record).
        answer: the answer text as a function of the request body.
        faults: scripted faults, consumed one per request in arrival order (``None``: answer).
        rule: a per-request fault ``rule(body, index) -> fault | None``, used once ``faults`` is empty.
        delay_s: a delay before every answer (seconds).
        hang_s: how long a ``"hang"`` fault sleeps (capped at 5 s).

    Attributes:
        base_url: ``http://127.0.0.1:<port>/v1``.
        requests: one record per request: ``index``, ``body``, ``headers`` (no ``Authorization``),
            ``auth_present``, ``auth_ok``, ``fault``, ``status``, ``time`` (arrival, ``time.monotonic()``),
            ``end`` (when the answer was sent; ``None`` until then).
        max_in_flight: the most requests handled at once.
        in_flight_log: ``(time.monotonic(), requests in flight)`` after every arrival and answer, in order.
        answered: requests answered with a narrative (HTTP 200 and a text).
    """

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        answer: Callable[[dict[str, Any]], str] = default_answer,
        faults: Iterable[str | None] = (),
        rule: Callable[[dict[str, Any], int], str | None] | None = None,
        delay_s: float = 0.0,
        hang_s: float = 1.0,
    ) -> None:
        for f in faults:
            if f is not None and f not in FAULTS:
                raise ValueError(f"unknown fault {f!r}; use one of {FAULTS}")
        self.api_key = api_key
        self.answer = answer
        self.faults: deque[str | None] = deque(faults)
        self.rule = rule
        self.delay_s = float(delay_s)
        self.hang_s = min(float(hang_s), MAX_HANG_S)
        self.requests: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self.in_flight = 0
        self.in_flight_log: list[tuple[float, int]] = []
        self.answered = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- bookkeeping ------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Requests received so far."""
        with self._lock:
            return len(self.requests)

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r["body"] for r in self.requests]

    def arrivals(self) -> list[float]:
        """The arrival time (``time.monotonic()``) of every request, in arrival order."""
        with self._lock:
            return [r["time"] for r in self.requests]

    def push(self, *faults: str | None) -> None:
        """Append scripted faults."""
        with self._lock:
            self.faults.extend(faults)

    def _begin(self, body: dict[str, Any], headers: dict[str, str], auth: str | None) -> dict[str, Any]:
        with self._lock:
            index = len(self.requests)
            fault = self.faults.popleft() if self.faults else None
            record = {"index": index, "body": body, "headers": headers, "auth_present": auth is not None,
                      "auth_ok": auth == f"Bearer {self.api_key}", "fault": fault, "status": None,
                      "time": time.monotonic(), "end": None}
            self.requests.append(record)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.in_flight_log.append((record["time"], self.in_flight))
        if fault is None and self.rule is not None:
            fault = self.rule(body, index)
            record["fault"] = fault
        return record

    def _end(self, record: dict[str, Any], status: int, answered: bool) -> None:
        with self._lock:
            self.in_flight -= 1
            record["status"] = status
            record["end"] = time.monotonic()
            self.in_flight_log.append((record["end"], self.in_flight))
            if answered:
                self.answered += 1

    # -- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> FakeOpenAIServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 5  # idle keep-alive connections end on their own

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                logger.debug("fake openai: " + format, *args)

            def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError, OSError):
                    self.close_connection = True  # the client gave up (e.g. its timeout)

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    self._send(400, b'{"error": {"message": "bad json"}}')
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
                record = owner._begin(body, headers, self.headers.get("Authorization"))
                status, answered = 500, False
                try:
                    if owner.delay_s:
                        owner._stop.wait(owner.delay_s)
                    status, answered = self._respond(record["fault"], body, record["index"],
                                                     self.headers.get("Authorization") or "")
                finally:
                    owner._end(record, status, answered)

            def _respond(self, fault: str | None, body: dict[str, Any], index: int, auth: str) -> tuple[int, bool]:
                if fault == "429":
                    self._send(429, b'{"error": {"message": "rate limited", "type": "rate_limit"}}',
                               {"Retry-After": "0"})
                    return 429, False
                if fault == "500":
                    self._send(500, b'{"error": {"message": "server error", "type": "server_error"}}')
                    return 500, False
                if fault == "500_echo":
                    msg = {"error": {"message": f"server error while serving {auth}", "type": "server_error"}}
                    self._send(500, json.dumps(msg).encode())
                    return 500, False
                if fault == "401":
                    msg = {"error": {"message": f"Incorrect API key provided: {auth}", "type": "invalid_request_error"}}
                    self._send(401, json.dumps(msg).encode())
                    return 401, False
                if fault == "hang":
                    owner._stop.wait(owner.hang_s)
                if fault == "malformed":
                    self._send(200, b'{"id": "x", "choices": [{"message": ')
                    return 200, False
                text = owner.answer(body)
                choices: list[dict[str, Any]] = [{
                    "index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": None if fault == "no_content" else text},
                }]
                if fault == "empty_choices":
                    choices = []
                prompt_tokens = len(prompt_of(body)) // 4 + 85 * len(images_of(body))
                completion_tokens = len(text) // 4 + 1
                payload = {
                    "id": f"chatcmpl-{index}", "object": "chat.completion", "created": 0,
                    "model": body.get("model", ""), "choices": choices,
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                              "total_tokens": prompt_tokens + completion_tokens},
                }
                self._send(200, json.dumps(payload).encode())
                ok = fault not in ("empty_choices", "no_content", "hang")
                return 200, ok

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
