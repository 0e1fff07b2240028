"""Distillation from a frozen teacher whose outputs are computed once and cached.

The teacher's latents do not change between epochs, so :func:`cache_teacher_targets` runs it once
(eval mode, no gradients) over the training and validation windows and keeps its fused latent and
forecast per sample id; :class:`DistillationLoss` looks them up by ``batch["sample_id"]``. A
distillation epoch then costs about what a plain student epoch costs. The teacher itself is never
part of the training module: it cannot change or receive gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from s2kd.losses import CompositeLoss, output_kd_loss, semantic_loss, spectral_loss, task_loss

SPECTRAL_ON = ("latent", "output")


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and ``requires_grad = False`` for every parameter; returns the model."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@dataclass
class TeacherTargets:
    """The frozen teacher's outputs per sample.

    Attributes:
        sample_id: ``(N,)`` sorted sample ids.
        latent: ``(N, d, h, w)`` the fused latent ``H_t``.
        y_hat: ``(N, T_out, C, H, W)`` the teacher's forecast.
    """

    sample_id: Tensor
    latent: Tensor
    y_hat: Tensor

    def rows(self, ids: Tensor) -> Tensor:
        """Row of each sample id; a clear error for ids the cache does not hold."""
        ids = ids.to(self.sample_id.device).long()
        pos = torch.searchsorted(self.sample_id, ids).clamp(max=len(self.sample_id) - 1)
        missing = self.sample_id[pos] != ids
        if missing.any():
            raise KeyError(f"no cached teacher output for sample id(s) {ids[missing][:5].tolist()}")
        return pos


@torch.no_grad()
def cache_teacher_targets(teacher: nn.Module, datasets: Iterable[Dataset], *, batch_size: int = 64) -> TeacherTargets:
    """Run the frozen teacher once over every window of ``datasets``.

    Args:
        teacher: the trained teacher (frozen here: eval mode, no gradients).
        datasets: datasets of ``{"x", "sample_id"[, "text", "text_mask"]}`` items (train and val).
        batch_size: windows per forward pass.

    Returns:
        The targets, sorted by sample id.
    """
    freeze(teacher)
    ids, latents, forecasts = [], [], []
    for dataset in datasets:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            if getattr(teacher, "uses_text", False):
                out = teacher(batch["x"], text=batch["text"], text_mask=batch.get("text_mask"))
            else:
                out = teacher(batch["x"])
            ids.append(batch["sample_id"].long())
            latents.append(out["latent"].float())
            forecasts.append(out["y_hat"].float())
    sample_id = torch.cat(ids)
    order = torch.argsort(sample_id)
    assert len(torch.unique(sample_id)) == len(sample_id), "a sample id appears in two datasets"
    return TeacherTargets(sample_id=sample_id[order], latent=torch.cat(latents)[order],
                          y_hat=torch.cat(forecasts)[order])


class DistillationLoss(nn.Module):
    """``L = w_task·L_task + β·L_sem + λ·L_spec + γ·L_out`` against cached teacher targets.

    Args:
        weights: ``{"task": 1, "sem": β, "spec": λ, "out": γ}``; zero-weight terms are skipped.
        targets: the cached teacher outputs (``None`` for the plain student).
        student_d: channels of the student latent.
        teacher_d: channels of the teacher latent.
        projector: ``conv1x1`` or ``mlp`` (:class:`s2kd.models.projector.Projector`-like; trained
            with the student, dropped from the exported model).
        cutoff: ``r_c`` of the spectral loss.
        alpha: ``w_high`` of the spectral loss (``w_low = 1``).
        semantic_kind: ``mse`` or ``cosine``.
        amplitude_only: spectral loss on amplitudes only.
        spectral_on: what ``L_spec`` compares: ``latent`` (the projected student latent against the
            teacher's fused latent, as in the paper) or ``output`` (the student's forecast against the
            teacher's, every frame and channel).
    """

    def __init__(
        self, *, weights: Mapping[str, float], targets: TeacherTargets | None, student_d: int, teacher_d: int,
        projector: nn.Module | None = None, cutoff: float = 0.25, alpha: float = 1.0, semantic_kind: str = "mse",
        amplitude_only: bool = False, spectral_on: str = "latent",
    ) -> None:
        super().__init__()
        self.composite = CompositeLoss(weights)
        assert spectral_on in SPECTRAL_ON, f"spectral_on must be one of {SPECTRAL_ON}, got {spectral_on!r}"
        self.spectral_on = spectral_on
        needs_latent = "sem" in self.composite.weights or ("spec" in self.composite.weights and spectral_on == "latent")
        needs_teacher = any(k in self.composite.weights for k in ("sem", "spec", "out"))
        assert targets is not None or not needs_teacher, "distillation terms need cached teacher targets"
        self.targets = targets  # a plain attribute: never in a checkpoint, never trained
        self.projector = projector if needs_latent else None
        if needs_latent and projector is None:
            self.projector = nn.Conv2d(student_d, teacher_d, kernel_size=1)
        self.cutoff, self.alpha = float(cutoff), float(alpha)
        self.semantic_kind, self.amplitude_only = semantic_kind, bool(amplitude_only)

    def forward(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        cache: dict[str, Tensor] = {}

        def teacher(field: str) -> Tensor:
            rows = self.targets.rows(batch["sample_id"])
            return getattr(self.targets, field)[rows.cpu()].to(outputs["y_hat"].device)

        def projected() -> Tensor:
            if "p" not in cache:
                cache["p"] = self.projector(outputs["latent"])  # (B, d_t, h, w)
            return cache["p"]

        return self.composite({
            "task": lambda: task_loss(outputs["y_hat"], batch["y"]),
            "sem": lambda: semantic_loss(projected(), teacher("latent"), kind=self.semantic_kind),
            "spec": lambda: spectral_loss(*self._spectral_pair(outputs, projected, teacher), cutoff=self.cutoff,
                                          w_low=1.0, w_high=self.alpha, amplitude_only=self.amplitude_only),
            "out": lambda: output_kd_loss(outputs["y_hat"], teacher("y_hat")),
        })

    def _spectral_pair(self, outputs: Mapping[str, Tensor], projected: Callable[[], Tensor],
                       teacher: Callable[[str], Tensor]) -> tuple[Tensor, Tensor]:
        """The two tensors ``L_spec`` compares: projected latents, or forecasts ``(B, T_out, C, H, W)``."""
        if self.spectral_on == "output":
            return outputs["y_hat"], teacher("y_hat")
        return projected(), teacher("latent")
