"""The spectral decoupled translator of the teacher (and the conv translator of the SimVP student).

Following SDKD (arXiv 2507.02939): the latent ``z`` is split at a radial cutoff into a low band,
evolved by a global operator, and a high band, evolved by local convolutions; the two are fused by
a channel LayerNorm of their sum.
"""

from __future__ import annotations

from torch import Tensor, nn

from s2kd.models.blocks import (
    MLP,
    AttentionBlock,
    LayerNorm2d,
    LocalBlock,
    num_groups,
    sincos_pos_embed_2d,
)
from s2kd.models.spectral import SpectralConv2d, lowpass, split_bands

LOW_OPS = ("fno", "attention")


class FourierBlock(nn.Module):
    """FNO-style global mixing, ``(N, d, h, w)`` shape preserved.

    ``x + spectral(norm(x))`` (truncated Fourier-mode mixing with learned complex weights), then a
    1x1-conv MLP residual ``x + mlp(norm(x))``.
    """

    def __init__(self, d: int, *, n_modes: int, mlp_ratio: float = 2.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(num_groups(d), d)
        self.spectral = SpectralConv2d(d, n_modes=n_modes)
        self.norm2 = nn.GroupNorm(num_groups(d), d)
        self.mlp = MLP(d, ratio=mlp_ratio, dropout=dropout, conv=True)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.spectral(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class GlobalAttention2d(nn.Module):
    """Self-attention over all ``h*w`` tokens of ``(N, d, h, w)`` (with 2-D sin-cos positions)."""

    def __init__(self, d: int, *, n_heads: int, mlp_ratio: float = 2.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.block = AttentionBlock(d, n_heads=n_heads, mlp_ratio=mlp_ratio, dropout=dropout)

    def forward(self, x: Tensor) -> Tensor:
        n, d, h, w = x.shape
        pos = sincos_pos_embed_2d(h, w, d, device=x.device, dtype=x.dtype)  # (h*w, d)
        t = self.block(x.flatten(2).transpose(1, 2), pos=pos)  # (N, h*w, d)
        return t.transpose(1, 2).reshape(n, d, h, w)  # (N, d, h, w)


class SpectralDecoupledTranslator(nn.Module):
    """Evolve the low and high spatial frequencies of a latent separately, then fuse them.

    With ``(z_low_in, z_high_in) = split_bands(z, cutoff)`` (so ``z_low_in + z_high_in == z``):

    - ``z_low  = lowpass(G(z_low_in))``: ``G`` is ``n_layers`` global blocks, ``FourierBlock``
      (``low_op="fno"``, ``n_modes`` modes) or ``GlobalAttention2d`` (``low_op="attention"``);
    - ``z_high = z_high' - lowpass(z_high')`` with ``z_high' = L(z_high_in)``, ``L`` being
      ``n_layers`` depthwise inception ``LocalBlock``s;
    - ``latent = LayerNorm2d(z_low + z_high)`` (LayerNorm over channels at every grid point).

    Re-projecting each evolved band onto its band keeps the decoupling exact: ``z_low`` has no
    energy above ``cutoff`` and ``z_high`` none at or below it, so the teacher's bands are the bands
    the spectral loss compares.

    ``forward(z)`` returns ``{"latent", "z_low", "z_high"}``, all ``(B, d, h, w)``: the fused output
    and the two **evolved** bands (the teacher adds ``"z"``, this module's input). :meth:`split`
    gives the split of the input.
    """

    def __init__(self, *, d: int, n_layers: int, low_op: str = "fno", n_modes: int = 4, n_heads: int = 4,
                 cutoff: float = 0.25, dropout: float = 0.0) -> None:
        super().__init__()
        assert low_op in LOW_OPS, f"low_op must be one of {LOW_OPS}, got {low_op!r}"
        assert n_layers >= 1, f"the translator needs n_layers >= 1, got {n_layers}"
        self.cutoff, self.low_op = float(cutoff), low_op
        if low_op == "fno":
            low = [FourierBlock(d, n_modes=n_modes, dropout=dropout) for _ in range(n_layers)]
        else:
            low = [GlobalAttention2d(d, n_heads=n_heads, dropout=dropout) for _ in range(n_layers)]
        self.low = nn.Sequential(*low)
        self.high = nn.Sequential(*(LocalBlock(d, dropout=dropout) for _ in range(n_layers)))
        self.norm = LayerNorm2d(d)

    def split(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``(z_low_in, z_high_in)``: the translator's split of its input, summing exactly to ``z``."""
        return split_bands(z, self.cutoff)

    def forward(self, z: Tensor) -> dict[str, Tensor]:
        assert z.ndim == 4, f"translator input must be (B, d, h, w), got shape {tuple(z.shape)}"
        low_in, high_in = self.split(z)
        z_low = lowpass(self.low(low_in), self.cutoff)
        high = self.high(high_in)
        z_high = high - lowpass(high, self.cutoff)
        return {"latent": self.norm(z_low + z_high), "z_low": z_low, "z_high": z_high}
