"""The lightweight vision-only students: ``SimVPStudent`` and ``UNetStudent``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from s2kd.errors import ParameterError
from s2kd.models.blocks import ConvNormAct, Down, LocalBlock, Up, crop, pad_to_multiple
from s2kd.models.config import ForecasterConfig
from s2kd.models.decoder import Decoder
from s2kd.models.encoder import VisualEncoder

BACKBONES = ("simvp", "unet")


@dataclass
class StudentConfig(ForecasterConfig):
    """Sizes of a student; presets in :mod:`s2kd.models.presets`.

    Attributes (beside :class:`~s2kd.models.config.ForecasterConfig`'s; the U-Net doubles ``width``
    at 1/2 and 1/4 resolution, ``d`` is the exposed latent's):
        backbone: ``"simvp"`` (:class:`SimVPStudent`) or ``"unet"`` (:class:`UNetStudent`).
        n_blocks: depthwise inception blocks at ``H/4 x W/4``.
    """

    where: ClassVar[str] = "student"

    backbone: str
    n_blocks: int

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ParameterError("student.backbone", f"is {self.backbone!r}", f"use one of {BACKBONES}")
        super().__post_init__()
        self.require_counts(("n_blocks",), minimum=0)


class SimVPStudent(nn.Module):
    """Small SimVP: :class:`VisualEncoder` -> ``n_blocks`` ``LocalBlock``s -> :class:`Decoder`.

    ``forward(x, text=None, text_mask=None)`` ignores the text arguments and returns ``"y_hat"``
    ``(B, T_out, C_out, H, W)`` and ``"latent"`` ``(B, d, ceil(H/4), ceil(W/4))`` (the translator's
    output, which the decoder reads).
    """

    uses_text = False
    config_class = StudentConfig

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        assert config.backbone == "simvp", f"SimVPStudent needs backbone 'simvp', got {config.backbone!r}"
        self.config = config
        self.encoder = VisualEncoder(in_channels=config.in_channels, t_in=config.t_in, width=config.width, d=config.d)
        self.translator = nn.Sequential(*(LocalBlock(config.d) for _ in range(config.n_blocks)))
        self.decoder = Decoder(d=config.d, t_in=config.t_in, t_out=config.t_out, width=config.width,
                               out_channels=config.out_channels)

    def forward(self, x: Tensor, text: Tensor | None = None, text_mask: Tensor | None = None) -> dict[str, Tensor]:
        z, skip = self.encoder(x)  # (B, d, h, w), (B, T_in, width, Hp, Wp)
        latent = self.translator(z)
        return {"y_hat": self.decoder(latent, skip, size=(x.shape[-2], x.shape[-1])), "latent": latent}


class UNetStudent(nn.Module):
    """The SDKD-style student: a small U-Net over the input frames stacked into channels.

    ``(B, T_in*C, Hp, Wp)`` -> two ``ConvNormAct`` (``width``, skip 1) -> ``Down`` to 1/2
    (``2*width``, skip 2) -> ``Down`` to 1/4 (``2*width``) -> 1x1 conv to ``d`` -> ``n_blocks``
    ``LocalBlock``s = the exposed ``"latent"`` ``(B, d, ceil(H/4), ceil(W/4))`` -> ``Up`` + skip 2 ->
    ``Up`` + skip 1 -> 1x1 head to ``T_out*C`` channels -> ``(B, T_out, C, H, W)``.
    Text arguments are accepted and ignored.
    """

    uses_text = False
    config_class = StudentConfig

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        assert config.backbone == "unet", f"UNetStudent needs backbone 'unet', got {config.backbone!r}"
        self.config = config
        w, d = config.width, config.d
        self.stem = nn.Sequential(ConvNormAct(config.t_in * config.in_channels, w), ConvNormAct(w, w))
        self.down1 = Down(w, 2 * w)
        self.down2 = Down(2 * w, 2 * w)
        self.to_latent = nn.Conv2d(2 * w, d, 1)
        self.bottleneck = nn.Sequential(*(LocalBlock(d) for _ in range(config.n_blocks)))
        self.up1 = Up(d, 2 * w)
        self.merge1 = ConvNormAct(4 * w, 2 * w)
        self.up2 = Up(2 * w, w)
        self.merge2 = ConvNormAct(2 * w, w)
        self.head = nn.Conv2d(w, config.t_out * config.out_channels, 1)

    def forward(self, x: Tensor, text: Tensor | None = None, text_mask: Tensor | None = None) -> dict[str, Tensor]:
        cfg = self.config
        assert x.ndim == 5, f"input must be (B, T, C, H, W), got shape {tuple(x.shape)}"
        b, t, c, h, w = x.shape
        assert (t, c) == (cfg.t_in, cfg.in_channels), (
            f"built for T_in={cfg.t_in}, C={cfg.in_channels}; got T={t}, C={c}")
        xp = pad_to_multiple(x)  # (B, T, C, Hp, Wp)
        hp, wp = xp.shape[-2:]
        s1 = self.stem(xp.reshape(b, t * c, hp, wp))  # (B, width, Hp, Wp)
        s2 = self.down1(s1)  # (B, 2*width, Hp/2, Wp/2)
        latent = self.bottleneck(self.to_latent(self.down2(s2)))  # (B, d, Hp/4, Wp/4)
        u = self.merge1(torch.cat([self.up1(latent), s2], dim=1))  # (B, 2*width, Hp/2, Wp/2)
        u = self.merge2(torch.cat([self.up2(u), s1], dim=1))  # (B, width, Hp, Wp)
        y = self.head(u).reshape(b, cfg.t_out, cfg.out_channels, hp, wp)  # (B, T_out, C, Hp, Wp)
        return {"y_hat": crop(y, (h, w)), "latent": latent}
