"""The training-only projector ``P`` that maps a student's latent onto the teacher's."""

from __future__ import annotations

from torch import Tensor, nn

PROJECTOR_KINDS = ("conv1x1", "mlp")


class Projector(nn.Module):
    """``(B, in_d, h, w) -> (B, out_d, h, w)``: a 1x1 conv (``"conv1x1"``) or a 2-layer 1x1-conv MLP (``"mlp"``).

    Used by distillation only; it is not part of the exported student. The MLP's hidden width is
    ``max(in_d, out_d)``.
    """

    def __init__(self, in_d: int, out_d: int, kind: str = "conv1x1") -> None:
        super().__init__()
        assert kind in PROJECTOR_KINDS, f"projector kind must be one of {PROJECTOR_KINDS}, got {kind!r}"
        self.kind = kind
        if kind == "conv1x1":
            self.net = nn.Conv2d(in_d, out_d, 1)
        else:
            hidden = max(in_d, out_d)
            self.net = nn.Sequential(nn.Conv2d(in_d, hidden, 1), nn.GELU(), nn.Conv2d(hidden, out_d, 1))

    def forward(self, latent: Tensor) -> Tensor:
        return self.net(latent)
