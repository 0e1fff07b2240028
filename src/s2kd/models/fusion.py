"""Cross-modal alignment: visual tokens query the narrative's tokens."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s2kd.models.blocks import AttentionBlock, sincos_pos_embed_2d


class CrossModalAlignment(nn.Module):
    """``n_blocks`` pre-norm cross-attention + MLP blocks, ``(B, d, h, w) -> (B, d, h, w)``.

    Queries are the visual tokens (the flattened latent, with a fixed 2-D sin-cos positional
    embedding added to the queries of every block), or with ``position_queries=True`` that positional
    embedding alone, so a place asks the text the same whatever its pixels show and the answer is
    added to its visual token; keys and values are the text tokens ``(B, L, d)`` with
    ``key_padding_mask = ~text_mask``.

    No-text guard: a learned **null token** is prepended to the keys/values of every sample and is
    always attendable, so a sample whose mask is all ``False`` attends to the null token only and
    stays finite. ``gated=True``: each block's residuals pass through a ``tanh`` gate that starts
    closed (:class:`~s2kd.models.blocks.AttentionBlock`), so the teacher starts as its vision twin
    and opens to the text only as far as it helps. ``text=None`` means "no text for any sample" and
    is exactly the same computation as an all-``False`` mask: the blocks then see the null token
    only, so a teacher that never gets text (the vision teacher) keeps the same architecture with no
    text information in it.
    """

    def __init__(self, *, d: int, n_blocks: int, n_heads: int, dropout: float = 0.0, mlp_ratio: float = 4.0,
                 gated: bool = False, position_queries: bool = False) -> None:
        super().__init__()
        self.d = d
        self.null = nn.Parameter(0.02 * torch.randn(1, 1, d))
        self.blocks = nn.ModuleList(
            AttentionBlock(d, n_heads=n_heads, mlp_ratio=mlp_ratio, dropout=dropout, gated=gated,
                           position_queries=position_queries)
            for _ in range(n_blocks))

    def forward(self, z: Tensor, text: Tensor | None = None, text_mask: Tensor | None = None) -> Tensor:
        b, d, h, w = z.shape
        assert d == self.d, f"fusion built for d={self.d}, got {d} channels"
        null = self.null.expand(b, 1, d).to(z.dtype)  # (B, 1, d)
        keep_null = torch.ones(b, 1, dtype=torch.bool, device=z.device)  # (B, 1)
        if text is None:
            context, mask = null, keep_null
        else:
            assert text.ndim == 3 and text.shape[0] == b and text.shape[-1] == d, (
                f"adapted text must be (B={b}, L, d={d}), got shape {tuple(text.shape)}")
            if text_mask is None:
                text_mask = torch.ones(text.shape[:2], dtype=torch.bool, device=z.device)
            assert text_mask.shape == text.shape[:2], (
                f"text_mask {tuple(text_mask.shape)} does not match text tokens {tuple(text.shape[:2])}")
            context = torch.cat([null, text.to(z.dtype)], dim=1)  # (B, 1+L, d)
            mask = torch.cat([keep_null, text_mask.to(device=z.device, dtype=torch.bool)], dim=1)  # (B, 1+L)
        pos = sincos_pos_embed_2d(h, w, d, device=z.device, dtype=z.dtype)  # (h*w, d)
        x = z.flatten(2).transpose(1, 2)  # (B, h*w, d)
        for block in self.blocks:
            x = block(x, pos=pos, context=context, context_mask=mask)
        return x.transpose(1, 2).reshape(b, d, h, w)  # (B, d, h, w)
