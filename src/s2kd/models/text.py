"""The trainable text adapter of the teacher.

The sentence-transformer itself is not here: token embeddings are computed once by the ``narrate``
pipeline (:func:`s2kd.narrators.embedding.embed_texts`, ``float16 (N, L, 384)`` + bool mask) and
the teacher holds only this projection.
"""

from __future__ import annotations

from torch import Tensor, nn


class TextAdapter(nn.Module):
    """``Linear(text_dim -> d)`` + ``LayerNorm(d)`` on text tokens ``(B, L, text_dim)`` -> ``(B, L, d)``.

    Accepts any float dtype (the stored embeddings are float16) and casts to its own.
    """

    def __init__(self, *, text_dim: int, d: int) -> None:
        super().__init__()
        self.text_dim = text_dim
        self.proj = nn.Linear(text_dim, d)
        self.norm = nn.LayerNorm(d)

    def forward(self, text: Tensor) -> Tensor:
        assert text.ndim == 3 and text.shape[-1] == self.text_dim, (
            f"text tokens must be (B, L, {self.text_dim}), got shape {tuple(text.shape)}")
        return self.norm(self.proj(text.to(self.proj.weight.dtype)))
