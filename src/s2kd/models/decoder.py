"""The decoder shared (at different widths) by the teacher and the SimVP student."""

from __future__ import annotations

from torch import Tensor, nn

from s2kd.models.blocks import ConvNormAct, Up, crop


class Decoder(nn.Module):
    """Latent ``(B, d, h, w)`` -> forecast ``(B, T_out, C, H, W)``.

    A 1x1 conv expands the latent to ``T_out x width`` channels, each output frame is upsampled twice
    (``Up``, bilinear + conv) to ``Hp x Wp``, the encoder's first-stage skip is added (each output
    frame's skip is a learned per-channel mix of the ``T_in`` input frames' skips: a grouped 1x1
    conv, ``width*T_in*T_out`` weights), a ``ConvNormAct`` refines and a 1x1 head gives
    ``C`` channels per frame; the padding is cropped to ``size = (H, W)``.
    """

    def __init__(self, *, d: int, t_in: int, t_out: int, width: int, out_channels: int) -> None:
        super().__init__()
        self.t_out, self.width, self.out_channels = t_out, width, out_channels
        self.expand = nn.Conv2d(d, t_out * width, 1)
        self.up = nn.Sequential(Up(width, width), Up(width, width))
        self.skip = nn.Conv2d(width * t_in, width * t_out, 1, groups=width)
        self.refine = ConvNormAct(width, width)
        self.head = nn.Conv2d(width, out_channels, 1)

    def forward(self, latent: Tensor, skip: Tensor, *, size: tuple[int, int]) -> Tensor:
        b, _, h, w = latent.shape
        t_in, hp, wp = skip.shape[1], skip.shape[-2], skip.shape[-1]
        assert (hp, wp) == (4 * h, 4 * w), f"skip grid {hp}x{wp} is not 4x the latent grid {h}x{w}"
        f = self.expand(latent).reshape(b * self.t_out, self.width, h, w)  # (B*T_out, width, h, w)
        f = self.up(f)  # (B*T_out, width, Hp, Wp)
        s = skip.transpose(1, 2).reshape(b, self.width * t_in, hp, wp)  # (B, width*T_in, Hp, Wp), channel-major
        s = self.skip(s).reshape(b, self.width, self.t_out, hp, wp)  # (B, width, T_out, Hp, Wp)
        s = s.transpose(1, 2).reshape(b * self.t_out, self.width, hp, wp)  # (B*T_out, width, Hp, Wp)
        y = self.head(self.refine(f + s))  # (B*T_out, C, Hp, Wp)
        y = y.reshape(b, self.t_out, self.out_channels, hp, wp)  # (B, T_out, C, Hp, Wp)
        return crop(y, size)
