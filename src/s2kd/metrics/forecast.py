"""Running a trained forecaster over windows, and measuring its cost. Library code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from s2kd.metrics.efficiency import count_flops, count_parameters, latency, peak_memory_bytes


def model_inputs(model: nn.Module, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """The keyword inputs of ``model`` for a batch: frames, and narratives for a text-reading model."""
    if getattr(model, "uses_text", False):
        return {"x": batch["x"], "text": batch["text"], "text_mask": batch["text_mask"]}
    return {"x": batch["x"]}


@torch.no_grad()  # not inference_mode: tensors it caches in a model must stay usable by autograd-aware tools
def predict(model: nn.Module, dataset: Dataset, *, batch_size: int = 64, desc: str = "predict",
            progress: bool = True) -> dict[str, Tensor]:
    """``{"pred", "truth", "x", "sample_id"}`` of ``model`` over every window of ``dataset`` (in order)."""
    model.eval()
    out: dict[str, list[Tensor]] = {"pred": [], "truth": [], "x": [], "sample_id": []}
    for batch in tqdm(DataLoader(dataset, batch_size=batch_size, shuffle=False), desc=desc, disable=not progress,
                      leave=False):
        out["pred"].append(model(**model_inputs(model, batch))["y_hat"].float())
        out["truth"].append(batch["y"])
        out["x"].append(batch["x"])
        out["sample_id"].append(batch["sample_id"])
    return {k: torch.cat(v) for k, v in out.items()}


def measure_efficiency(model: nn.Module, example: dict[str, Tensor], *, batch_sizes: Sequence[int] = (1, 32),
                       warmup: int = 3, repeats: int = 20) -> dict[str, Any]:
    """Parameters, FLOPs and peak memory at batch 1, and median latency at each batch size.

    Args:
        example: one batch of model inputs (``model_inputs``); its first item is repeated to
            build each batch size.
    """
    def batch_of(n: int) -> dict[str, Tensor]:
        return {k: v[:1].expand(n, *v.shape[1:]).contiguous() for k, v in example.items()}

    one = batch_of(1)
    row: dict[str, Any] = {"parameters": count_parameters(model), "flops": count_flops(model, one),
                           "peak_memory_mb": peak_memory_bytes(model, one) / 2**20}
    for n in batch_sizes:
        row[f"latency_ms_b{n}"] = latency(model, batch_of(n), warmup=warmup, repeats=repeats)["median_ms"]
    return row
