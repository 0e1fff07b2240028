"""The ``synthetic`` source: a deterministic, seeded, weather-like near-surface temperature field.

The embedded default of the project (DESIGN.md section 3). One channel, ``t`` (Kelvin), on a regular
latitude/longitude grid of cell centres (32 x 64 by default, the WeatherBench 5.625 degree grid),
sampled every ``step_hours`` from ``start``. The field is the sum of four parts:

1. **Climatology** ``~300 K`` at the equator and ``~250 K`` at the poles, plus a seasonal cycle of
   opposite sign in the two hemispheres whose amplitude grows with ``|lat|`` (14 K at the north pole,
   9 K at the south pole; the northern hemisphere is warmest in mid July), plus a fixed smooth random
   "orography/land" pattern of about 3 K standard deviation.
2. **Diurnal cycle** in local solar time (``UTC hour + lon / 15``), peaking at 15 h local, of
   amplitude ``4 K * cos(lat)`` (vanishing towards the poles).
3. **Anomalies**: a smooth random field (Gaussian spectrum, low wavenumbers) of standard deviation
   ``anomaly_std`` evolved as an AR(1) process, ``a_t = phi * shift(a_{t-1}) + sqrt(1 - phi^2) * n_t``
   with ``phi = exp(-step_hours / 72 h)``. ``shift`` advects every latitude row zonally by a
   latitude-dependent wind (a fractional shift by a phase rotation of the row's Fourier series): weak
   tropical easterlies and a westerly jet of 25 m/s in each hemisphere whose latitude meanders in time
   around +-45 degrees (two sinusoids of 9 and 31 day periods with random phases). The shift preserves
   the variance of every Fourier coefficient, so the process is stationary in variance.
4. **Events** (:mod:`s2kd.data.sources.synthetic_events`): heat waves (positive, large, slow), cold
   outbreaks (negative, large) and storms (negative, smaller, fast). Their number is Poisson with
   ``events_per_year`` per year; their onsets are uniform over the series, starting up to eight days
   before it so that events are cut at both ends (only events with at least one non-zero frame inside
   the series are kept). Each event has a duration of days (heat 3-8 d, cold 2-6 d, storm 1-3 d,
   rounded to an even number of steps), a centre in the mid-latitudes (30-60 degrees) of either
   hemisphere at a random longitude, a heading among the eight compass points with a type-dependent
   speed (heat 1.5, cold 4, storm 8 degrees of great circle per day, times 0.7-1.3), and a Gaussian
   blob ``exp(-d^2 / (2 radius_deg^2))`` where ``d^2 = dlat^2 + (dlon * cos(mean lat))^2`` with
   ``dlon`` wrapped to +-180 degrees. The blob's amplitude follows the envelope
   ``sin^2(pi * (step - onset_step) / duration)``: zero at ``onset_step`` and ``end_step``, equal to
   the event's ``amplitude`` exactly at ``peak_step`` (the middle). The amplitude is the type's base
   (+8 K, -10 K, -6 K) times a random factor 0.75-1.25 times ``event_strength``.
5. **Sudden events**: cold snaps (-30 K) and warm surges (+26 K), ``sudden_per_year`` of them (365 by
   default: about one onset per day), forming within 3 degrees of one of eight genesis sites, each of
   which forms one kind (cold snaps in the lee of the Rockies, over Genoa, the Kuroshio and
   Patagonia; warm surges over the Gulf Stream, the North Pacific, Iceland and the Tasman Sea),
   radius 20-28 degrees, lasting 1.5-3 days, that reach their peak 12 hours after onset
   (``sin^2`` up, ``cos^2`` down), times 0.75-1.25 times ``sudden_strength``. One whose onset falls
   in a sample's target window is invisible in its input frames: only the hindsight narrative, which
   names it (kind, place, strength, the forecast hour it shows from), can tell the teacher. ``sudden_strength`` is the
   dial of what the text knows that the pixels do not.

``event_strength`` and ``sudden_strength`` set how much of the future the events drive, from 0 (pure
background) upwards. At 0 the events table keeps exactly the same rows (the same seed gives the same
event list whatever the strength) with ``amplitude`` 0, and no such event contributes to the field.

Why events are only partly visible from a few past frames, as S2-KD needs: an event whose onset lies
after the input window leaves no trace in it; the ``sin^2`` envelope starts flat, so a young event is
a weak blob among anomalies of similar size and scale; its type is only hinted at by the sign and
size; its duration (hence the peak time, and whether it is still growing or already decaying) is
random; and its heading is hard to see because the displacement over a few frames is small compared
with the radius while the background is itself advected by the jet. The events table records all of
it, so narratives can state what the pixels only hint at.

Determinism: four independent random streams (``numpy.random.SeedSequence(seed).spawn(4)``) drive
the background (anomalies and jet phases), the orography, the slow events and the sudden events. The
same seed gives bit-identical output; changing a strength leaves the background and the event lists
bit-identical (frames where no event is active are identical).
"""

from __future__ import annotations

import json
import logging
import math
import time as _time
from typing import Annotated, Any

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import Field, StrictInt, field_validator

from s2kd.data.sources.base import SourceData
from s2kd.data.sources.synthetic_events import (
    EVENT_TYPES,
    SUDDEN_SITES,
    SUDDEN_TYPES,
    add_events,
    draw_events,
    number_events,
)
from s2kd.params import Count, NonNegative, Params, Positive, PositiveInt

logger = logging.getLogger(__name__)

_DEG_PER_M = 1.0 / 111_195.0  # degrees of great circle per metre
_CHUNK = 512  # time steps of noise drawn at once (bounds memory)


# --------------------------------------------------------------------------------------------------
# parameters and grid
# --------------------------------------------------------------------------------------------------


class SyntheticOptions(Params):
    """The ``ingest.synthetic`` options (conf/base/parameters_ingest.yml).

    Attributes:
        seed: random seed; the same seed gives bit-identical output.
        n_times: number of time steps.
        height: latitude rows.
        width: longitude columns.
        start: first timestamp (anything ``pandas.Timestamp`` parses, without a time zone).
        step_hours: hours between steps.
        anomaly_std: standard deviation of the advected background anomalies, K.
        event_strength: factor on every event amplitude; 0 leaves the event table but no event in
            the field.
        events_per_year: mean number of slow events per year of series.
        sudden_strength: factor on every sudden event's amplitude (the dial of what only the
            hindsight narrative knows); 0 leaves their rows but none in the field.
        sudden_per_year: mean number of sudden events per year of series.
    """

    group = "ingest.synthetic"

    seed: Count = 0
    n_times: PositiveInt = 1460
    height: Annotated[StrictInt, Field(ge=2)] = 32
    width: Annotated[StrictInt, Field(ge=2)] = 64
    start: str = "2013-01-01"
    step_hours: Positive = 6.0
    anomaly_std: NonNegative = 3.0
    event_strength: NonNegative = 1.0
    events_per_year: NonNegative = 30.0
    sudden_strength: NonNegative = 1.0
    sudden_per_year: NonNegative = 365.0

    @field_validator("start")
    @classmethod
    def _naive_date(cls, value: str) -> str:
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"set a date such as '2013-01-01' or '2013-01-01T06:00' ({exc})") from None
        if ts is pd.NaT or ts.tzinfo is not None:
            raise ValueError("set a naive date such as '2013-01-01'")
        return value


def latlon_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre latitudes and longitudes of the regular global grid (WeatherBench style).

    Args:
        height: number of latitude rows.
        width: number of longitude columns.

    Returns:
        ``(lat, lon)`` in degrees: ``lat`` ascending from ``-90 + dlat/2`` to ``90 - dlat/2`` with
        ``dlat = 180 / height``; ``lon = arange(width) * 360 / width``.
    """
    dlat = 180.0 / height
    lat = -90.0 + dlat / 2 + dlat * np.arange(height)
    lon = np.arange(width) * (360.0 / width)
    return lat, lon


def _lonspec_noise(rng: np.random.Generator, n: int, height: int, width: int, k0: float) -> np.ndarray:
    """``n`` independent smooth unit-variance random fields, as their Fourier series along longitude.

    White noise on a ``(2 * height, width)`` torus (both directions 360 degrees long, so the filter is
    isotropic in degrees) is filtered by ``exp(-(m^2 + k^2) / (4 k0^2))`` (a Gaussian power spectrum
    of e-folding wavenumber ``k0``), normalised so every pixel has unit variance, and the first
    ``height`` rows are kept (smooth in latitude, not periodic across the poles).

    Returns:
        complex array ``(n, height, width // 2 + 1)``: the ``rfft`` along longitude of each field;
        the Nyquist coefficient is zero.
    """
    m = np.fft.fftfreq(2 * height, 1.0 / (2 * height))
    k_full = np.fft.fftfreq(width, 1.0 / width)
    filt_full = np.exp(-(m[:, None] ** 2 + k_full[None, :] ** 2) / (4 * k0**2))
    if width % 2 == 0:
        filt_full[:, width // 2] = 0.0
    scale = 1.0 / math.sqrt(float(np.mean(filt_full**2)))  # white noise -> unit variance
    k = np.arange(width // 2 + 1)
    filt = np.exp(-(m[:, None] ** 2 + k[None, :] ** 2) / (4 * k0**2)) * scale
    if width % 2 == 0:
        filt[:, -1] = 0.0
    white = rng.standard_normal((n, 2 * height, width))
    spec = np.fft.rfft2(white) * filt  # (n, 2H, K)
    return np.fft.ifft(spec, axis=-2)[:, :height, :]


# --------------------------------------------------------------------------------------------------
# the loader
# --------------------------------------------------------------------------------------------------


def load_synthetic(options: SyntheticOptions | None = None, /, **overrides: Any) -> SourceData:
    """Generate the synthetic near-surface temperature series and its event table.

    Args:
        options: the options; or give them as keywords (``load_synthetic(n_times=200)``), the
            others taking their defaults.

    Returns:
        :class:`SourceData` with ``series`` (float32, dims ``(time, channel, y, x)``, channel ``t``,
        coords ``lat(y)``/``lon(x)``, attrs ``grid``, ``units`` (JSON), ``source``, ``generator``
        (JSON of the options)), ``events`` (columns :data:`EVENT_COLUMNS`) and an empty
        ``time_context``.

    Raises:
        ParameterError: an option outside its range (named ``ingest.synthetic.<name>``).
    """
    t0 = _time.perf_counter()
    o = options if options is not None else SyntheticOptions.model_validate(overrides)
    seed, n_times, height, width = o.seed, o.n_times, o.height, o.width
    step_hours, anomaly_std = o.step_hours, o.anomaly_std
    start_ts = pd.Timestamp(o.start)
    params = {**o.model_dump(exclude={"start"}), "start": str(start_ts)}

    streams = np.random.SeedSequence(seed).spawn(4)
    rng_bg, rng_oro, rng_ev, rng_sudden = (np.random.default_rng(s) for s in streams)
    lat, lon = latlon_grid(height, width)
    lat_r = np.deg2rad(lat)
    times = pd.date_range(start_ts, periods=n_times, freq=pd.Timedelta(hours=step_hours))
    hour_utc = (times.hour + times.minute / 60 + times.second / 3600).to_numpy(dtype=float)
    doy = times.day_of_year.to_numpy(dtype=float) - 1 + hour_utc / 24
    t_days = np.arange(n_times) * step_hours / 24.0

    # 1. climatology: latitude profile, seasonal cycle (opposite sign per hemisphere), orography
    base = 250.0 + 50.0 * np.cos(lat_r) ** 2  # (H,)
    season_amp = np.where(lat >= 0, 14.0, 9.0) * np.sin(lat_r)  # signed, grows with |lat|
    season = np.cos(2 * np.pi * (doy - 196.0) / 365.25)  # +1 in mid July
    orography = 3.0 * np.fft.irfft(_lonspec_noise(rng_oro, 1, height, width, k0=5.0)[0], n=width, axis=-1)
    field = np.empty((n_times, height, width))
    field[:] = (base[:, None] + orography)[None]
    field += (season[:, None] * season_amp[None, :])[:, :, None]

    # 2. diurnal cycle in local solar time, peak at 15 h local
    local_hour = hour_utc[:, None] + lon[None, :] / 15.0  # (T, W)
    field += 4.0 * np.cos(lat_r)[None, :, None] * np.cos(2 * np.pi * (local_hour - 15.0) / 24.0)[:, None, :]

    # 3. anomalies: AR(1) of smooth fields, advected zonally by easterlies and a meandering jet
    phases = rng_bg.uniform(0.0, 2 * np.pi, 4)
    jet_lat = {  # jet latitude (degrees, positive) in each hemisphere, meandering around 45
        h: 45.0 + 6.0 * np.sin(2 * np.pi * t_days / 9.0 + phases[2 * i])
        + 3.0 * np.sin(2 * np.pi * t_days / 31.0 + phases[2 * i + 1])
        for i, h in enumerate((1.0, -1.0))
    }
    jet_here = np.where(lat[None, :] >= 0, jet_lat[1.0][:, None], jet_lat[-1.0][:, None])  # (T, H)
    u_ms = (25.0 * np.exp(-(((np.abs(lat)[None, :] - jet_here) / 12.0) ** 2))
            - 6.0 * np.exp(-((lat / 15.0) ** 2))[None, :])
    shift_deg = u_ms * step_hours * 3600.0 * _DEG_PER_M / np.maximum(np.cos(lat_r), 0.1)[None, :]  # (T, H)
    k = np.arange(width // 2 + 1)
    phi = math.exp(-step_hours / 72.0)
    innov = math.sqrt(1.0 - phi**2)
    if anomaly_std > 0:
        anom = np.empty((n_times, height, width))
        state = None
        for c0 in range(0, n_times, _CHUNK):
            c1 = min(c0 + _CHUNK, n_times)
            noise = _lonspec_noise(rng_bg, c1 - c0, height, width, k0=4.0)
            rot = np.exp(-1j * np.deg2rad(shift_deg[c0:c1])[:, :, None] * k[None, None, :])  # (S, H, K)
            out = np.empty_like(noise)
            for j in range(c1 - c0):
                state = noise[j] if state is None else phi * rot[j] * state + innov * noise[j]
                out[j] = state
            anom[c0:c1] = np.fft.irfft(out, n=width, axis=-1)
        field += anomaly_std * anom

    # 4. and 5. events, each family from its own stream
    timing = {"n_times": n_times, "step_hours": step_hours, "start": start_ts}
    events = number_events([
        draw_events(rng_ev, EVENT_TYPES, per_year=o.events_per_year, strength=o.event_strength, **timing),
        draw_events(rng_sudden, SUDDEN_TYPES, per_year=o.sudden_per_year, strength=o.sudden_strength,
                    sites=SUDDEN_SITES, **timing),
    ], start=start_ts, step_hours=step_hours)
    add_events(field, events, lat, lon)

    series = xr.DataArray(
        field.astype(np.float32)[:, None],
        dims=("time", "channel", "y", "x"),
        coords={
            "time": times.values.astype("datetime64[ns]"),
            "channel": ["t"],
            "y": np.arange(height),
            "x": np.arange(width),
            "lat": ("y", lat),
            "lon": ("x", lon),
        },
        name="series",
        attrs={
            "grid": "latlon",
            "cycles": json.dumps(["annual", "diurnal"]),
            "units": json.dumps({"t": "K"}),
            "source": "synthetic",
            "generator": json.dumps(params),
            "long_name": "synthetic near-surface temperature",
        },
    )
    logger.info("synthetic: %d steps of %dx%d, %d events (strength %g, sudden %g), generated in %.2f s",
                n_times, height, width, len(events), o.event_strength, o.sudden_strength, _time.perf_counter() - t0)
    return SourceData(series=series, events=events, time_context=pd.DataFrame())
