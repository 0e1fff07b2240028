"""Distillation from a frozen teacher whose outputs are computed once and cached.

The teacher's latents do not change between epochs, so :func:`cache_teacher_targets` runs it once
(eval mode, no gradients) over the training and validation windows and keeps, per sample id, the
teacher tensors the losses read (:data:`TARGETS`); :class:`DistillationLoss` looks them up by
``batch["sample_id"]``. A distillation epoch then costs about what a plain student epoch costs. The
teacher itself is never part of the training module: it cannot change or receive gradients.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from s2kd.data.windows import ProcessHandle
from s2kd.datasets.atomic import process_running
from s2kd.losses import CompositeLoss, output_kd_loss, semantic_loss, spectral_loss, task_loss

logger = logging.getLogger(__name__)

SPECTRAL_ON = ("latent", "output")

#: the teacher latents a latent term (``L_sem``, ``L_spec`` on latents) can target, all ``(B, d, h, w)``:
#: ``semantic``: ``z``, the visual latent right after cross-attention fusion with the text;
#: ``bands``: ``z_low + z_high``, the translator's evolved bands (exactly band-limited, so a spectral
#: loss against their sum compares the student's low band with ``z_low`` and its high band with ``z_high``);
#: ``translator``: ``LayerNorm2d(z_low + z_high)``, the translator's fused output that the decoder reads.
LATENT_TARGETS = ("semantic", "bands", "translator")
#: every cacheable teacher tensor: the latent targets and the forecast ``y_hat`` ``(B, T_out, C, H, W)``
TARGETS = (*LATENT_TARGETS, "y_hat")


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and ``requires_grad = False`` for every parameter; returns the model."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _target(out: Mapping[str, Tensor], name: str) -> Tensor:
    """The teacher tensor ``name`` of :data:`TARGETS` from a teacher's forward outputs."""
    if name == "semantic":
        return out["z"]
    if name == "bands":
        return out["z_low"] + out["z_high"]
    if name == "translator":
        return out["latent"]
    return out[name]


@dataclass
class TeacherTargets:
    """The frozen teacher's outputs per sample.

    Attributes:
        sample_id: ``(N,)`` sorted sample ids.
        fields: the cached tensors by name (of :data:`TARGETS`), each with ``N`` rows in sample-id order (in
            memory, or a :class:`RowFile` when they did not fit).
    """

    sample_id: Tensor
    fields: dict[str, Tensor | RowFile]

    def rows(self, ids: Tensor) -> Tensor:
        """Row of each sample id; a clear error for ids the cache does not hold."""
        ids = ids.to(self.sample_id.device).long()
        pos = torch.searchsorted(self.sample_id, ids).clamp(max=len(self.sample_id) - 1)
        missing = self.sample_id[pos] != ids
        if missing.any():
            raise KeyError(f"no cached teacher output for sample id(s) {ids[missing][:5].tolist()}")
        return pos

    def __getitem__(self, name: str) -> Tensor | RowFile:
        if name not in self.fields:
            raise KeyError(f"the teacher's {name!r} was not cached (cached: {sorted(self.fields)})")
        return self.fields[name]


@torch.no_grad()
def cache_teacher_targets(teacher: nn.Module, datasets: Iterable[Dataset], *, batch_size: int = 64,
                          fields: Iterable[str] = TARGETS, max_memory_bytes: float | None = None,
                          spill_to: str | Path | None = None) -> TeacherTargets:
    """Run the frozen teacher once over every window of ``datasets``.

    Args:
        teacher: the trained teacher (frozen here: eval mode, no gradients).
        datasets: datasets of ``{"x", "sample_id"[, "text", "text_mask"]}`` items (train and val).
        batch_size: windows per forward pass.
        fields: which of :data:`TARGETS` to keep (the others are not held in memory).
        max_memory_bytes: targets larger than this are written to files under ``spill_to`` as they are
            computed (:class:`RowFile`) and read back by row; the files are removed with the targets.
        spill_to: the folder of those files.

    Returns:
        The targets, sorted by sample id.
    """
    fields = tuple(dict.fromkeys(fields))
    unknown = sorted(set(fields) - set(TARGETS))
    assert not unknown, f"unknown teacher target(s) {unknown}: use any of {TARGETS}"
    freeze(teacher)
    datasets = list(datasets)
    total = sum(len(d) for d in datasets)
    ids: list[Tensor] = []
    kept: dict[str, list[Tensor] | RowFile] = {f: [] for f in fields}
    folder = None
    try:
        for dataset in datasets:
            for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
                if getattr(teacher, "uses_text", False):
                    out = teacher(batch["x"], text=batch["text"], text_mask=batch.get("text_mask"))
                else:
                    out = teacher(batch["x"])
                ids.append(batch["sample_id"].long())
                rows = {f: _target(out, f).float() for f in fields}
                if not ids[1:] and spill_to is not None and max_memory_bytes is not None:
                    size = total * sum(r[0].numel() * 4 for r in rows.values())
                    if size > max_memory_bytes:  # decided on the first batch: every field's rows to a file
                        folder = _spill_folder(Path(spill_to))
                        logger.info("teacher targets: %.0f MiB > %.0f MiB, written to %s", size / 2**20,
                                    max_memory_bytes / 2**20, folder)
                        kept = {f: RowFile(folder / f"{f}.f32", tuple(r.shape[1:])) for f, r in rows.items()}
                for f, r in rows.items():
                    kept[f].append(r)
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    sample_id = torch.cat(ids)
    order = torch.argsort(sample_id)
    assert len(torch.unique(sample_id)) == len(sample_id), "a sample id appears in two datasets"
    if folder is None:
        return TeacherTargets(sample_id=sample_id[order], fields={f: torch.cat(v)[order] for f, v in kept.items()})
    targets = TeacherTargets(sample_id=sample_id[order], fields={f: v.close(order) for f, v in kept.items()})
    weakref.finalize(targets, shutil.rmtree, folder, True)  # the files go with the targets
    return targets


class RowFile(ProcessHandle):
    """Rows of one teacher tensor in a raw float32 file, written in the order they were computed, read back
    row by row by sample-id position (plain reads, not a memory map: rows read once do not stay resident)."""

    def __init__(self, path: Path, row_shape: tuple[int, ...]) -> None:
        self.path, self.row_shape = Path(path), tuple(row_shape)
        self.row_bytes = 4 * int(np.prod(self.row_shape))
        self.order: np.ndarray | None = None
        self._writer: Any = self.path.open("wb")

    def append(self, rows: Tensor) -> None:
        self._writer.write(np.ascontiguousarray(rows.detach().cpu().numpy(), dtype=np.float32).tobytes())

    def close(self, order: Tensor) -> RowFile:
        """Done writing; ``order[i]``: the file row of the i-th sample id in sorted order."""
        self._writer.close()
        self._writer, self.order = None, order.numpy()
        return self

    def _open(self) -> Any:
        return self.path.open("rb")

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, positions: Tensor) -> Tensor:
        fd = self.handle.fileno()
        rows = [np.frombuffer(os.pread(fd, self.row_bytes, int(self.order[i]) * self.row_bytes), dtype=np.float32)
                for i in np.atleast_1d(np.asarray(positions))]
        return torch.from_numpy(np.stack(rows).reshape(-1, *self.row_shape))


def _spill_folder(parent: Path) -> Path:
    """A new folder for this process's targets under ``parent``; folders of processes no longer running
    (killed before they could remove theirs) are removed."""
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.glob("teacher-targets-*"):
        pid = old.name.split("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not process_running(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"teacher-targets-{os.getpid()}-", dir=parent))


def needed_targets(weights: Mapping[str, float], *, spectral_on: str, sem_target: str,
                   spec_target: str) -> tuple[str, ...]:
    """The teacher tensors a loss with these non-zero ``weights`` reads."""
    need = []
    if weights.get("sem"):
        need.append(sem_target)
    if weights.get("spec"):
        need.append("y_hat" if spectral_on == "output" else spec_target)
    if weights.get("out"):
        need.append("y_hat")
    return tuple(dict.fromkeys(need))


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
        semantic_kind: a kind of :data:`s2kd.losses.semantic.KINDS`.
        amplitude_only: spectral loss on amplitudes only.
        spectral_on: what ``L_spec`` compares: ``latent`` (the projected student latent against the
            teacher latent ``spec_target``, as in the paper) or ``output`` (the student's forecast
            against the teacher's, every frame and channel).
        sem_target: the teacher latent of :data:`LATENT_TARGETS` that ``L_sem`` pulls towards.
        spec_target: the teacher latent of :data:`LATENT_TARGETS` that ``L_spec`` compares on latents.
    """

    def __init__(
        self, *, weights: Mapping[str, float], targets: TeacherTargets | None, student_d: int, teacher_d: int,
        projector: nn.Module | None = None, cutoff: float = 0.25, alpha: float = 1.0, semantic_kind: str = "mse",
        amplitude_only: bool = False, spectral_on: str = "latent", sem_target: str = "semantic",
        spec_target: str = "bands",
    ) -> None:
        super().__init__()
        self.composite = CompositeLoss(weights)
        assert spectral_on in SPECTRAL_ON, f"spectral_on must be one of {SPECTRAL_ON}, got {spectral_on!r}"
        for name, value in (("sem_target", sem_target), ("spec_target", spec_target)):
            assert value in LATENT_TARGETS, f"{name} must be one of {LATENT_TARGETS}, got {value!r}"
        self.spectral_on, self.sem_target, self.spec_target = spectral_on, sem_target, spec_target
        w = self.composite.weights
        needs_latent = "sem" in w or ("spec" in w and spectral_on == "latent")
        needs_teacher = any(k in w for k in ("sem", "spec", "out"))
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
            return self.targets[field][rows.cpu()].to(outputs["y_hat"].device)

        def projected() -> Tensor:
            if "p" not in cache:
                cache["p"] = self.projector(outputs["latent"])  # (B, d_t, h, w)
            return cache["p"]

        def spectral() -> Tensor:
            if self.spectral_on == "output":
                student, target = outputs["y_hat"], teacher("y_hat")
            else:
                student, target = projected(), teacher(self.spec_target)
            return spectral_loss(student, target, cutoff=self.cutoff, w_low=1.0, w_high=self.alpha,
                                 amplitude_only=self.amplitude_only)

        return self.composite({
            "task": lambda: task_loss(outputs["y_hat"], batch["y"]),
            "sem": lambda: semantic_loss(projected(), teacher(self.sem_target), kind=self.semantic_kind),
            "spec": spectral,
            "out": lambda: output_kd_loss(outputs["y_hat"], teacher("y_hat")),
        })
