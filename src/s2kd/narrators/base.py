"""What a narrator sees and what it writes.

A narrator turns one sample (its input frames in physical units, its metadata, and in ``hindsight``
mode its target frames) into one short text. Narratives are privileged information: the teacher
reads them in training; the student never does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args

import numpy as np
import pandas as pd

from s2kd.errors import ParameterError

#: ``context``: the input window only; ``hindsight``: also the target window (privileged).
Mode = Literal["context", "hindsight"]
MODES: tuple[str, ...] = get_args(Mode)


def check_mode(mode: Any) -> None:
    """Raise :class:`ParameterError` naming ``narrate.mode`` unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise ParameterError("narrate.mode", f"is {mode!r}", f"use one of {MODES}")


@dataclass(frozen=True)
class Grid:
    """The spatial and temporal frame of a series.

    Attributes:
        kind: ``latlon``, ``flow`` or ``xy`` (radar and other projected grids).
        channels: channel names.
        units: unit per channel name.
        step: time step between frames.
        lat: latitude of each row (degrees) on ``latlon`` grids, else ``None``.
        lon: longitude of each column (degrees east, 0..360 or -180..180), else ``None``.
        domain: a name for the region the grid covers (``global``, ``north_america``, ...), used to
            pick named regions; ``None`` lets the narrator decide from ``lat``/``lon``.
    """

    kind: str
    channels: tuple[str, ...]
    units: dict[str, str]
    step: pd.Timedelta
    lat: np.ndarray | None = None
    lon: np.ndarray | None = None
    domain: str | None = None


@dataclass(frozen=True)
class SampleContext:
    """One sample as a narrator sees it.

    Attributes:
        sample_id: the sample's id in the sample index.
        split: ``train``, ``val`` or ``test``.
        inputs: input frames ``(T_in, C, H, W)`` in physical units.
        input_times: timestamps of the input frames.
        metadata: the sample's row of ``sample_metadata`` as a dict; ``events`` is a parsed list.
        grid: the grid.
        climatology: the training climatology at the input times ``(T_in, C, H, W)`` (physical
            units), against which anomalies are measured; ``None`` to use the window mean.
        targets: target frames ``(T_out, C, H, W)`` in physical units, for ``hindsight`` mode only.
        target_times: timestamps of the target frames (always known: they are calendar facts).
    """

    sample_id: int
    split: str
    inputs: np.ndarray
    input_times: pd.DatetimeIndex
    metadata: dict[str, Any]
    grid: Grid
    climatology: np.ndarray | None = None
    targets: np.ndarray | None = None
    target_times: pd.DatetimeIndex | None = None


@dataclass
class Narrative:
    """One narrative, with where it came from.

    Attributes:
        sample_id: the sample's id.
        text: the narrative.
        narrator: the narrator's registry name (``diagnostic``, ``openai``).
        model: the model that wrote it (``diagnostic-v1`` for the offline narrator).
        prompt_hash: hash of the prompt template (and mode) that produced it.
        fallback: ``True`` when the configured narrator failed and the diagnostic one wrote it.
        cached: ``True`` when the answer came from the on-disk cache.
        input_tokens: prompt tokens reported by the endpoint (0 offline).
        output_tokens: completion tokens reported by the endpoint (0 offline).
        error: the last error for a failed or fallback sample (never containing credentials).
    """

    sample_id: int
    text: str
    narrator: str
    model: str
    prompt_hash: str
    fallback: bool = False
    cached: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Narrator(Protocol):
    """The narrator interface: a name, a model, and one narrative per sample, in order."""

    name: str
    model: str

    def narrate(self, samples: list[SampleContext]) -> list[Narrative]: ...


def text_hash(*parts: str | bytes) -> str:
    """A short stable hash of strings or bytes (sha256, 16 hex digits)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\x00")
    return h.hexdigest()[:16]
