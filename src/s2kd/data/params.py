"""Typed ``ingest`` parameters (``conf/base/parameters_ingest.yml``): the source and its options, the
windows, the splits, the normalisation and the validation rules."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StrictFloat, model_validator

from s2kd.data.climatology import CYCLES
from s2kd.data.normalisation import METHODS
from s2kd.data.sources import SOURCES, StGridH5Options, SyntheticOptions, XarrayOptions
from s2kd.data.splits import SPLIT_BY
from s2kd.data.validation import SEGMENTS
from s2kd.params import Count, Fraction, Number, Params, Positive, PositiveInt

Share = Annotated[StrictFloat, Field(gt=0, le=1, allow_inf_nan=False)]


class WindowParams(Params):
    """``ingest.windows``: ``t_in`` input frames, ``t_out`` frames to forecast, every ``stride``-th start."""

    t_in: PositiveInt = 4
    t_out: PositiveInt = 4
    stride: PositiveInt = 1


class SplitParams(Params):
    """``ingest.splits``: fractions of the windows per split; ``by``: ``time`` (``None`` too): contiguous
    in time, with a purge gap of ``t_in + t_out - 1`` steps; ``segment``: whole segments (events) each
    to one split, in time order (needs ``ingest.validation.segments``)."""

    train: Share = 0.7
    val: Share = 0.15
    test: Share = 0.15
    by: Literal[SPLIT_BY] | None = None

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitParams:
        total = self.train + self.val + self.test
        if abs(total - 1) > 1e-6:
            raise ValueError(f"give positive fractions for train, val and test that sum to 1 (they sum to {total:g})")
        return self

    def fractions(self) -> dict[str, float]:
        return {"train": self.train, "val": self.val, "test": self.test}


class NormalisationParams(Params):
    """``ingest.normalisation``: ``zscore`` or ``minmax``, statistics from the training frames only."""

    method: Literal[METHODS] = "zscore"


class ValidationParams(Params):
    """``ingest.validation``: the longest run of missing steps filled by linear interpolation, the NaN
    fraction allowed, the physical value NaN become (required when NaN are allowed), and ``segments``:
    ``None``, one series (a longer gap is an error); ``gaps``, a longer gap ends a segment (an event);
    ``files``, so does each file of a glob or folder."""

    max_gap_steps: Count = 0
    max_nan_fraction: Fraction = 0.0
    nan_fill: Number | None = None
    segments: Literal[SEGMENTS] | None = None


class IngestParams(Params):
    """The ``ingest`` group: which source, its options (one group per source), and how to cut it.

    ``climatology_cycles``: the cycles the climatology fits (narratives' anomalies, ACC); ``None``:
    the source's (``annual`` and ``diurnal`` for weather, ``weekly`` too for flows).
    """

    group = "ingest"

    source: Literal[tuple(SOURCES)] = "synthetic"
    windows: WindowParams = WindowParams()
    splits: SplitParams = SplitParams()
    normalisation: NormalisationParams = NormalisationParams()
    validation: ValidationParams = ValidationParams()
    climatology_cycles: list[Literal[CYCLES]] | None = None
    synthetic: SyntheticOptions = SyntheticOptions()
    xarray: XarrayOptions = XarrayOptions()
    st_grid_h5: StGridH5Options = StGridH5Options()

    @model_validator(mode="after")
    def _segments_to_split_by(self) -> IngestParams:
        if self.splits.by == "segment" and self.validation.segments is None:
            raise ValueError("ingest.splits.by: segment needs segments: set ingest.validation.segments: gaps (a gap "
                             "longer than max_gap_steps ends a segment) or files (each file of a glob too), or "
                             "ingest.splits.by: time")
        return self

    def source_options(self) -> SyntheticOptions | XarrayOptions | StGridH5Options:
        """The options of the chosen source."""
        return getattr(self, self.source)


class LoadingParams(Params):
    """``loading`` (``conf/base/parameters_loading.yml``): where training, teacher caching and ``evaluate`` read
    windows from, and the DataLoader workers that read them.

    Attributes:
        store: ``memory`` (the series in RAM), ``file`` (each window read from ``series.nc`` when served) or
            ``auto`` (memory up to ``max_memory_mib``).
        max_memory_mib: the largest series ``auto`` keeps in memory.
        targets_max_memory_mib: cached teacher targets larger than this go to files beside the checkpoints.
        num_workers: DataLoader worker processes per training process (0: read in the training process).
        prefetch_factor: batches each worker reads ahead (with workers).
    """

    group: ClassVar[str] = "loading"

    store: Literal["auto", "memory", "file"]
    max_memory_mib: Positive
    targets_max_memory_mib: Positive
    num_workers: Count
    prefetch_factor: PositiveInt
