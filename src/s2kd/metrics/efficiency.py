"""Efficiency of a forecaster: parameters, FLOPs, CPU latency and peak memory of one forward pass.

- FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` over one forward pass at batch 1 (a
  multiply-add counts 2).
- Latency: the median wall time of ``repeats`` forward passes after ``warmup`` untimed ones, in
  ``torch.inference_mode``, at each batch size.
- Peak memory: the most bytes held at once by tensors during a forward pass at batch 1 (inputs and
  weights included), tracked op by op with a ``TorchDispatchMode``; the same figure on CPU and GPU,
  independent of the allocator's caching.
"""

from __future__ import annotations

import statistics
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from s2kd.models.blocks import count_parameters

__all__ = ["count_flops", "count_parameters", "latency", "peak_memory_bytes", "time_calls"]


def count_flops(model: nn.Module, inputs: Mapping[str, Tensor]) -> int:
    """FLOPs of one forward pass of ``model(**inputs)``."""
    model.eval()
    # The counter's module tracker hooks the backward of every module input that requires grad; a view of
    # a parameter (the teacher's null token, expanded) requires grad without a grad_fn and trips it. No
    # parameter needs grad to count a forward pass: switch them off for the count.
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(**inputs)
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
    return int(counter.get_total_flops())


def time_calls(call: Callable[[], Any], *, warmup: int = 3, repeats: int = 20) -> dict[str, float]:
    """``{"median_ms", "p10_ms", "p90_ms"}`` of ``repeats`` timed calls of ``call`` after ``warmup`` (any
    runtime: eager PyTorch, ONNX Runtime, ...)."""
    times = []
    for _ in range(warmup):
        call()
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(1000.0 * (time.perf_counter() - start))
    times.sort()
    return {"median_ms": statistics.median(times), "p10_ms": times[int(0.1 * (len(times) - 1))],
            "p90_ms": times[int(0.9 * (len(times) - 1))]}


def latency(model: nn.Module, inputs: Mapping[str, Tensor], *, warmup: int = 3, repeats: int = 20) -> dict[str, float]:
    """:func:`time_calls` of the model's forward pass in eager PyTorch (inference mode)."""
    model.eval()
    with torch.inference_mode():
        return time_calls(lambda: model(**inputs), warmup=warmup, repeats=repeats)


class _LiveBytes(TorchDispatchMode):
    """Counts the bytes of tensor storages alive at once, from the ops run under it.

    A storage counts from the first op output that uses it until the last tensor object viewing it
    is collected (views share their base's storage and add nothing).
    """

    def __init__(self, start_bytes: int) -> None:
        super().__init__()
        self.live = self.peak = start_bytes
        self._refs: dict[int, int] = {}

    def _track(self, t: Tensor) -> None:
        storage = t.untyped_storage()
        key, nbytes = storage.data_ptr(), storage.nbytes()
        if nbytes == 0:
            return
        if key in self._refs:
            self._refs[key] += 1
        else:
            self._refs[key] = 1
            self.live += nbytes
            self.peak = max(self.peak, self.live)
        weakref.finalize(t, self._release, key, nbytes)

    def _release(self, key: int, nbytes: int) -> None:
        self._refs[key] -= 1
        if self._refs[key] == 0:
            del self._refs[key]
            self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, Tensor):
                self._track(t)
        return out


def peak_memory_bytes(model: nn.Module, inputs: Mapping[str, Tensor]) -> int:
    """The most bytes held at once by tensors in one forward pass: weights, inputs, activations."""
    model.eval()
    start = sum(p.numel() * p.element_size() for p in model.parameters())
    start += sum(b.numel() * b.element_size() for b in model.buffers())
    start += sum(t.numel() * t.element_size() for t in inputs.values() if isinstance(t, Tensor))
    with torch.inference_mode(), _LiveBytes(start) as mode:
        out = model(**inputs)
        del out
    return int(mode.peak)
