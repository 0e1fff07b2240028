"""The ``openai`` narrator's prompt: the templates' check and what fills their fields.

:func:`check_prompts` refuses a template the narrator could not fill; :func:`format_metadata` fills
the ``{metadata}`` field of the user prompt template (grid, times, calendar metadata, recorded
events); :func:`mode_instruction` its ``{mode_instruction}`` field.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from s2kd.errors import ParameterError
from s2kd.narrators.base import SampleContext

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


def check_prompts(system_prompt: Any, user_prompt: Any, *, vision: bool) -> None:
    """Raise :class:`ParameterError` (``narrate.openai.system_prompt`` / ``.user_prompt``) for a system
    prompt that is no string, or a user prompt template that is empty, malformed, or (without vision)
    lacks the ``{diagnostics}`` field."""
    if not isinstance(system_prompt, str):
        raise ParameterError("narrate.openai.system_prompt", f"is {type(system_prompt).__name__}", "give a string")
    if not isinstance(user_prompt, str) or not user_prompt.strip():
        raise ParameterError("narrate.openai.user_prompt", "is empty",
                             "give a template with {metadata}, {diagnostics} and {mode_instruction}")
    try:
        user_prompt.format(metadata="", diagnostics="", mode_instruction="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ParameterError("narrate.openai.user_prompt", f"is not a valid template ({type(exc).__name__}: "
                             f"{exc})", "use only the fields {metadata}, {diagnostics} and {mode_instruction}; "
                             "double literal braces as {{ }}") from None
    if not vision and "{diagnostics}" not in user_prompt:
        raise ParameterError("narrate.openai.user_prompt", "has no {diagnostics} field but vision is false, so the "
                             "model would see nothing of the frames", "add {diagnostics} to the template")


def mode_instruction(mode: str, vision: bool) -> str:
    """The ``{mode_instruction}`` of the prompt: what to describe in ``mode``, with images or diagnostics."""
    if mode == "context":
        return CONTEXT_INSTRUCTION
    return HINDSIGHT_INSTRUCTION_VISION if vision else HINDSIGHT_INSTRUCTION_TEXT


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
