"""The offline ``diagnostic`` narrator: short plain-English text from computed diagnostics.

It reads :func:`~s2kd.narrators.diagnostics.compute_diagnostics` and writes 2-5 short sentences,
categories and region names first and few numbers (DESIGN.md section 6: a sentence encoder separates
"a strong cold anomaly over Hudson Bay" far better than "-11.3 K at 60 N"). Deterministic, offline,
and fast (about a millisecond a sample).

Modes:

- ``context``: the input window only: calendar (month, season, local time, weekday, rush hour), the
  anomalies and their motion, trends, fronts, radar coverage, traffic hotspots, and the recorded
  events already visible in the input window (type, region, heading, growing or decaying so far).
  Targets and events that only start later are never read.
- ``hindsight``: the same, followed by "Next, ..." sentences about the target window: where it warms
  or cools, where the anomalies end up, and the events that begin, peak or end in it. Privileged
  information for the teacher at training time only.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from s2kd.errors import InputError, ParameterError
from s2kd.narrators.base import MODES, Narrative, SampleContext, text_hash
from s2kd.narrators.diagnostics import compute_diagnostics

logger = logging.getLogger(__name__)

#: The most word-piece tokens (approximately) a narrative may take: the sentence encoder reads 96
#: with [CLS] and [SEP] (``narrate.embedding.max_length``); the least important clauses go first.
TOKEN_BUDGET = 90
_TOKEN = re.compile(r"\w+|[^\w\s]")

_PHASE = {"forming": "is just forming", "growing": "is growing", "near its peak": "is near its peak",
          "decaying": "is decaying", "fading out": "is fading out"}
_NOUNS = {"temperature": ("warm anomaly", "cold anomaly"), "geopotential": ("ridge", "trough")}


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:] if s else s


def _and(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _a(phrase: str) -> str:
    """``phrase`` with its indefinite article."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _motion_phrase(m: dict[str, Any] | None) -> str:
    if not m or m.get("speed") in (None, "unknown"):
        return ""
    if not m.get("moving"):
        return "stationary"
    if m["speed"] == "slow":
        return f"drifting {m['heading']}"
    return f"moving quickly {m['heading']}"


def _feature_phrase(f: dict[str, Any], quantity: str, *, motion: bool = True) -> str:
    pos, neg = _NOUNS.get(quantity, ("positive anomaly", "negative anomaly"))
    noun = pos if f["sign"] == "positive" else neg
    text = f"{_a(f['magnitude'] + ' ' + noun)} over {_and(f['regions'])}"
    mp = _motion_phrase(f.get("motion")) if motion else ""
    return f"{text}, {mp}" if mp else text


def _trend_sentence(trend: str, quantity: str) -> str:
    if quantity == "temperature":
        if trend == "steady":
            return "temperatures hold steady"
        word = trend.replace("rapidly ", "")
        verb = {"warming": "warming", "cooling": "cooling"}.get(word, word)
        return f"the region is {verb}{' rapidly' if trend.startswith('rapidly') else ''}"
    if trend == "steady":
        return f"{quantity} holds steady"
    return f"{quantity} shows {trend}"


def approx_tokens(text: str) -> int:
    """A cheap estimate of the encoder's word-piece count (words and punctuation, plus 2 for [CLS]/[SEP])."""
    return len(_TOKEN.findall(text)) + 2


class _Text:
    """Clauses grouped into sentences; the lowest-priority clauses are dropped to fit a token budget."""

    def __init__(self) -> None:
        self.clauses: list[tuple[int, int, str]] = []  # (priority, group index, text)
        self.groups: list[tuple[str, str, str]] = []  # (key, prefix, joiner) per sentence, in order

    def add(self, priority: int, text: str, *, group: str | None = None, prefix: str = "", joiner: str = ";") -> None:
        """Add a clause; clauses of one ``group`` form one sentence after ``prefix``.

        ``joiner`` ``";"`` joins the clauses with semicolons; ``"with"`` makes the first the main
        clause and the others its complement ("the region cools, with A and B").
        """
        if not text:
            return
        key = group if group is not None else f"_{len(self.groups)}"
        keys = [g[0] for g in self.groups]
        if key in keys:
            gi = keys.index(key)
        else:
            gi = len(self.groups)
            self.groups.append((key, prefix, joiner))
        self.clauses.append((priority, gi, text))

    def render(self, budget: int = TOKEN_BUDGET) -> str:
        keep = list(range(len(self.clauses)))
        while True:
            text = self._join(keep)
            if approx_tokens(text) <= budget or len(keep) <= 1:
                return text
            # drop the lowest-priority clause, the latest one among equals (never the first clause)
            victim = min(keep[1:], key=lambda k: (self.clauses[k][0], -k))
            keep.remove(victim)

    def _join(self, keep: list[int]) -> str:
        by_group: dict[int, list[str]] = {}
        for k in keep:
            _, gi, text = self.clauses[k]
            by_group.setdefault(gi, []).append(text)
        sentences = []
        for gi in sorted(by_group):
            _, prefix, joiner = self.groups[gi]
            parts = by_group[gi]
            if joiner == "with" and len(parts) > 1:
                body = f"{parts[0]}, with {_and(parts[1:])}"
            else:
                body = "; ".join(parts)
            sentence = prefix + body if prefix else _cap(body)
            sentences.append(sentence if sentence.endswith(".") else sentence + ".")
        return " ".join(sentences)


class DiagnosticNarrator:
    """Writes one short narrative per sample from its diagnostics (offline, deterministic).

    Args:
        mode: ``context`` (input window only) or ``hindsight`` (also the target window).
        max_items: anomalies / hotspots / events named per narrative (>= 1).

    Raises:
        ParameterError: ``narrate.diagnostic.mode`` or ``narrate.diagnostic.max_items`` is invalid.
    """

    name = "diagnostic"
    model = "diagnostic-v1"

    def __init__(self, *, mode: str = "context", max_items: int = 3) -> None:
        if mode not in MODES:
            raise ParameterError("narrate.diagnostic.mode", f"is {mode!r}", f"use one of {MODES}")
        if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
            raise ParameterError("narrate.diagnostic.max_items", f"is {max_items!r}", "use a whole number >= 1")
        self.mode = mode
        self.max_items = int(max_items)

    @property
    def prompt_hash(self) -> str:
        """Hash of (model, mode): a narrative's provenance."""
        return text_hash(self.model, self.mode)

    # ----------------------------------------------------------------------------------------------

    def diagnostics(self, sample: SampleContext) -> dict[str, Any]:
        """The diagnostics of one sample (JSON-serialisable); targets are read in ``hindsight`` only."""
        hindsight = self.mode == "hindsight"
        if hindsight and sample.targets is None:
            raise InputError(f"sample {sample.sample_id}", "has no targets but the narrator is in hindsight mode",
                             "pass the target frames, or set narrate.mode: context")
        return compute_diagnostics(sample, hindsight=hindsight, max_items=self.max_items)

    def describe(self, sample: SampleContext) -> str:
        """The narrative of one sample: 2-5 short sentences (more in hindsight)."""
        d = self.diagnostics(sample)
        text = _Text()
        if "flow" in d:
            self._flow(d, text)
        elif "radar" in d:
            self._radar(d, text)
        else:
            self._latlon(d, text)
        return text.render()

    def narrate(self, samples: list[SampleContext]) -> list[Narrative]:
        """One narrative per sample, in order."""
        h = self.prompt_hash
        return [Narrative(sample_id=s.sample_id, text=self.describe(s), narrator=self.name, model=self.model,
                          prompt_hash=h, extra={"mode": self.mode}) for s in samples]

    # ----------------------------------------------------------------------------------------------
    # lat/lon grids

    def _latlon(self, d: dict[str, Any], text: _Text) -> None:
        cal, f = d["calendar"], d["latlon"]
        hindsight = "target" in f
        main = f["channels"][0]
        q = main["vocabulary"]["quantity"]
        level = main["level"]["word"]
        if d["domain"] == "global":
            first = f"A {cal['month']} day in {cal['season']}, daylight over {cal['daytime_over']}"
        else:
            where = d.get("domain_phrase") or "the domain"
            first = f"A {cal['season']} {cal['time_of_day']} in {cal['month']} over {where}"
        if level:
            first += f", {level} overall"
        text.add(9, first)
        self._events_context(d["events"], text, 6 if hindsight else 7)
        for k, x in enumerate(main["features"][: self.max_items]):
            text.add((5 if hindsight else 7) if k == 0 else 3 if hindsight else 5, _feature_phrase(x, q), group="features")
        for ch in f["channels"][1:]:
            if ch["features"]:
                text.add(2, f"In {ch['name']}, {_feature_phrase(ch['features'][0], ch['vocabulary']['quantity'])}")
        if not hindsight:
            trend = _trend_sentence(main["trend"]["word"], q)
            front = main.get("front")
            text.add(4, trend, group="trend")
            if front and front["word"] in ("moderate", "sharp"):
                text.add(3, f"{_a(front['word'])} contrast lies over {front['region']}", group="trend")
            return
        t = f["target"]["channels"][0]
        text.add(8, _trend_sentence(t["trend"]["word"], q), group="next", prefix="Next, ", joiner="with")
        for k, c in enumerate(t["changes"]):
            text.add(8 if k == 0 else 7, f"{c['magnitude']} {c['word']} over {_and(c['regions'])}", group="next")
        self._events_next(d["events"], text)
        for k, x in enumerate(t["features"][:2]):
            text.add(4 if k == 0 else 2, _feature_phrase(x, q, motion=k == 0), group="end", prefix="By the end, ")

    # ----------------------------------------------------------------------------------------------
    # events

    def _events_context(self, events: list[dict[str, Any]], text: _Text, priority: int) -> None:
        n = 0
        for e in events:
            if not e.get("visible_in_input") or n >= self.max_items:
                continue
            mag = f"{e['magnitude']} " if e.get("magnitude") else ""
            head = f", heading {e['heading']}," if e.get("heading") else ""
            text.add(priority if n == 0 else priority - 2,
                     f"{_a(mag + e['phrase'])} over {e['region']}{head} {_PHASE.get(e['phase'], e['phase'])}",
                     group="events")
            n += 1

    def _events_next(self, events: list[dict[str, Any]], text: _Text) -> None:
        n = 0
        for e in events:
            if n >= self.max_items:
                break
            p = e["phrase"]
            parts = []
            if e.get("onset_in_target"):
                head = f", heading {e['heading']}" if e.get("heading") else ""
                parts.append(f"{_a(p)} begins over {e['onset_region']}{head}")
                if e.get("peak_in_target"):
                    parts.append(f"it peaks over {e['peak_region']}")
            elif e.get("visible_in_input"):
                if e.get("peak_in_target"):
                    moved = e["peak_region"] != e["region"]
                    parts.append(f"the {p} over {e['region']} peaks" + (f" over {e['peak_region']}" if moved else ""))
                if e.get("ends_in_target"):
                    parts.append(f"the {p} dies out over {e['end_region']}")
                elif not e.get("peak_in_target"):
                    later = e.get("region_at_target_end")
                    if later and later != e.get("region"):
                        parts.append(f"the {p} moves on to {later}")
                    elif e.get("phase") in ("forming", "growing"):
                        parts.append(f"the {p} over {e['region']} keeps growing")
                    else:
                        parts.append(f"the {p} over {e['region']} weakens")
            for k, part in enumerate(parts):
                text.add(8 if n == 0 else 6 if k == 0 else 5, part, group="events_next")
            n += bool(parts)

    # ----------------------------------------------------------------------------------------------
    # flow grids

    def _flow(self, d: dict[str, Any], text: _Text) -> None:
        cal, f = d["calendar"], d["flow"]
        day = {"weekday": "a working day", "weekend": "at the weekend", "holiday": "a public holiday"}[f["day_kind"]]
        first = f"{cal['weekday']} {cal['time_of_day']} at {cal['hour']:02d}:{cal['minute']:02d}, {day}"
        if f["rush_hour"]:
            first += f", in the {f['rush_hour']} rush hour"
        elif f["rush_hour_next"]:
            first += f", just before the {f['rush_hour_next']} rush hour"
        text.add(9, first)
        w = f["input"]
        traffic = f"traffic is {w['trend']}"
        if w.get("level"):
            traffic += f" and {w['level']}"
        text.add(7, traffic)
        if w["hotspots"]:
            text.add(7, f"the hotspots are in {_and(w['hotspots'])}", group="hot")
            if "balance" in w:
                s = w["balance"]
                if w.get("arrivals_at") and w.get("departures_at") and w["arrivals_at"] != w["departures_at"]:
                    s += f", with arrivals gathering in {w['arrivals_at']} and departures leaving {w['departures_at']}"
                text.add(5, s, group="hot")
        wx = f.get("weather")
        if wx:
            bits = [wx.get("weather"),
                    wx.get("temperature_word") and f"{wx['temperature_word']} at {wx['temperature']:.0f} °C",
                    wx.get("wind_word")]
            text.add(6, "Weather: " + ", ".join(b for b in bits if b))
        if "target" in f:
            t = f["target"]
            s = f"traffic is {t['trend']}"
            if t.get("level"):
                s += f" and {t['level']}"
            if t["hotspots"]:
                s += f", busiest in {t['hotspots'][0]}"
            if t.get("rush_hour") and t["rush_hour"] != f["rush_hour"]:
                s += f", into the {t['rush_hour']} rush hour"
            elif f["rush_hour"] and not t.get("rush_hour"):
                s += f", as the {f['rush_hour']} rush hour ends"
            text.add(8, s, group="next", prefix="Next, ")
            if "balance" in t:
                text.add(5, t["balance"], group="next")

    # ----------------------------------------------------------------------------------------------
    # radar

    def _radar(self, d: dict[str, Any], text: _Text) -> None:
        cal, r = d["calendar"], d["radar"]
        w = r["input"]
        text.add(9, f"A {cal['season']} {cal['time_of_day']} in {cal['month']}, {cal['hour']:02d}:{cal['minute']:02d}")
        text.add(8, self._radar_state(w))
        mp = _motion_phrase(w.get("motion"))
        if w.get("peak_word"):
            text.add(7, f"the rain is {w['trend']}" + (f" and {mp}" if mp else ""))
        if "target" in r:
            t = r["target"]
            s = f"the rain is {t['trend']}, becoming {t['coverage_word']}"
            if t.get("peak_word"):
                s += f" with {t['peak_word']} cores in {t['peak_region']}"
            tm = _motion_phrase(t.get("motion"))
            if tm:
                s += f", {tm}"
            text.add(8, s, group="next", prefix="Next, ")

    @staticmethod
    def _radar_state(w: dict[str, Any]) -> str:
        pct = 100.0 * w["coverage"]
        if not w.get("peak_word"):
            return "No rain to speak of"
        s = f"{_cap(w['coverage_word'])} covers {pct:.0f}% of the area, mostly in {w['centroid']}"
        if w["peak_region"] == w["centroid"]:
            return s + f", with {w['peak_word']} cores there"
        return s + f", with {w['peak_word']} cores in {w['peak_region']}"
