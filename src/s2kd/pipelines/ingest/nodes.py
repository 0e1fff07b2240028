"""Nodes of the ``ingest`` pipeline: thin wrappers over :mod:`s2kd.data`.

Everything that can fail on bad input (reading, validation, splitting, statistics) happens in the
first two nodes, before any output is saved, so a failed run leaves no partial output behind.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pandas as pd
import xarray as xr

from s2kd.data.metadata import build_sample_metadata
from s2kd.data.normalisation import compute_stats, normalise
from s2kd.data.params import IngestParams
from s2kd.data.sources import load_source
from s2kd.data.splits import make_sample_index, split_frames
from s2kd.data.validation import validate_series

logger = logging.getLogger(__name__)


def load_and_validate(
    params: IngestParams, storage_options: dict[str, Any] | None = None
) -> tuple[xr.Dataset, pd.DataFrame, pd.DataFrame]:
    """Read the configured source and check it.

    Args:
        params: the ``ingest`` parameter group.
        storage_options: fsspec options (credentials) for a URL ``ingest.xarray.path``: the
            ``xarray_store`` entry of ``conf/local/credentials.yml``, through the catalog.

    Returns:
        ``(raw, events, time_context)``: a dataset with the validated raw ``series`` (and its
        ``segment(time)`` coordinate when ``ingest.validation.segments`` is set) and the per-pixel
        ``valid`` fraction; the source's events; its per-timestamp side information.
    """
    p = params
    data = load_source(p.source, p.source_options(), storage_options)
    where = f"{p.source} source ({data.series.attrs.get('source', p.source)})"
    v = p.validation
    series, valid, report = validate_series(data.series, where=where, max_gap_steps=v.max_gap_steps,
                                            max_nan_fraction=v.max_nan_fraction, nan_fill=v.nan_fill,
                                            segments=v.segments, file_starts=data.file_starts)
    raw = xr.Dataset({"series": series, "valid": valid}, attrs={**series.attrs, "validation": json.dumps(report)})
    return raw, data.events, data.time_context


def split_and_fit(raw: xr.Dataset, params: IngestParams) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Cut the time axis into train/val/test windows and fit normalisation on the training frames.

    Args:
        raw: the output of :func:`load_and_validate`.
        params: the ``ingest`` parameter group.

    Returns:
        ``(sample_index, normalisation_stats)``.
    """
    p, w = params, params.windows
    where = f"{p.source} source ({raw.attrs.get('source', p.source)})"
    times = pd.DatetimeIndex(raw["time"].values)
    segment = raw["segment"].values if "segment" in raw.coords else None
    index = make_sample_index(times, t_in=w.t_in, t_out=w.t_out, fractions=p.splits.fractions(), stride=w.stride,
                              where=where, segment=segment, by=p.splits.by)
    stats = compute_stats(raw["series"], split_frames(index, "train", w.t_in + w.t_out),
                          method=p.normalisation.method, where=where)
    cycles = p.climatology_cycles if p.climatology_cycles is not None else json.loads(raw.attrs["cycles"])
    stats.update(t_in=w.t_in, t_out=w.t_out, cycles=list(cycles), units=json.loads(raw.attrs.get("units", "{}")),
                 grid=raw.attrs["grid"],
                 source=raw.attrs.get("source", p.source), transform=raw.attrs.get("transform", "none"),
                 transform_options=json.loads(raw.attrs.get("transform_options", "{}")))
    counts = index["split"].value_counts().to_dict()
    logger.info("ingest: %s windows (train/val/test = %d/%d/%d) in %d segment(s)", len(index), counts.get("train", 0),
                counts.get("val", 0), counts.get("test", 0), index["segment"].nunique())
    return index, stats


def normalise_series(raw: xr.Dataset, stats: dict[str, Any]) -> xr.Dataset:
    """The normalised series, stored once (windows are cut lazily later).

    Args:
        raw: the output of :func:`load_and_validate`.
        stats: the normalisation statistics.

    Returns:
        A dataset with ``series`` (normalised, float32) and ``valid``.
    """
    out = xr.Dataset({"series": normalise(raw["series"], stats), "valid": raw["valid"]}, attrs=dict(raw.attrs))
    out.attrs["normalisation"] = json.dumps({k: stats[k] for k in ("method", "channels", "offset", "scale")})
    return out


def describe_samples(
    index: pd.DataFrame, events: pd.DataFrame, time_context: pd.DataFrame, params: IngestParams
) -> pd.DataFrame:
    """Per-sample metadata (calendar, side information, events) for the narratives.

    Args:
        index: the sample index.
        events: the source's events.
        time_context: the source's per-timestamp side information.
        params: the ``ingest`` parameter group.

    Returns:
        One row per sample (see :func:`s2kd.data.metadata.build_sample_metadata`).
    """
    w = params.windows
    return build_sample_metadata(index, events=events, time_context=time_context, t_in=w.t_in, t_out=w.t_out)
