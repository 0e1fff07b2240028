"""Event datasets: radar events as files of one glob (or one file with long gaps) ingest as segments.

A gap longer than ``ingest.validation.max_gap_steps`` ends a segment when ``ingest.validation.segments``
is set; no window crosses a segment, and ``ingest.splits.by: segment`` gives each event whole to one split.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from s2kd.data.params import IngestParams
from s2kd.data.splits import make_sample_index
from s2kd.data.validation import time_axis
from s2kd.errors import InputError, ParameterError
from s2kd.pipelines.ingest import create_pipeline
from tests.helpers import files_under, load_conf, run, tmp_catalog

STEP = pd.Timedelta("5min")
STARTS = ("2021-06-03 14:00", "2021-06-17 09:30", "2021-07-02 21:05")  # days apart
N_STEPS = (36, 30, 40)
W = 8  # t_in + t_out of the default windows


def _radar_event(path, start: str, n: int, seed: int, missing=()) -> None:
    """A MeteoSwiss-like radar event: rain in mm per 5 min, ``precip(time, y, x)`` on an 8 x 8 grid."""
    times = pd.date_range(start, periods=n, freq=STEP).delete(list(missing))
    rain = np.random.default_rng(seed).gamma(0.6, 0.4, size=(len(times), 8, 8)).astype("float32")
    xr.Dataset({"precip": (("time", "y", "x"), rain, {"units": "mm"})},
               coords={"time": times, "y": np.arange(8) * 1000.0, "x": np.arange(8) * 1000.0}).to_netcdf(path)


def _events(folder, **missing) -> str:
    folder.mkdir(exist_ok=True)
    for k, (start, n) in enumerate(zip(STARTS, N_STEPS, strict=True)):
        _radar_event(folder / f"event_{k}.nc", start, n, seed=k, missing=missing.get(f"e{k}", ()))
    return str(folder / "event_*.nc")


def _ingest(tmp_path, path: str, **groups):
    params = copy.deepcopy(load_conf(None)["parameters"]["ingest"])
    params["source"] = "xarray"
    params["xarray"].update(path=path, variables=["precip"], clip_min=0.0, transform="dbz",
                            transform_options={"rate_factor": 12.0})
    for group, values in groups.items():
        params[group].update(values)
    catalog, _ = tmp_catalog(load_conf(None), tmp_path / "out")
    catalog["params:ingest"] = params
    run(create_pipeline(), catalog)
    return catalog


def _check_no_window_crosses_a_segment(index: pd.DataFrame, series: xr.DataArray) -> None:
    segment = series["segment"].values
    starts = index["start"].to_numpy()
    assert (segment[starts] == index["segment"].to_numpy()).all()
    assert (segment[starts + W - 1] == segment[starts]).all(), "a window crosses a segment"
    times = pd.DatetimeIndex(series["time"].values)  # and in time: every window's frames are 5 min apart
    assert ((times[starts + W - 1] - times[starts]) == (W - 1) * STEP).all()


def test_three_event_files_ingest_as_three_segments_each_whole_in_one_split(tmp_path):
    catalog = _ingest(tmp_path, _events(tmp_path / "radar"), validation={"segments": "gaps"},
                      splits={"by": "segment"})
    series = catalog.load("series")["series"]
    index = catalog.load("sample_index")
    assert series.sizes["time"] == sum(N_STEPS), "the days between the events are left out of the series"
    assert np.bincount(series["segment"].values).tolist() == list(N_STEPS)
    assert sorted(index["segment"].unique()) == [0, 1, 2]
    _check_no_window_crosses_a_segment(index, series)
    splits_per_event = index.groupby("segment")["split"].unique()
    assert splits_per_event.map(len).eq(1).all(), f"an event sits in two splits: {splits_per_event.to_dict()}"
    assert splits_per_event.map(lambda s: s[0]).tolist() == ["train", "val", "test"]  # in time order
    assert len(index) == sum(n - W + 1 for n in N_STEPS)  # every window of every event, none dropped
    stats = catalog.load("normalisation_stats")
    assert stats["train_end"] < STARTS[1], "the statistics read the training event only"


def test_events_cut_in_time_keep_the_purge_gap_and_fill_short_gaps_inside_an_event(tmp_path):
    path = _events(tmp_path / "radar", e1=(10, 11))  # two steps missing inside the second event
    catalog = _ingest(tmp_path, path, validation={"segments": "gaps", "max_gap_steps": 2})
    series = catalog.load("series")["series"]
    index = catalog.load("sample_index")
    assert np.bincount(series["segment"].values).tolist() == list(N_STEPS)  # the short gap was filled
    _check_no_window_crosses_a_segment(index, series)
    frames = {split: {f for s in rows["start"] for f in range(s, s + W)} for split, rows in index.groupby("split")}
    assert not (frames["train"] & frames["val"]) and not (frames["val"] & frames["test"])


def test_a_long_gap_names_segments_as_the_fix_and_writes_nothing(tmp_path):
    path = _events(tmp_path / "radar")
    with pytest.raises(InputError, match=r"gap of \d+ missing step.*Fix: set ingest\.validation\.segments: gaps.*"
                                         r"interpolation \(ingest\.validation\.max_gap_steps\) is for short gaps"):
        _ingest(tmp_path, path)
    assert files_under(tmp_path / "out") == []
    with pytest.raises(InputError, match="splitting by segment needs at least 3"):  # two events
        _ingest(tmp_path, str(tmp_path / "radar" / "event_[01].nc"), validation={"segments": "gaps"},
                splits={"by": "segment"})


def test_each_file_of_a_glob_is_a_segment_of_its_own_with_segments_files(tmp_path):
    folder = tmp_path / "radar"
    folder.mkdir()
    for k in range(3):  # three files end to end, no gap between them
        _radar_event(folder / f"part_{k}.nc", str(pd.Timestamp(STARTS[0]) + k * 30 * STEP), 30, seed=k)
    catalog = _ingest(tmp_path, str(folder / "part_*.nc"), validation={"segments": "files"},
                      splits={"by": "segment"})
    series, index = catalog.load("series")["series"], catalog.load("sample_index")
    assert np.bincount(series["segment"].values).tolist() == [30, 30, 30]
    _check_no_window_crosses_a_segment(index, series)
    assert index.groupby("segment")["split"].nunique().eq(1).all()


def test_gaps_split_one_series_and_splits_by_segment_balance_the_windows():
    times = pd.date_range("2020-01-01", periods=300, freq="h").delete(np.r_[50:60, 120:121, 200:230])
    _, regular, segment = time_axis(times, "t", 1, segments="gaps")
    assert np.bincount(segment).tolist() == [50, 140, 70]  # the one-step gap is filled, the longer ones split
    assert len(regular) == 260 and regular[50] == pd.Timestamp("2020-01-03 12:00")
    segment = np.repeat(np.arange(5), 40)  # five events of 37 windows of 4 steps each
    index = make_sample_index(pd.date_range("2020", periods=200, freq="h"), t_in=2, t_out=2,
                              fractions={"train": 0.6, "val": 0.2, "test": 0.2}, segment=segment, by="segment")
    assert index.groupby("segment")["split"].unique().map(list).tolist() == [["train"]] * 3 + [["val"], ["test"]]
    assert len(index) == 5 * 37


def test_splitting_by_segment_without_segments_is_refused_before_any_read():
    with pytest.raises(ParameterError, match=r"ingest\.splits\.by: segment needs segments: set "
                                             r"ingest\.validation\.segments: gaps"):
        IngestParams.model_validate({"splits": {"by": "segment"}})
    with pytest.raises(ParameterError, match=r"ingest\.validation\.segments: is 'events'.*'gaps' or 'files'"):
        IngestParams.model_validate({"validation": {"segments": "events"}})
