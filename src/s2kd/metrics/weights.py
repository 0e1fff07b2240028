"""Area weights of a grid: ``cos φ`` on latitude/longitude grids (WeatherBench), equal otherwise."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def latitude_weights(lat: np.ndarray, width: int) -> Tensor:
    """``(H, W)`` weights ``cos φ / mean(cos φ)`` for latitudes ``lat`` in degrees (mean 1)."""
    lat = np.asarray(lat, dtype=np.float64)
    if lat.ndim != 1 or np.any(np.abs(lat) > 90):
        raise ValueError(f"latitudes must be a 1-D array in [-90, 90] degrees, "
                         f"got {lat.shape} {lat.min()}..{lat.max()}")
    w = np.cos(np.deg2rad(lat))
    w = w / w.mean()
    return torch.from_numpy(np.repeat(w[:, None], width, axis=1))


def grid_weights(lat: np.ndarray | None, shape: tuple[int, int]) -> Tensor:
    """Latitude weights when the grid has latitudes (``lat`` of length ``H``), else equal weights."""
    h, w = shape
    if lat is None or len(lat) != h:
        return torch.ones(h, w, dtype=torch.float64)
    return latitude_weights(lat, w)
