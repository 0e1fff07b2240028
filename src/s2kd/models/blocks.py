"""Building blocks shared by every network in :mod:`s2kd.models`.

Convolutional blocks work on ``(N, C, H, W)``; token blocks on ``(B, N, d)`` (channel-last, as
``nn.MultiheadAttention(batch_first=True)`` wants). Nothing here knows about frames, text or configs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: The encoder halves the grid twice, so every network pads H and W to a multiple of this.
DOWNSAMPLE = 4


def num_groups(channels: int, max_groups: int = 8) -> int:
    """The largest group count ``<= max_groups`` that divides ``channels`` (for ``GroupNorm``)."""
    return max(g for g in range(1, max_groups + 1) if channels % g == 0)


def pad_to_multiple(x: Tensor, multiple: int = DOWNSAMPLE) -> Tensor:
    """Pad the last two dims (bottom and right, edge values repeated) up to a multiple of ``multiple``.

    Works on any leading shape; ``crop`` undoes it.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    lead = x.shape[:-2]
    flat = x.reshape(-1, 1, h, w)  # (N, 1, H, W): replicate padding wants a 4-D input
    flat = F.pad(flat, (0, pw, 0, ph), mode="replicate")
    return flat.reshape(*lead, h + ph, w + pw)  # (..., Hp, Wp)


def crop(x: Tensor, size: tuple[int, int]) -> Tensor:
    """The top-left ``size`` of the last two dims (undoes :func:`pad_to_multiple`)."""
    return x[..., : size[0], : size[1]]


class ConvNormAct(nn.Module):
    """``Conv2d`` (no bias) + ``GroupNorm`` + ``SiLU``; ``stride=2`` halves the grid (ceil)."""

    def __init__(self, in_ch: int, out_ch: int, *, kernel: int = 3, stride: int = 1, act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.norm = nn.GroupNorm(num_groups(out_ch), out_ch)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(self.conv(x)))


class Down(ConvNormAct):
    """A strided ``ConvNormAct``: ``(N, in, H, W) -> (N, out, ceil(H/2), ceil(W/2))``."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(in_ch, out_ch, kernel=3, stride=2)


class Up(nn.Module):
    """Double the grid: ``(N, in, H, W) -> (N, out, 2H, 2W)``.

    ``mode="bilinear"`` (default) upsamples then convolves, which avoids the checkerboard artefacts a
    strided transposed convolution leaves in the spectrum; ``mode="transpose"`` is a
    ``ConvTranspose2d(kernel=4, stride=2, padding=1)``. Both are followed by GroupNorm + SiLU.
    """

    def __init__(self, in_ch: int, out_ch: int, *, mode: str = "bilinear") -> None:
        super().__init__()
        assert mode in ("bilinear", "transpose"), f"Up mode must be 'bilinear' or 'transpose', got {mode!r}"
        self.mode = mode
        if mode == "transpose":
            self.conv = nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=False)
        else:
            self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
        self.norm = nn.GroupNorm(num_groups(out_ch), out_ch)
        self.act = nn.SiLU()

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "bilinear":
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)  # (N, in, 2H, 2W)
        return self.act(self.norm(self.conv(x)))


class LayerNorm2d(nn.LayerNorm):
    """``LayerNorm`` over the channels of ``(N, C, H, W)``, at every grid point separately."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)  # (N, H, W, C)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)  # (N, C, H, W)


class MLP(nn.Module):
    """Two-layer MLP ``dim -> ratio*dim -> dim`` with GELU.

    ``conv=False`` acts on the last dim of ``(..., dim)`` tokens; ``conv=True`` on the channels of
    ``(N, dim, H, W)`` through 1x1 convolutions (no permutes).
    """

    def __init__(self, dim: int, *, ratio: float = 4.0, dropout: float = 0.0, conv: bool = False) -> None:
        super().__init__()
        hidden = max(1, int(round(dim * ratio)))
        layer = (lambda i, o: nn.Conv2d(i, o, 1)) if conv else nn.Linear
        self.fc1, self.fc2 = layer(dim, hidden), layer(hidden, dim)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class LocalBlock(nn.Module):
    """Inception-style local mixing on ``(N, dim, H, W)``, shape preserved.

    ``x + pw(sum_k dw_k(norm(x)))`` with depthwise convolutions of kernel sizes ``kernels`` (the
    multi-scale receptive fields of SimVP's gInception at a fraction of its cost), then a 1x1-conv
    MLP residual ``x + mlp(norm(x))``.
    """

    def __init__(self, dim: int, *, kernels: tuple[int, ...] = (3, 5, 7), mlp_ratio: float = 2.0,
                 dropout: float = 0.0) -> None:
        super().__init__()
        assert all(k % 2 == 1 for k in kernels), f"depthwise kernels must be odd, got {kernels}"
        self.norm1 = nn.GroupNorm(num_groups(dim), dim)
        self.dw = nn.ModuleList(nn.Conv2d(dim, dim, k, padding=k // 2, groups=dim) for k in kernels)
        self.pw = nn.Conv2d(dim, dim, 1)
        self.norm2 = nn.GroupNorm(num_groups(dim), dim)
        self.mlp = MLP(dim, ratio=mlp_ratio, dropout=dropout, conv=True)
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.pw(self.act(sum(conv(h) for conv in self.dw)))
        return x + self.mlp(self.norm2(x))


class AttentionBlock(nn.Module):
    """Pre-norm transformer block on tokens ``(B, N, dim)``, shape preserved.

    Self-attention when ``context`` is ``None`` (queries and keys carry ``pos``, values do not, as
    in DETR); cross-attention otherwise, with ``context (B, L, dim)`` as keys and values and
    ``context_mask (B, L)`` bool, ``True`` = attend. Every row of ``context_mask`` must hold at least
    one ``True`` (an all-masked row makes softmax return NaN); callers guarantee it.

    ``gated=True`` scales both residual branches by ``tanh(g)`` with ``g`` a learned scalar starting at
    0 (Flamingo's gated cross-attention): the block starts as the identity and lets in only what
    lowers the loss.
    """

    def __init__(self, dim: int, *, n_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 gated: bool = False, position_queries: bool = False) -> None:
        super().__init__()
        self.gates = nn.Parameter(torch.zeros(2)) if gated else None
        assert dim % n_heads == 0, f"dim {dim} must be divisible by n_heads {n_heads}"
        self.position_queries = position_queries  # where a token is, not what it sees, asks the context
        self.norm1 = nn.Identity() if position_queries else nn.LayerNorm(dim)  # no unused parameters (DDP)
        self.attn = nn.MultiheadAttention(dim, n_heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, ratio=mlp_ratio, dropout=dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, *, pos: Tensor | None = None, context: Tensor | None = None,
                context_mask: Tensor | None = None) -> Tensor:
        h = self.norm1(x)
        if self.position_queries:
            assert pos is not None and context is not None, "position queries need pos and a context"
            q = pos.expand_as(h)
        else:
            q = h if pos is None else h + pos
        if context is None:
            k, v = q, h
        else:
            k = v = context
        padding = None if context_mask is None else ~context_mask
        a, _ = self.attn(q, k, v, key_padding_mask=padding, need_weights=False)
        if self.gates is None:
            x = x + self.drop(a)
            return x + self.mlp(self.norm2(x))
        g = torch.tanh(self.gates).to(x.dtype)
        x = x + g[0] * self.drop(a)
        return x + g[1] * self.mlp(self.norm2(x))


@lru_cache(maxsize=32)
def _sincos_2d_array(h: int, w: int, dim: int) -> np.ndarray:
    # cached as numpy, not as a tensor: a tensor made while torch.export traces is a fake one, and a cache
    # holding it slowed every later eager forward pass (~12x for the teacher)
    quarter = dim // 4
    omega = 1.0 / (10000.0 ** (np.arange(quarter, dtype=np.float64) / max(quarter, 1)))
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    ay = ys.reshape(-1, 1) * omega  # (h*w, dim/4)
    ax = xs.reshape(-1, 1) * omega  # (h*w, dim/4)
    out = np.concatenate([np.sin(ay), np.cos(ay), np.sin(ax), np.cos(ax)], axis=1).astype(np.float32)  # (h*w, dim)
    out.setflags(write=False)
    return out


def _sincos_2d(h: int, w: int, dim: int) -> Tensor:
    return torch.tensor(_sincos_2d_array(h, w, dim))


def sincos_pos_embed_2d(h: int, w: int, dim: int, *, device: torch.device | None = None,
                        dtype: torch.dtype | None = None) -> Tensor:
    """Fixed 2-D sine-cosine positional embedding ``(h*w, dim)``, row-major like ``flatten(2)``.

    Half the channels encode the row, half the column (MAE's recipe); parameter-free, so it fits
    any grid. ``dim`` must be a multiple of 4.
    """
    assert dim % 4 == 0, f"2-D sin-cos positional embedding needs dim % 4 == 0, got {dim}"
    return _sincos_2d(int(h), int(w), int(dim)).to(device=device, dtype=dtype)


def count_parameters(module: nn.Module) -> int:
    """``sum(p.numel())`` over every parameter (trainable or not)."""
    return sum(p.numel() for p in module.parameters())

