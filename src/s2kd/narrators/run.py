"""Narrate every sample of a sample index, chunk by chunk, and sum up the run."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from s2kd.data.climatology import climatology_at
from s2kd.narrators.base import Grid, Narrator, SampleContext

logger = logging.getLogger(__name__)

COLUMNS = ["sample_id", "split", "text", "narrator", "model", "mode", "prompt_hash", "fallback", "cached",
           "input_tokens", "output_tokens", "error"]


def grid_of(series: xr.DataArray, stats: dict) -> Grid:
    """The :class:`Grid` of a stored series and its normalisation statistics."""
    times = pd.DatetimeIndex(series["time"].values[:2])
    has_latlon = "lat" in series.coords and "lon" in series.coords
    return Grid(
        kind=stats["grid"],
        channels=tuple(str(c) for c in series["channel"].values),
        units=dict(stats.get("units", {})),
        step=pd.Timedelta(times[1] - times[0]),
        lat=np.asarray(series["lat"].values, dtype=float) if has_latlon else None,
        lon=np.asarray(series["lon"].values, dtype=float) if has_latlon else None,
    )


def iter_contexts(
    physical: xr.DataArray, index: pd.DataFrame, metadata: pd.DataFrame, *, grid: Grid, climatology: xr.Dataset | None,
    t_in: int, t_out: int, hindsight: bool, chunk_size: int,
) -> Iterator[list[SampleContext]]:
    """Lists of at most ``chunk_size`` samples, reading only the frames each chunk needs."""
    meta = metadata.set_index("sample_id")
    times = pd.DatetimeIndex(physical["time"].values)
    for lo in range(0, len(index), chunk_size):
        rows = index.iloc[lo : lo + chunk_size]
        first, last = int(rows["start"].min()), int(rows["start"].max()) + t_in + t_out
        block = np.asarray(physical.isel(time=slice(first, last)).values, dtype=np.float32)  # (t, C, H, W)
        out = []
        for row in rows.itertuples(index=False):
            s = int(row.start) - first
            t_inputs = times[row.start : row.start + t_in]
            m = meta.loc[row.sample_id].to_dict()
            m["sample_id"] = int(row.sample_id)
            m["events"] = json.loads(m.get("events") or "[]")
            out.append(SampleContext(
                sample_id=int(row.sample_id), split=str(row.split), inputs=block[s : s + t_in], input_times=t_inputs,
                metadata=m, grid=grid,
                climatology=None if climatology is None else climatology_at(climatology, t_inputs),
                targets=block[s + t_in : s + t_in + t_out] if hindsight else None,
                target_times=times[row.start + t_in : row.start + t_in + t_out],
            ))
        yield out


def narrate_index(
    narrator: Narrator, physical: xr.DataArray, index: pd.DataFrame, metadata: pd.DataFrame, *, grid: Grid,
    climatology: xr.Dataset | None, t_in: int, t_out: int, mode: str, chunk_size: int = 256, show_progress: bool = True,
) -> pd.DataFrame:
    """One narrative per sample of ``index``, as a table (columns :data:`COLUMNS`)."""
    start = time.perf_counter()
    records = []
    chunks = iter_contexts(physical, index, metadata, grid=grid, climatology=climatology, t_in=t_in, t_out=t_out,
                           hindsight=mode == "hindsight", chunk_size=chunk_size)
    with tqdm(total=len(index), desc=f"narrate ({narrator.name}, {mode})", unit="sample",
              disable=not show_progress) as bar:
        for contexts in chunks:
            for ctx, n in zip(contexts, narrator.narrate(contexts), strict=True):
                assert n.sample_id == ctx.sample_id, "a narrator must answer in order"
                records.append({"sample_id": ctx.sample_id, "split": ctx.split, "text": n.text, "narrator": n.narrator,
                                "model": n.model, "mode": mode, "prompt_hash": n.prompt_hash, "fallback": n.fallback,
                                "cached": n.cached, "input_tokens": n.input_tokens, "output_tokens": n.output_tokens,
                                "error": n.error})
            bar.update(len(contexts))
    table = pd.DataFrame.from_records(records, columns=COLUMNS)
    logger.info("narrated %d samples in %.1f s: %d distinct texts", len(table), time.perf_counter() - start,
                table["text"].nunique())
    return table


def narration_metrics(table: pd.DataFrame, narrator: Narrator, seconds: float) -> dict[str, float]:
    """The run in numbers: counts, distinct fraction, fallbacks, cache hits, tokens, words, seconds, and
    the narrator's own ``stats`` (requests, retries, estimated cost, ...) when it keeps any."""
    stats = dict(getattr(narrator, "stats", {}) or {})
    return {
        "narratives": float(len(table)),
        "distinct_fraction": float(table["text"].nunique() / max(len(table), 1)),
        "fallbacks": float(table["fallback"].sum()),
        "cache_hits": float(table["cached"].sum()),
        "input_tokens": float(table["input_tokens"].sum()),
        "output_tokens": float(table["output_tokens"].sum()),
        "mean_words": float(table["text"].str.split().str.len().mean()),
        "seconds": seconds,
        **{k: float(v) for k, v in stats.items()
           if isinstance(v, int | float) and k not in ("input_tokens", "output_tokens")},
    }
