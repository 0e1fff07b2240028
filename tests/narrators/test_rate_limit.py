"""The request-rate limit of the ``openai`` narrator and the checks of its options (``OpenAIOptions``).

Unit tests of :class:`~s2kd.narrators.ratelimit.RateLimiter` run on a fake clock (no sleeping).
The end-to-end tests narrate against the local OpenAI-compatible server and check the limit twice:
exactly on the client's side (every HTTP attempt took a slot, slots one interval apart, none let go
early), and as the server sees it (arrival spacing, achieved rate, requests in flight), with
tolerances only for the noise of a loaded machine: strict on "never faster than the limit",
generous on "not much slower".
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s2kd.errors import ParameterError
from s2kd.narrators import openai_narrator
from s2kd.narrators.base import Grid, SampleContext
from s2kd.narrators.endpoint_errors import NarrationError
from s2kd.narrators.openai_narrator import OpenAINarrator
from s2kd.narrators.params import NarrateParams, OpenAIOptions
from s2kd.narrators.ratelimit import RateLimiter
from tests.helpers import load_conf
from tests.narrators.fake_openai import FakeOpenAIServer

logger = logging.getLogger(__name__)

KEY = "sk-test-rate-limit"
USER = "Metadata:\n{metadata}\nDiagnostics: {diagnostics}\n{mode_instruction}"
GRID = Grid(kind="latlon", channels=("air",), units={"air": "K"}, step=pd.Timedelta("6h"),
            lat=np.linspace(60.0, 20.0, 5), lon=np.linspace(200.0, 300.0, 8))
#: how late an arrival stamp may be from the HTTP transit alone (the request's build, the socket, the
#: in-process server's thread): a few ms on an idle machine, more on a loaded one
JITTER_S = 0.04
#: how late one stamp may be when a thread stalls behind others for a core (seen up to 0.18 s with
#: two busy processes beside the tests on 2 cores); it does not add up over a window of requests
STALL_S = 0.25


class FakeClock:
    """A shared clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class RecordingLimiter(RateLimiter):
    """A :class:`RateLimiter` that records, per request, its reserved slot and when it was let go."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.released: list[tuple[float, float]] = []  # (slot, clock() when acquire returned True)
        self._mine = threading.local()
        self._record = threading.Lock()

    def reserve(self) -> float:
        self._mine.slot = super().reserve()
        return self._mine.slot

    def acquire(self, abort: threading.Event | None = None) -> bool:
        ok = super().acquire(abort)
        if ok:
            now = self._clock()
            with self._record:
                self.released.append((self._mine.slot, now))
        return ok


class StubDescriber:
    def describe(self, sample: SampleContext) -> str:
        return f"DIAG sample {sample.sample_id}"


def make_samples(n: int) -> list[SampleContext]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        times = pd.date_range("2021-01-01", periods=4, freq="6h") + pd.Timedelta(hours=6 * i)
        out.append(SampleContext(sample_id=i, split="train", inputs=rng.random((4, 1, 5, 8)).astype(np.float32),
                                 input_times=times, metadata={"sample_id": i, "tag": f"S{i:03d}"}, grid=GRID))
    return out


@pytest.fixture
def quiet(caplog):
    """No per-request INFO records: kedro's rich console handler formats each one in the worker threads,
    and on a loaded machine that delays requests by more than the spacing being measured."""
    for name in ("openai", "httpx", "httpx2", "httpcore", "httpcore2", "s2kd.narrators"):
        caplog.set_level(logging.WARNING, logger=name)


def make_narrator(server: FakeOpenAIServer, cache_dir: Path, **kw) -> OpenAINarrator:
    """A text-only narrator (no PNG rendering: the submit loop is never the bottleneck); ``kw``: options."""
    options = dict(base_url=server.base_url, model="rate-test", cache_dir=cache_dir, vision=False, timeout_s=5.0,
                   max_attempts=4, backoff_initial_s=0.01, backoff_max_s=0.05, show_progress=False)
    options.update(kw)
    return OpenAINarrator(OpenAIOptions.model_validate(options), mode="context", api_key=KEY, system_prompt="",
                          user_prompt=USER, describer=StubDescriber())


def warm_up(narrator: OpenAINarrator, server: FakeOpenAIServer) -> int:
    """One request first, so that the client's lazy set-up (imports, first connection) delays no measured one.

    Returns how many requests the server had seen by then (the measured ones come after).
    """
    warm = make_samples(1)[0]
    narrator.narrate([SampleContext(sample_id=-1, split="train", inputs=warm.inputs, input_times=warm.input_times,
                                    metadata={"sample_id": -1, "tag": "WARM"}, grid=GRID)])
    return server.count


def check_limiter(limiter: RecordingLimiter, n_requests: int, rpm: float) -> None:
    """Exact, whatever the load: every HTTP attempt took a slot, slots are 60/rpm apart, none left early."""
    assert len(limiter.released) == n_requests
    slots = sorted(slot for slot, _ in limiter.released)
    assert np.diff(slots).min() >= 60.0 / rpm - 1e-9
    assert all(now >= slot for slot, now in limiter.released)


def check_rate(arrivals: list[float], rpm: float) -> float:
    """The limit as the server sees it, less the noise of a loaded machine; return the achieved rate a minute.

    Requests are never faster than ``rpm``: nearly every gap is one interval (a stalled request may
    arrive late and close to the next one, hence the 10 %), and any window of m requests spans m
    intervals less at most one stall. They sustain it: the achieved rate is not far below ``rpm``.
    """
    interval = 60.0 / rpm
    gaps = np.diff(arrivals)
    assert np.median(gaps) == pytest.approx(interval, rel=0.05), gaps
    assert np.mean(gaps >= interval - JITTER_S) >= 0.9, gaps
    for m in range(1, len(arrivals)):
        spans = [arrivals[k + m] - arrivals[k] for k in range(len(arrivals) - m)]
        assert min(spans) >= m * interval - STALL_S, (m, min(spans))
    achieved = 60.0 * (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert rpm * 0.85 <= achieved <= rpm * (len(arrivals) - 1) * interval / ((len(arrivals) - 1) * interval - STALL_S)
    return achieved


# -- the limiter, on a fake clock --------------------------------------------------------------------


def test_requests_are_spaced_evenly():
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock, sleep=clock.sleep)
    assert limiter.interval == pytest.approx(0.1)
    starts = []
    for _ in range(5):
        assert limiter.acquire() is True
        starts.append(clock())
    assert starts == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    clock.now += 0.25  # a caller that comes late waits only for what is left of its slot
    assert limiter.acquire() and clock() == pytest.approx(0.65)
    assert limiter.acquire() and clock() == pytest.approx(0.75)


def test_idle_time_earns_no_burst():
    """After a long pause (a Retry-After wait, say) requests go out spaced again, not all at once."""
    clock = FakeClock()
    limiter = RateLimiter(120, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 30.0
    starts = []
    for _ in range(4):
        limiter.acquire()
        starts.append(clock())
    assert starts == pytest.approx([30.0, 30.5, 31.0, 31.5])


def test_no_limit_never_waits():
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)
    assert limiter.interval == 0.0
    assert all(limiter.acquire() for _ in range(1000))
    assert clock.sleeps == [] and clock() == 0.0


def test_threads_share_one_schedule():
    """Slots reserved from many threads at once are distinct and exactly one interval apart."""
    local = threading.local()

    def clock() -> float:  # each thread lives on its own fake time line
        return getattr(local, "now", 0.0)

    def sleep(seconds: float) -> None:
        local.now = clock() + seconds

    limiter = RateLimiter(600, clock=clock, sleep=sleep)
    starts: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(25):
            assert limiter.acquire()
            with lock:
                starts.append(clock())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(starts) == 200
    assert sorted(starts) == pytest.approx([0.1 * k for k in range(200)])


@pytest.mark.parametrize("bad", [0, -1, 0.0, "60", True, math.nan, math.inf, [60]])
def test_bad_rates_are_rejected(bad):
    with pytest.raises(ParameterError) as info:
        RateLimiter(bad)
    assert info.value.where == "narrate.openai.requests_per_minute"


def test_an_abort_ends_the_wait_at_once():
    abort = threading.Event()
    limiter = RateLimiter(1)  # one request a minute: the second would wait 60 s
    assert limiter.acquire(abort)
    threading.Timer(0.1, abort.set).start()
    start = time.monotonic()
    assert limiter.acquire(abort) is False
    assert time.monotonic() - start < 2.0
    assert limiter.acquire(abort) is False  # already set: no wait, no slot taken

    clock = FakeClock()
    abort = threading.Event()
    limiter = RateLimiter(60, clock=clock, sleep=lambda s: (clock.sleep(s / 2), abort.set()))
    assert limiter.acquire(abort) and not limiter.acquire(abort)


# -- end to end, against the local server ----------------------------------------------------------


def test_narration_sustains_the_rate_with_bounded_concurrency(tmp_path, monkeypatch, quiet):
    monkeypatch.setattr(openai_narrator, "RateLimiter", RecordingLimiter)
    rpm, n, concurrency = 600.0, 30, 4  # 0.1 s apart: 30 requests take >= 2.9 s
    with FakeOpenAIServer(api_key=KEY, delay_s=0.25) as server:  # each answer takes 2.5 spacings
        narrator = make_narrator(server, tmp_path / "cache", max_concurrency=concurrency, requests_per_minute=rpm)
        skip = warm_up(narrator, server)
        start = time.monotonic()
        out = narrator.narrate(make_samples(n))
        elapsed = time.monotonic() - start
    arrivals = server.arrivals()[skip:]
    peak = max(count for _, count in server.in_flight_log)
    check_limiter(narrator._limiter, skip + n, rpm)
    achieved = check_rate(arrivals, rpm)
    logger.info("rate limit: configured %.0f/min, achieved %.1f/min, peak in flight %d, %.2f s", rpm, achieved,
                peak, elapsed)
    assert server.count == skip + n and len(arrivals) == n
    assert elapsed >= (n - 1) * 60.0 / rpm  # 29 intervals between the first and the last request, then an answer
    assert 2 <= peak <= concurrency and peak == server.max_in_flight  # concurrency really used, and bounded
    assert [o.sample_id for o in out] == list(range(n))
    assert all(o.text.startswith("Narrative for") and not o.fallback and not o.cached for o in out)
    assert narrator.stats["requests"] == n and narrator.stats["retries"] == 0


def test_retries_count_against_the_rate(tmp_path, monkeypatch, quiet):
    monkeypatch.setattr(openai_narrator, "RateLimiter", RecordingLimiter)
    rpm, n = 600.0, 20
    faults = ["429", None, None, "429", "429", None, None, None, "429"]  # Retry-After: 0
    with FakeOpenAIServer(api_key=KEY, delay_s=0.1) as server:
        narrator = make_narrator(server, tmp_path / "cache", max_concurrency=4, requests_per_minute=rpm)
        skip = warm_up(narrator, server)
        server.push(*faults)
        out = narrator.narrate(make_samples(n))
    statuses = [r["status"] for r in server.requests[skip:]]
    assert statuses.count(429) == 4 and server.count == skip + n + 4
    assert narrator.stats["retries"] == 4 and narrator.stats["requests"] == n + 4
    check_limiter(narrator._limiter, skip + n + 4, rpm)  # every attempt, the retries included
    check_rate(server.arrivals()[skip:], rpm)
    assert [o.sample_id for o in out] == list(range(n)) and not any(o.fallback for o in out)
    assert max(count for _, count in server.in_flight_log) <= 4


def test_a_refused_run_stops_the_waiting_workers_at_once(tmp_path):
    """401 on the first request: the workers waiting for their slots (10 s apart) stop without sending."""
    with FakeOpenAIServer(api_key=KEY, faults=["401"]) as server:
        narrator = make_narrator(server, tmp_path / "cache", max_concurrency=3, requests_per_minute=6)
        start = time.monotonic()
        with pytest.raises(NarrationError, match="refused the run"):
            narrator.narrate(make_samples(5))
        elapsed = time.monotonic() - start
    assert server.count == 1
    assert elapsed < 3.0


def test_no_limit_by_default(tmp_path):
    with FakeOpenAIServer(api_key=KEY, delay_s=0.2) as server:
        narrator = make_narrator(server, tmp_path / "cache", max_concurrency=4)
        start = time.monotonic()
        narrator.narrate(make_samples(8))
        elapsed = time.monotonic() - start
    assert narrator.options.requests_per_minute is None
    assert server.max_in_flight >= 2 and elapsed < 8 * 0.2  # in parallel, not one after the other


# -- the options' checks (OpenAIOptions) -----------------------------------------------------------


def conf_options() -> dict:
    return dict(load_conf(None)["parameters"]["narrate"]["openai"])


def test_the_configured_defaults_pass():
    options = conf_options()
    assert set(options) == set(OpenAIOptions.model_fields)  # every option is in the YAML
    assert "requests_per_minute" in options and options["requests_per_minute"] is None
    typed = OpenAIOptions.model_validate(options)  # no key, no prompts needed
    assert typed.requests_per_minute is None and typed.max_concurrency == 4
    for rpm in (0.5, 60, 3500.0):
        assert OpenAIOptions.model_validate({**options, "requests_per_minute": rpm}).requests_per_minute == rpm


BAD_OPTIONS = [
    ("requests_per_minute", 0), ("requests_per_minute", -60), ("requests_per_minute", "60"),
    ("requests_per_minute", True), ("requests_per_minute", math.nan), ("requests_per_minute", math.inf),
    ("max_concurrency", 0), ("max_concurrency", 2.0), ("max_concurrency", True), ("max_attempts", 0),
    ("max_tokens", 0), ("dpi", 5), ("channel", -1), ("timeout_s", 0), ("timeout_s", "60"), ("backoff_max_s", 0),
    ("backoff_initial_s", -1.0), ("temperature", -0.1), ("price_per_1k_input", -1),
    ("price_per_1k_output", "free"), ("base_url", "ftp://x"), ("base_url", 8080), ("model", ""), ("model", None),
    ("on_failure", "ignore"), ("vision", "false"), ("show_progress", "yes"), ("cache_dir", ""),
]


@pytest.mark.parametrize(("key", "value"), BAD_OPTIONS)
def test_a_bad_option_is_named(key, value):
    with pytest.raises(ParameterError) as info:
        OpenAIOptions.model_validate({**conf_options(), key: value})
    assert info.value.where == f"narrate.openai.{key}"
    assert info.value.fix
    # the same inside the whole narrate group, as Kedro builds it before the first node
    narrate = dict(load_conf(None)["parameters"]["narrate"])
    with pytest.raises(ParameterError) as nested:
        NarrateParams.model_validate({**narrate, "openai": {**conf_options(), key: value}})
    assert nested.value.where == f"narrate.openai.{key}" and str(nested.value) == str(info.value)


@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("max_concurrency", 0, "greater than or equal to 1"), ("requests_per_minute", 0, "greater than 0"),
    ("requests_per_minute", "60", "valid number"), ("dpi", 5, "greater than or equal to 10"),
    ("channel", -1, "greater than or equal to 0"), ("timeout_s", 0, "greater than 0"),
    ("on_failure", "ignore", "'raise' or 'fallback'"), ("base_url", "ftp://x", "http(s) URL"),
    ("model", "  ", "name the endpoint's model"), ("cache_dir", "", "folder path"), ("vision", "false", "boolean"),
])
def test_a_bad_option_says_what_is_allowed(key, value, allowed):
    with pytest.raises(ParameterError, match=rf"narrate\.openai\.{key}: is {re.escape(repr(value))}\. Fix: .*"
                       rf"{re.escape(allowed)}"):
        OpenAIOptions.model_validate({**conf_options(), key: value})


def test_backoff_initial_may_not_exceed_backoff_max():
    with pytest.raises(ParameterError) as info:
        OpenAIOptions.model_validate({**conf_options(), "backoff_initial_s": 45.0})
    assert info.value.where == "narrate.openai"  # a check of two options together
    assert "narrate.openai.backoff_initial_s (45.0) <= narrate.openai.backoff_max_s (30.0)" in info.value.fix
    with pytest.raises(ParameterError, match="backoff_initial_s .* <= narrate.openai.backoff_max_s"):
        OpenAIOptions.model_validate({**conf_options(), "backoff_max_s": 0.5})
    assert OpenAIOptions.model_validate({**conf_options(), "backoff_initial_s": 30.0}).backoff_initial_s == 30.0


def test_a_missing_cache_dir_is_named_and_other_options_take_the_configured_values():
    options = conf_options()
    del options["cache_dir"]
    with pytest.raises(ParameterError, match="narrate.openai.cache_dir: is missing"):
        OpenAIOptions.model_validate(options)
    conf = conf_options()
    for key in ("base_url", "model"):  # no longer required: their defaults are the YAML's
        options = {k: v for k, v in conf.items() if k != key}
        assert getattr(OpenAIOptions.model_validate(options), key) == conf[key]


def test_an_unknown_option_lists_the_known_ones():
    with pytest.raises(ParameterError) as info:
        OpenAIOptions.model_validate({**conf_options(), "max_concurency": 4})
    assert info.value.where == "narrate.openai.max_concurency"
    assert "max_concurrency" in info.value.fix and "requests_per_minute" in info.value.fix
    with pytest.raises(ParameterError, match="narrate.openai.mode"):  # mode lives in narrate.mode
        OpenAIOptions.model_validate({**conf_options(), "mode": "context"})
    with pytest.raises(ParameterError, match=r"narrate.openai: is \[\]"):
        OpenAIOptions.model_validate([])


@pytest.mark.parametrize(("key", "value"), [("requests_per_minute", 0), ("max_concurrency", 0), ("dpi", 5)])
def test_the_constructor_raises_the_same_errors(tmp_path, key, value):
    with pytest.raises(ParameterError) as info:  # options given as a mapping are checked by the model
        OpenAINarrator({"base_url": "http://127.0.0.1:9/v1", "model": "m", "cache_dir": tmp_path, key: value},
                       mode="context", api_key=KEY, system_prompt="", user_prompt=USER)
    assert info.value.where == f"narrate.openai.{key}"
