"""The visual encoder shared (at different widths) by the teacher and the SimVP student."""

from __future__ import annotations

from torch import Tensor, nn

from s2kd.models.blocks import ConvNormAct, Down, pad_to_multiple


class VisualEncoder(nn.Module):
    """SimVP-style encoder: a per-frame shared conv stem, frames stacked into channels.

    ``x (B, T_in, C, H, W)`` is padded to ``Hp x Wp`` (multiples of 4); every frame goes through the
    same ``ConvNormAct`` stem at full resolution (the skip feature) and two strided ``Down`` blocks
    to ``Hp/4 x Wp/4``; the ``T_in`` frame features are stacked into channels and a 1x1 conv maps
    them to ``d`` channels.

    Returns:
        ``(latent, skip)``: ``latent (B, d, Hp/4, Wp/4)`` and the first-stage feature of every input
        frame, ``skip (B, T_in, width, Hp, Wp)``, for the decoder.
    """

    def __init__(self, *, in_channels: int, t_in: int, width: int, d: int) -> None:
        super().__init__()
        self.in_channels, self.t_in, self.width, self.d = in_channels, t_in, width, d
        self.stem = ConvNormAct(in_channels, width)
        self.down = nn.Sequential(Down(width, width), Down(width, width))
        self.proj = nn.Conv2d(t_in * width, d, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        assert x.ndim == 5, f"encoder input must be (B, T, C, H, W), got shape {tuple(x.shape)}"
        b, t, c = x.shape[:3]
        assert (t, c) == (self.t_in, self.in_channels), (
            f"encoder built for T_in={self.t_in}, C={self.in_channels}; got T={t}, C={c}")
        x = pad_to_multiple(x)  # (B, T, C, Hp, Wp)
        hp, wp = x.shape[-2:]
        skip = self.stem(x.reshape(b * t, c, hp, wp))  # (B*T, width, Hp, Wp)
        feat = self.down(skip)  # (B*T, width, Hp/4, Wp/4)
        feat = feat.reshape(b, t * self.width, hp // 4, wp // 4)  # (B, T*width, h, w)
        return self.proj(feat), skip.reshape(b, t, self.width, hp, wp)  # (B, d, h, w), (B, T, width, Hp, Wp)
