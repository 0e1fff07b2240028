"""The radar narrator's words checked against the field, on real KNMI and BoM radar.

Every number and word of the input window is recomputed here from the dBZ frames, independently of
the narrator's code: the echo coverage ("covers N% of the area"), where the echo mass is ("mostly in
the centre"), where the strongest pixel is ("cores there / in the south"), growing or decaying, and
the heading, against a brute-force search of the shift between consecutive frames.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

from s2kd.data.sources.xarray_source import load_xarray
from s2kd.narrators.regions import compass_name
from tests.narrators.test_diagnostic import HINDSIGHT, cut_windows

logger = logging.getLogger(__name__)
ECHO_DBZ = 10.0
HEADINGS = {"north": (-1, 0), "northeast": (-1, 1), "east": (0, 1), "southeast": (1, 1), "south": (1, 0),
            "southwest": (1, -1), "west": (0, -1), "northwest": (-1, -1)}
#: file, coarsening, rain factor (mm per frame to mm/h), frames between window starts, windows whose wet area
#: clearly changes (KNMI's 7.6 hours are one band of steady rain: none)
RADARS = {"knmi": ("knmi.nc", 6, 12, 3, 0), "bom": ("bom_c10.nc", 4, 6, 3, 2)}


def _best_shift(a: np.ndarray, b: np.ndarray, reach: int) -> np.ndarray:
    """The integer ``(dy, dx)`` within ``reach`` that best moves ``a`` onto ``b`` (least squares on the overlap)."""
    h, w = a.shape
    best, arg = np.inf, (0, 0)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            moved = a[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
            there = b[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)]
            err = float(np.mean((moved - there) ** 2))
            if err < best:
                best, arg = err, (dy, dx)
    return np.array(arg, dtype=float)


def _centre(e: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(e.shape)
    return float((rows * e).sum() / e.sum()), float((cols * e).sum() / e.sum())


@pytest.mark.parametrize("radar", sorted(RADARS))
def test_radar_words_match_the_field(shared_data, radar):
    file, coarsen, factor, every, changing = RADARS[radar]
    source = load_xarray(path=str(shared_data / "radar" / file), coarsen={"y": coarsen, "x": coarsen},
                         transform="dbz", clip_min=0.0, transform_options={"rate_factor": factor})
    series = source.series.compute()
    dbz = np.nan_to_num(series.values[:, 0].astype(float), nan=-15.0)
    starts = np.arange(0, dbz.shape[0] - 8, every)
    samples = cut_windows(series, source.events, starts, fill=-15.0)
    checked = {"coverage": 0, "trend": 0}
    headings = []
    for start, sample in zip(starts, samples, strict=True):
        text = HINDSIGHT.describe(sample)
        frames = dbz[start:start + 4]
        echo = np.clip(frames - ECHO_DBZ, 0.0, None)
        last = frames[-1]
        said = re.search(r"(?:cover|covers) (\d+)% of the area, mostly in (the [a-z-]+), with \w+ cores "
                         r"(there|in the [a-z-]+)", text)
        if echo[-1].sum() == 0:
            assert said is None and "No rain to speak of" in text, text
            continue
        assert said, text
        assert abs(int(said.group(1)) - 100 * float((last > ECHO_DBZ).mean())) <= 0.5, (text, (last > ECHO_DBZ).mean())
        assert said.group(2) == compass_name(*_centre(echo[-1]), *last.shape), text
        peak = compass_name(*np.unravel_index(int(np.argmax(last)), last.shape), *last.shape)
        assert (said.group(3) == "there" and peak == said.group(2)) or said.group(3) == f"in {peak}", text
        checked["coverage"] += 1
        cover = (frames > ECHO_DBZ).mean(axis=(1, 2))
        change = (cover[-1] - cover[0]) / max(cover[0], cover[-1])
        if abs(change) > 0.2:  # a clear change of the wet area (the narrator judges from 0.15)
            assert f"The rain is {'growing' if change > 0 else 'decaying'}" in text, (text, cover)
            checked["trend"] += 1
        heading = re.search(r"The rain is \w+ and (?:moving quickly|drifting|moving) (\w+)", text)
        if heading and (echo.sum(axis=(1, 2)) > 0).all():
            shift = sum(_best_shift(echo[k], echo[k + 1], 4) for k in range(3))
            if np.hypot(*shift) >= 1:
                v = np.array(HEADINGS[heading.group(1)], dtype=float)
                headings.append(float(v @ shift / (np.linalg.norm(v) * np.linalg.norm(shift))) > 0.7)
    logger.info("%s: %d windows' coverage, centre and cores checked, %d trends, headings agree in %d of %d",
                radar, checked["coverage"], checked["trend"], sum(headings), len(headings))
    assert checked["coverage"] >= 20 and checked["trend"] >= changing, checked
    assert len(headings) >= 15 and np.mean(headings) >= 0.75, (np.mean(headings), len(headings))
