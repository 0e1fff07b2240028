"""The privileged multimodal teacher of S2-KD (and, with ``use_text=False``, the vision teacher)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from s2kd.errors import ParameterError
from s2kd.models.config import ForecasterConfig
from s2kd.models.decoder import Decoder
from s2kd.models.encoder import VisualEncoder
from s2kd.models.fusion import CrossModalAlignment
from s2kd.models.text import TextAdapter
from s2kd.models.translator import LOW_OPS, SpectralDecoupledTranslator

FUSION_QUERIES = ("position", "visual")


def _require(ok: bool, where: str, problem: str, fix: str) -> None:
    if not ok:
        raise ParameterError(where, problem, fix)


@dataclass
class TeacherConfig(ForecasterConfig):
    """Sizes of :class:`MultimodalTeacher`; presets in :mod:`s2kd.models.presets`.

    Attributes (beside :class:`~s2kd.models.config.ForecasterConfig`'s; ``width`` is that of the
    per-frame encoder/decoder stages at full, 1/2 and 1/4 resolution, ``d`` a multiple of 4 and of
    ``n_heads``):
        n_fusion: cross-attention blocks.
        n_heads: attention heads (fusion, and the translator when ``low_op="attention"``).
        n_translator: blocks in each band of the translator.
        low_op: the low-band operator, ``"fno"`` or ``"attention"``.
        n_modes: Fourier modes per axis kept by the FNO blocks.
        cutoff: radial cutoff of the band split in cycles/sample of the latent grid.
        text_dim: width of the precomputed text token embeddings (MiniLM: 384).
        use_text: ``False`` gives the vision teacher (no text adapter, text ignored).
        dropout: dropout in attention and MLPs.
        text_dropout: in training, the probability of hiding a sample's whole narrative (the teacher
            then sees only the null token), so it cannot use a unique narrative as a key to memorise
            its sample and must also forecast without text; 0 in evaluation.
        gated_fusion: the fusion blocks' residuals pass through tanh gates that start closed, so a
            new teacher forecasts as its vision twin and lets the text in as far as it lowers the
            loss. Off by default: closed gates also keep the attention from learning within a CPU
            budget (docs/models.md).
        fusion_queries: what asks the narrative in the fusion blocks: ``"position"`` (the default),
            the 2-D positional embedding of each visual token alone, so each place learns which
            words concern it whatever its pixels show, and the answer is added to the visual token;
            ``"visual"``, the visual token plus its position (the usual cross-attention).
    """

    where: ClassVar[str] = "teacher"

    n_fusion: int
    n_heads: int
    n_translator: int
    low_op: str
    n_modes: int
    cutoff: float = 0.25
    text_dim: int = 384
    use_text: bool = True
    dropout: float = 0.0
    text_dropout: float = 0.0
    gated_fusion: bool = False
    fusion_queries: str = "position"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require_counts(("n_heads", "n_translator", "n_modes", "text_dim"), minimum=1)
        self.require_counts(("n_fusion",), minimum=0)
        _require(self.low_op in LOW_OPS, "teacher.low_op", f"is {self.low_op!r}", f"use one of {LOW_OPS}")
        _require(self.d % 4 == 0 and self.d % self.n_heads == 0, "teacher.d",
                 f"is {self.d} with n_heads={self.n_heads}", "use a multiple of 4 and of n_heads")
        _require(0 < self.cutoff <= 0.5, "teacher.cutoff", f"is {self.cutoff!r}", "use a value in (0, 0.5]")
        _require(0 <= self.dropout < 1, "teacher.dropout", f"is {self.dropout!r}", "use a value in [0, 1)")
        _require(self.fusion_queries in FUSION_QUERIES, "teacher.fusion_queries", f"is {self.fusion_queries!r}",
                 f"use one of {FUSION_QUERIES}")
        _require(0 <= self.text_dropout < 1, "teacher.text_dropout", f"is {self.text_dropout!r}",
                 "use a value in [0, 1)")


class MultimodalTeacher(nn.Module):
    """Encoder -> (text adapter + cross-attention fusion) -> spectral decoupled translator -> decoder.

    ``forward(x, text=None, text_mask=None)`` with ``x (B, T_in, C, H, W)`` (any ``H, W``: padded to
    multiples of 4 inside, cropped back), ``text (B, L, text_dim)`` float and ``text_mask (B, L)``
    bool (``True`` = real token; ``None`` = all real) returns:

    - ``"y_hat"``: the forecast ``(B, T_out, C_out, H, W)``;
    - ``"z"``: the translator's input, i.e. the fused visual latent after cross-attention,
      ``(B, d, h, w)`` with ``h = ceil(H/4)``, ``w = ceil(W/4)``;
    - ``"z_low"``, ``"z_high"``: the translator's evolved low and high bands, ``(B, d, h, w)``;
    - ``"latent"``: the translator's fused output ``LayerNorm2d(z_low + z_high)``, the teacher's
      fused latent ``H_t`` that distillation targets and that the decoder reads.

    The fusion blocks always run; without text (``text=None``, an all-``False`` mask row, or
    ``use_text=False``) they attend to a learned null token only. ``use_text=False`` builds no text
    adapter and ignores ``text`` entirely, so the vision teacher's output cannot depend on text.
    """

    config_class = TeacherConfig

    def __init__(self, config: TeacherConfig) -> None:
        super().__init__()
        self.config = config
        self.uses_text = bool(config.use_text)
        self.encoder = VisualEncoder(in_channels=config.in_channels, t_in=config.t_in, width=config.width, d=config.d)
        self.text_adapter = TextAdapter(text_dim=config.text_dim, d=config.d) if self.uses_text else None
        self.fusion = CrossModalAlignment(d=config.d, n_blocks=config.n_fusion, n_heads=config.n_heads,
                                          dropout=config.dropout, gated=config.gated_fusion,
                                          position_queries=config.fusion_queries == "position")
        self.translator = SpectralDecoupledTranslator(
            d=config.d, n_layers=config.n_translator, low_op=config.low_op, n_modes=config.n_modes,
            n_heads=config.n_heads, cutoff=config.cutoff, dropout=config.dropout)
        self.decoder = Decoder(d=config.d, t_in=config.t_in, t_out=config.t_out, width=config.width,
                               out_channels=config.out_channels)

    def forward(self, x: Tensor, text: Tensor | None = None, text_mask: Tensor | None = None) -> dict[str, Tensor]:
        size = (x.shape[-2], x.shape[-1])
        z, skip = self.encoder(x)  # (B, d, h, w), (B, T_in, width, Hp, Wp)
        tokens = None
        if self.uses_text and text is not None:
            assert text.shape[0] == x.shape[0], f"text batch {text.shape[0]} != frames batch {x.shape[0]}"
            tokens = self.text_adapter(text)  # (B, L, d)
            if self.training and self.config.text_dropout > 0 and text_mask is not None:
                keep = torch.rand(text_mask.shape[0], 1, device=text_mask.device) >= self.config.text_dropout
                text_mask = text_mask & keep  # (B, L): hidden narratives leave only the null token
        z = self.fusion(z, tokens, text_mask if tokens is not None else None)
        out = self.translator(z)
        y_hat = self.decoder(out["latent"], skip, size=size)
        return {"y_hat": y_hat, "latent": out["latent"], "z": z, "z_low": out["z_low"], "z_high": out["z_high"]}
