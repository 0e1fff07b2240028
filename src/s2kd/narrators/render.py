"""Render the frames of one sample as one PNG, for a vision model to read.

One panel per frame in a row, a shared colour scale with a colour bar naming the channel and its
unit, the timestamp of each frame above its panel, and latitude/longitude ticks on ``latlon``
grids (pixel indices otherwise). The figure is drawn with the object-oriented ``Figure`` API on an
Agg canvas (no ``pyplot`` state, safe to call from any backend setting) and saved without
metadata, so the same input always gives the same bytes: the bytes are part of the narrative
cache key.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from s2kd.narrators.base import Grid, SampleContext

#: matplotlib's text rendering shares font objects between figures: draw one figure at a time.
_LOCK = threading.Lock()
_PANEL_WIDTH_IN = 2.6
_N_TICKS = 4
_CMAP = "viridis"


def _lat_label(v: float) -> str:
    v = float(v)
    if abs(v) < 0.05:
        return "0°"
    return f"{abs(v):.0f}°{'N' if v > 0 else 'S'}" if abs(v) >= 10 else f"{abs(v):.1f}°{'N' if v > 0 else 'S'}"


def _lon_label(v: float) -> str:
    v = (float(v) + 180.0) % 360.0 - 180.0
    if abs(v) < 0.05 or abs(abs(v) - 180.0) < 0.05:
        return f"{abs(v):.0f}°"
    return f"{abs(v):.0f}°{'E' if v > 0 else 'W'}" if abs(v) >= 10 else f"{abs(v):.1f}°{'E' if v > 0 else 'W'}"


def _tick_positions(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(_N_TICKS, n)).round().astype(int))


def value_range(*arrays: np.ndarray | None) -> tuple[float, float]:
    """The finite ``(min, max)`` over the given arrays, widened when flat; ``(0, 1)`` when all-NaN."""
    finite = [a[np.isfinite(a)] for a in arrays if a is not None]
    finite = [a for a in finite if a.size]
    if not finite:
        return 0.0, 1.0
    lo = float(min(a.min() for a in finite))
    hi = float(max(a.max() for a in finite))
    if not hi > lo:
        pad = max(abs(lo) * 1e-3, 1e-6)
        lo, hi = lo - pad, hi + pad
    return lo, hi


def render_frames(
    frames: np.ndarray,
    times: Sequence[pd.Timestamp] | pd.DatetimeIndex | None,
    grid: Grid,
    *,
    channel: int = 0,
    dpi: int = 80,
    vrange: tuple[float, float] | None = None,
    labels: Sequence[str] | None = None,
) -> bytes:
    """Frames ``(T, C, H, W)`` (physical units) of one channel as one PNG, panels in a row.

    Args:
        frames: the frames, ``(T, C, H, W)``.
        times: one timestamp per frame (panel titles), or ``None``.
        grid: the grid (kind, channel names and units, ``lat``/``lon``).
        channel: which channel to draw.
        dpi: resolution of the PNG.
        vrange: the colour scale ``(vmin, vmax)``; ``None``: the finite range of ``frames``.
        labels: a short tag per frame appended to its title (``t-3`` ... ``t0``), or ``None``.

    Returns:
        The PNG bytes (no timestamps or software tag inside: equal inputs give equal bytes).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"frames must be (T, C, H, W), got shape {frames.shape}")
    n_t, n_c, h, w = frames.shape
    if not 0 <= channel < n_c:
        raise ValueError(f"channel {channel} out of range for {n_c} channels")
    data = frames[:, channel].astype(np.float32, copy=False)
    vmin, vmax = vrange if vrange is not None else value_range(data)
    name = grid.channels[channel] if channel < len(grid.channels) else f"channel {channel}"
    unit = grid.units.get(name, "")

    latlon = (grid.kind == "latlon" and grid.lat is not None and grid.lon is not None
              and len(grid.lat) == h and len(grid.lon) == w)
    # north up: draw row 0 at the bottom when latitudes increase with the row index
    origin = "lower" if latlon and float(grid.lat[0]) < float(grid.lat[-1]) else "upper"

    panel_h = float(np.clip(_PANEL_WIDTH_IN * h / max(w, 1), 1.0, 4.0))
    left, right, top, bottom, gap, cbar = 0.55, 0.95, 0.35, 0.45, 0.45, 0.12
    fig_w = left + n_t * _PANEL_WIDTH_IN + (n_t - 1) * gap + 0.2 + cbar + right
    fig_h = top + panel_h + bottom

    with _LOCK:
        fig = Figure(figsize=(fig_w, fig_h), dpi=dpi)
        FigureCanvasAgg(fig)
        image = None
        for i in range(n_t):
            x0 = (left + i * (_PANEL_WIDTH_IN + gap)) / fig_w
            ax = fig.add_axes((x0, bottom / fig_h, _PANEL_WIDTH_IN / fig_w, panel_h / fig_h))
            image = ax.imshow(data[i], origin=origin, vmin=vmin, vmax=vmax, cmap=_CMAP,
                              interpolation="nearest", aspect="auto")
            title = pd.Timestamp(times[i]).strftime("%Y-%m-%d %H:%M") if times is not None and i < len(times) else ""
            if labels is not None and i < len(labels):
                title = f"{title} ({labels[i]})" if title else labels[i]
            ax.set_title(title, fontsize=8)
            ax.tick_params(labelsize=7, length=2)
            xt, yt = _tick_positions(w), _tick_positions(h)
            ax.set_xticks(xt)
            ax.set_yticks(yt)
            if latlon:
                ax.set_xticklabels([_lon_label(grid.lon[j]) for j in xt])
                ax.set_yticklabels([_lat_label(grid.lat[j]) for j in yt] if i == 0 else [])
            else:
                if i == 0:
                    ax.set_ylabel("y (pixel)", fontsize=7)
                else:
                    ax.set_yticklabels([])
                ax.set_xlabel("x (pixel)", fontsize=7)
        cax = fig.add_axes(((fig_w - right - cbar) / fig_w, bottom / fig_h, cbar / fig_w, panel_h / fig_h))
        bar = fig.colorbar(image, cax=cax)
        bar.set_label(f"{name} ({unit})" if unit else name, fontsize=8)
        bar.ax.tick_params(labelsize=7)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def _labels(n: int, *, future: bool) -> list[str]:
    return [f"t+{i + 1}" for i in range(n)] if future else [f"t-{n - 1 - i}" if i < n - 1 else "t0" for i in range(n)]


def render_window(sample: SampleContext, *, channel: int = 0, dpi: int = 80,
                  vrange: tuple[float, float] | None = None) -> bytes:
    """The input frames of one sample as one PNG (see :func:`render_frames`).

    Args:
        sample: the sample.
        channel: which channel to draw.
        dpi: resolution of the PNG.
        vrange: the colour scale; ``None``: the finite range of the input frames.
    """
    return render_frames(sample.inputs, sample.input_times, sample.grid, channel=channel, dpi=dpi, vrange=vrange,
                         labels=_labels(len(sample.inputs), future=False))


def render_targets(sample: SampleContext, *, channel: int = 0, dpi: int = 80,
                   vrange: tuple[float, float] | None = None) -> bytes:
    """The target frames of one sample as one PNG (``hindsight`` mode); ``ValueError`` without targets."""
    if sample.targets is None:
        raise ValueError(f"sample {sample.sample_id} has no target frames")
    return render_frames(sample.targets, sample.target_times, sample.grid, channel=channel, dpi=dpi, vrange=vrange,
                         labels=_labels(len(sample.targets), future=True))
