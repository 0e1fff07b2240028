"""The offline ``diagnostic`` narrator: short plain-English text from computed diagnostics.

:func:`compute_diagnostics` measures one sample in numbers *and* words (a JSON-serialisable dict);
:class:`DiagnosticNarrator` writes 2-5 short sentences from it, categories and region names first
and few numbers (DESIGN.md section 6: a sentence encoder separates "a strong cold anomaly over
Hudson Bay" far better than "-11.3 K at 60 N"). Deterministic, offline, and fast (about a
millisecond a sample). Both dispatch by grid kind to the module that describes it:

- ``latlon`` (:mod:`~s2kd.narrators.latlon`): anomalies, their motion, trend, level, fronts, and the
  recorded events (:mod:`~s2kd.narrators.events`);
- ``flow`` (:mod:`~s2kd.narrators.flows`): traffic, rush hours, hotspots, weather;
- ``xy`` (:mod:`~s2kd.narrators.radar`): rain coverage, cores, motion, trend.

The calendar (:mod:`~s2kd.narrators.calendar`) opens every narrative; the shared maths (regions,
phase correlation, motion) is in :mod:`~s2kd.narrators.geometry`, the clause builder and token
budget in :mod:`~s2kd.narrators.text`.

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

from collections.abc import Mapping
from typing import Any

from s2kd.errors import InputError
from s2kd.narrators.base import Narrative, SampleContext, check_mode, text_hash
from s2kd.narrators.calendar import calendar_facts
from s2kd.narrators.events import event_facts
from s2kd.narrators.flows import flow_facts, flow_sentences
from s2kd.narrators.geometry import Geo
from s2kd.narrators.latlon import latlon_facts, latlon_sentences
from s2kd.narrators.params import DiagnosticOptions
from s2kd.narrators.radar import radar_facts, radar_sentences
from s2kd.narrators.text import Text


def compute_diagnostics(sample: SampleContext, *, hindsight: bool = False, max_items: int = 3) -> dict[str, Any]:
    """All diagnostics of one sample, as a JSON-serialisable dict.

    Args:
        sample: the sample.
        hindsight: also describe the target window (``sample.targets`` must be set) and the events
            that start, peak or end in it; ``False`` reads neither.
        max_items: anomalies / hotspots / events kept per list.

    Returns:
        ``{"kind", "domain", "calendar", "events", ...}`` plus ``"latlon"``, ``"flow"`` or ``"radar"``
        (each with a ``"target"`` part in hindsight).
    """
    geo = Geo(sample)
    kind = sample.grid.kind
    cal = calendar_facts(sample, geo)
    out: dict[str, Any] = {"kind": kind, "domain": geo.domain, "domain_phrase": geo.phrase,
                           "calendar": cal, "hindsight": bool(hindsight)}
    if kind == "flow":
        out["flow"] = flow_facts(sample, geo, cal, hindsight, max_items)
    elif kind == "xy" and not geo.geographic:
        out["radar"] = radar_facts(sample, geo, hindsight)
    else:
        out["latlon"] = latlon_facts(sample, geo, hindsight, max_items)
    out["events"] = event_facts(sample, geo, hindsight, max_items)
    return out


class DiagnosticNarrator:
    """Writes one short narrative per sample from its diagnostics (offline, deterministic).

    Args:
        options: the ``narrate.diagnostic`` options (a :class:`~s2kd.narrators.params.DiagnosticOptions`,
            a mapping it is built from, or ``None`` for the defaults).
        mode: ``context`` (input window only) or ``hindsight`` (also the target window).

    Raises:
        ParameterError: ``mode`` is not one of :data:`~s2kd.narrators.base.MODES` (named ``narrate.mode``),
            or a mapping of options holds a bad value.
    """

    name = "diagnostic"
    model = "diagnostic-v1"

    def __init__(self, options: DiagnosticOptions | Mapping[str, Any] | None = None, *, mode: str) -> None:
        check_mode(mode)
        if options is None:
            options = DiagnosticOptions()
        self.options = options if isinstance(options, DiagnosticOptions) else DiagnosticOptions.model_validate(options)
        self.mode = mode

    def __repr__(self) -> str:
        return f"DiagnosticNarrator(mode={self.mode!r}, max_items={self.options.max_items})"

    @property
    def prompt_hash(self) -> str:
        """Hash of (model, mode): a narrative's provenance."""
        return text_hash(self.model, self.mode)

    def diagnostics(self, sample: SampleContext) -> dict[str, Any]:
        """The diagnostics of one sample (JSON-serialisable); targets are read in ``hindsight`` only."""
        hindsight = self.mode == "hindsight"
        if hindsight and sample.targets is None:
            raise InputError(f"sample {sample.sample_id}", "has no targets but the narrator is in hindsight mode",
                             "pass the target frames, or set narrate.mode: context")
        return compute_diagnostics(sample, hindsight=hindsight, max_items=self.options.max_items)

    def describe(self, sample: SampleContext) -> str:
        """The narrative of one sample: 2-5 short sentences (more in hindsight)."""
        d = self.diagnostics(sample)
        text = Text()
        if "flow" in d:
            flow_sentences(d, text)
        elif "radar" in d:
            radar_sentences(d, text)
        else:
            latlon_sentences(d, text, self.options.max_items)
        return text.render()

    def narrate(self, samples: list[SampleContext]) -> list[Narrative]:
        """One narrative per sample, in order."""
        h = self.prompt_hash
        return [Narrative(sample_id=s.sample_id, text=self.describe(s), narrator=self.name, model=self.model,
                          prompt_hash=h, extra={"mode": self.mode}) for s in samples]
