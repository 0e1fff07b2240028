"""s2kd.models.export: the students export with a dynamic batch and match eager PyTorch; the teacher is
refused with a reason; and an export attempt leaves nothing behind that slows eager PyTorch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from s2kd.models import build_model
from s2kd.models.blocks import sincos_pos_embed_2d
from s2kd.models.export import OnnxRunner, parity, to_onnx
from s2kd.models.presets import preset_configs
from s2kd.models.spectral import radial_frequency


@pytest.mark.parametrize("backbone", ["unet", "simvp"])
def test_a_student_exports_with_a_dynamic_batch_and_matches_eager(backbone):
    _, config = preset_configs("tiny", in_channels=2, t_in=3, t_out=2, backbone=backbone)
    torch.manual_seed(0)
    model = build_model(backbone, config).eval()
    runner = OnnxRunner(to_onnx(model, torch.randn(2, 3, 2, 12, 20)))
    for batch in (1, 7):
        assert parity(model, runner, torch.randn(batch, 3, 2, 12, 20)) <= 1e-5
    assert runner(np.zeros((4, 3, 2, 12, 20), np.float32)).shape == (4, 2, 2, 12, 20)


def test_the_teacher_is_refused_and_the_attempt_leaves_no_traced_tensor_in_the_caches():
    teacher, _ = preset_configs("tiny", in_channels=1, t_in=3, t_out=2)
    model = build_model("teacher", dataclasses.replace(teacher, use_text=False)).eval()
    with pytest.raises(ValueError, match="does not export to ONNX"):
        to_onnx(model, torch.randn(2, 3, 1, 16, 24))
    # the grids' cached frequencies and embeddings are plain tensors again after the tracing (a fake one
    # cached during the export made every later eager forward pass ~12x slower)
    for h, w in ((16, 24), (4, 6), (8, 12), (2, 3)):
        assert type(radial_frequency(h, w)) is torch.Tensor
        assert type(sincos_pos_embed_2d(h, w, 16)) is torch.Tensor
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(1, 3, 1, 16, 24))["y_hat"]).all()
    text_model = build_model("teacher", dataclasses.replace(teacher, use_text=True))
    with pytest.raises(ValueError, match="reads narratives"):
        to_onnx(text_model, torch.randn(2, 3, 1, 16, 24))
