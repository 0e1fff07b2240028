import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s2kd.data.splits import make_sample_index, split_frames
from s2kd.errors import InputError

FR = {"train": 0.7, "val": 0.15, "test": 0.15}


def _times(n):
    return pd.date_range("2020-01-01", periods=n, freq="6h")


@settings(max_examples=60, deadline=None)
@given(n=st.integers(40, 400), t_in=st.integers(1, 8), t_out=st.integers(1, 8), stride=st.integers(1, 4))
def test_no_frame_is_read_by_two_splits(n, t_in, t_out, stride):
    w = t_in + t_out
    try:
        index = make_sample_index(_times(n), t_in=t_in, t_out=t_out, fractions=FR, stride=stride)
    except InputError as exc:
        assert "too short" in str(exc)
        assert n - w + 1 - 2 * (w - 1) < 15  # only short series may be refused
        return
    frames = {}
    for split, rows in index.groupby("split"):
        f = set()
        for s in rows["start"]:
            f |= set(range(s, s + w))
        frames[split] = f
        assert max(f) < n
    assert set(frames) == {"train", "val", "test"}
    assert not frames["train"] & frames["val"] and not frames["val"] & frames["test"]
    assert not frames["train"] & frames["test"]
    # contiguous order in time, separated by at least the purge gap
    assert max(frames["train"]) < min(frames["val"]) and max(frames["val"]) < min(frames["test"])
    last_train = index.loc[index.split == "train", "start"].max()
    first_val = index.loc[index.split == "val", "start"].min()
    assert first_val - last_train >= w


def test_times_of_a_window():
    t = _times(100)
    index = make_sample_index(t, t_in=3, t_out=2, fractions=FR)
    row = index.iloc[5]
    assert row.input_start == t[row.start]
    assert row.init_time == t[row.start + 2]
    assert row.target_start == t[row.start + 3]
    assert row.target_end == t[row.start + 4]
    assert list(index.sample_id) == list(range(len(index)))


def test_split_frames_cover_train_windows():
    index = make_sample_index(_times(100), t_in=4, t_out=4, fractions=FR)
    sl = split_frames(index, "train", 8)
    starts = index.loc[index.split == "train", "start"]
    assert sl.start == starts.min() and sl.stop == starts.max() + 8


def test_too_short_series_is_a_clear_error():
    with pytest.raises(InputError, match="too short.*Fix: use a series of at least"):
        make_sample_index(_times(20), t_in=4, t_out=4, fractions=FR, where="my.nc")
