"""Area weights of a grid: the cell area on latitude/longitude grids (WeatherBench 2), equal otherwise.

A cell's area is proportional to ``sin(φ_upper) − sin(φ_lower)`` between its latitude bounds. The
bounds are the midpoints between neighbouring latitudes; the outer bounds are half a spacing beyond
the first and last latitude, clipped to ±90°. On evenly spaced cell-centre grids this is ``cos φ``
up to a constant; a row at a pole (1.5° and 0.25° grids include ±90°) keeps the area of its polar cap,
where ``cos φ`` would give it none; a regional grid (NCEP's 75→15 °N) gets no phantom cells beyond it.
Weights are normalised to mean 1 over the grid, ascending or descending latitudes alike.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def cell_area_weights(lat: np.ndarray) -> np.ndarray:
    """``(H,)`` cell-area weights (mean 1) of the rows at latitudes ``lat`` (degrees, either order)."""
    lat = np.asarray(lat, dtype=np.float64)
    if lat.ndim != 1 or len(lat) < 2 or np.any(np.abs(lat) > 90) or np.any(np.diff(lat) == 0):
        raise ValueError(f"latitudes must be a 1-D array of 2 or more distinct values in [-90, 90] degrees, "
                         f"got {lat.shape} {lat.min()}..{lat.max()}")
    order = np.argsort(lat)
    phi = lat[order]
    inner = (phi[:-1] + phi[1:]) / 2
    bounds = np.concatenate([[phi[0] - (phi[1] - phi[0]) / 2], inner, [phi[-1] + (phi[-1] - phi[-2]) / 2]])
    bounds = np.deg2rad(np.clip(bounds, -90.0, 90.0))
    area = np.sin(bounds[1:]) - np.sin(bounds[:-1])
    weights = np.empty_like(area)
    weights[order] = area
    return weights / weights.mean()


def grid_weights(lat: np.ndarray | None, shape: tuple[int, int]) -> Tensor:
    """``(H, W)`` cell-area weights when the grid has latitudes (``lat`` of length ``H``), else ones."""
    h, w = shape
    if lat is None or len(lat) != h:
        return torch.ones(h, w, dtype=torch.float64)
    return torch.from_numpy(np.repeat(cell_area_weights(lat)[:, None], w, axis=1))
