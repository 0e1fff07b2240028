"""Structural similarity (SSIM, Wang et al. 2004) per lead time and channel, two ways.

:func:`ssim`: a Gaussian window (σ = 1.5, 11 × 11, or the largest odd size that fits a smaller grid),
population covariances, ``K1 = 0.01``, ``K2 = 0.03`` with ``L`` the channel's training value range
(``skimage.metrics.structural_similarity(gaussian_weights=True, use_sample_covariance=False)``).

:func:`ssim_openstl`: OpenSTL's ``metric(..., metrics=["ssim"])``, i.e. skimage's defaults before
0.24 on frames in [0, 1]: a 7 × 7 uniform window, sample covariances (× 49/48), ``L = 2`` (skimage's
range for float images), the forecast clipped to [0, 1].

Both take statistics only where the whole window fits (skimage crops the border it pads), compute
each frame and channel separately and average over forecasts and positions: ``(T, C)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from s2kd.metrics.pointwise import check


def gaussian_window(size: int, sigma: float = 1.5) -> Tensor:
    """A normalised ``(size, size)`` Gaussian window."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def window_size(height: int, width: int, preferred: int = 11) -> int:
    """The largest odd window ``<= preferred`` that fits the grid."""
    size = min(preferred, height, width)
    return size if size % 2 == 1 else size - 1


def _ssim(pred: Tensor, truth: Tensor, kernel: Tensor, data_range: Tensor, cov_norm: float) -> Tensor:
    """Mean SSIM per lead and channel, statistics from the ``(k, k)`` ``kernel`` over valid positions."""
    n, t, c, h, w = pred.shape
    rng = torch.as_tensor(data_range, dtype=torch.float64).reshape(1, 1, -1, 1, 1)
    c1, c2 = (0.01 * rng) ** 2, (0.03 * rng) ** 2
    x, y = pred.reshape(-1, 1, h, w), truth.reshape(-1, 1, h, w)

    def blur(z: Tensor) -> Tensor:
        out = F.conv2d(z, kernel[None, None])
        return out.reshape(n, t, c, *out.shape[-2:])

    mx, my = blur(x), blur(y)
    vx, vy = cov_norm * (blur(x * x) - mx * mx), cov_norm * (blur(y * y) - my * my)
    cxy = cov_norm * (blur(x * y) - mx * my)
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(dim=(0, 3, 4))


def ssim(pred: Tensor, truth: Tensor, data_range: Tensor, *, sigma: float = 1.5) -> Tensor:
    """Gaussian-window SSIM per lead and channel; ``data_range`` ``(C,)``: each channel's ``L``."""
    pred, truth = check(pred, truth)
    kernel = gaussian_window(window_size(*pred.shape[-2:]), sigma)
    return _ssim(pred, truth, kernel, data_range, cov_norm=1.0)


def ssim_openstl(pred: Tensor, truth: Tensor) -> Tensor:
    """OpenSTL's SSIM per lead and channel, for frames in [0, 1] (the forecast is clipped to it)."""
    pred, truth = check(pred, truth)
    size = window_size(*pred.shape[-2:], preferred=7)
    kernel = torch.full((size, size), 1.0 / size**2, dtype=torch.float64)
    return _ssim(pred.clamp(0.0, 1.0), truth, kernel, torch.tensor(2.0), cov_norm=size**2 / (size**2 - 1))
