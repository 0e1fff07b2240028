"""A trained forecaster outside PyTorch: ONNX export with a dynamic batch, and an ONNX Runtime runner.

Only the forecast leaves: the exported graph maps ``x (B, T_in, C, H, W)`` (float32, normalised units)
to ``y (B, T_out, C, H, W)``; latents and the distillation heads stay behind. The students (U-Net and
SimVP backbones) export with PyTorch's ``torch.export``-based exporter and match eager PyTorch to about
1e-6; the teachers do not (their FNO operator assigns into complex spectra, which neither exporter
accepts), so a teacher runs in eager PyTorch only.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

#: the names of the exported graph's input and output
INPUT, OUTPUT = "x", "y"


class ForecastOnly(nn.Module):
    """A forecaster reduced to ``x -> y_hat`` (what a deployed model computes)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["y_hat"]


def to_onnx(model: nn.Module, example: torch.Tensor) -> bytes:
    """The model's forecast as an ONNX graph (opset of the installed exporter), the batch dimension
    dynamic; ``example``: one input batch of the right ``(T_in, C, H, W)``.

    Raises:
        ValueError: the model cannot be exported (e.g. a teacher's spectral operator), naming why.
    """
    if getattr(model, "uses_text", False):
        raise ValueError("a model that reads narratives has a text input: export a student or the vision teacher")
    # a copy: tracing a cold network can leave state behind in it (the teacher's spectral operator ran
    # ~12x slower in eager PyTorch after a failed export of the original)
    wrapped = ForecastOnly(copy.deepcopy(model)).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        try:
            torch.onnx.export(wrapped, (example,), str(path), input_names=[INPUT], output_names=[OUTPUT],
                              dynamo=True, dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
                              external_data=False, verbose=False)
        except Exception as exc:  # the exporter raises many kinds; say which model and why
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise ValueError(f"{type(model).__name__} does not export to ONNX: {first}") from exc
        return path.read_bytes()


class OnnxRunner:
    """An ONNX graph in ONNX Runtime on the CPU: ``runner(x)`` with ``x`` a float32 array
    ``(B, T_in, C, H, W)`` returns ``y``."""

    def __init__(self, graph: bytes, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def __call__(self, x: Any) -> np.ndarray:
        return self.session.run([OUTPUT], {INPUT: np.ascontiguousarray(x, dtype=np.float32)})[0]


def parity(model: nn.Module, runner: OnnxRunner, x: torch.Tensor) -> float:
    """The largest absolute difference between eager PyTorch and ``runner`` on ``x`` (normalised units)."""
    with torch.no_grad():
        eager = ForecastOnly(model).eval()(x).numpy()
    return float(np.abs(runner(x.numpy()) - eager).max())
