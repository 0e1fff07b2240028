"""Structural similarity (SSIM, Wang et al. 2004) per lead time.

A Gaussian window (σ = 1.5, 11 × 11, or the largest odd size that fits a smaller grid), constants
``K1 = 0.01``, ``K2 = 0.03``, population covariances, statistics only where the whole window fits
(as ``skimage.metrics.structural_similarity(gaussian_weights=True, use_sample_covariance=False)``);
each frame and channel separately, then the mean over samples, channels and positions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from s2kd.metrics.pointwise import _check


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


def ssim(pred: Tensor, truth: Tensor, data_range: Tensor | float | None = None, *, sigma: float = 1.5) -> Tensor:
    """SSIM per lead time.

    Args:
        data_range: the value range ``L`` in the constants ``(K·L)²``; default the truth's
            ``max − min`` over all samples.
    """
    pred, truth = _check(pred, truth)
    n, t, c, h, w = pred.shape
    L = truth.max() - truth.min() if data_range is None else torch.as_tensor(data_range, dtype=torch.float64)
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    kernel = gaussian_window(window_size(h, w), sigma)[None, None]
    x, y = pred.reshape(-1, 1, h, w), truth.reshape(-1, 1, h, w)

    def blur(z: Tensor) -> Tensor:
        return F.conv2d(z, kernel)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.reshape(n, t, c, -1).mean(dim=(0, 2, 3))
