"""Tests of the networks in ``s2kd.models``: the shared contract, the band split, text handling,
presets and the save/rebuild round trip. All on the ``tiny`` preset, so the folder runs in seconds."""

from __future__ import annotations

import dataclasses
import io
import json
import math

import numpy as np
import pytest
import torch

from s2kd.errors import ParameterError
from s2kd.models import (
    MODELS,
    PRESETS,
    Projector,
    build_model,
    build_student,
    config_from_dict,
    config_to_dict,
    model_kind,
    preset_configs,
)
from s2kd.models.blocks import count_parameters, pad_to_multiple, sincos_pos_embed_2d
from s2kd.models.fusion import CrossModalAlignment
from s2kd.models.spectral import SpectralConv2d, lowpass, radial_frequency, split_bands

GRIDS = [(25, 53), (16, 8), (32, 64)]
T_IN, T_OUT, B, L = 3, 5, 2, 7


def _teacher(c: int = 1, *, use_text: bool = True, low_op: str = "fno", seed: int = 0, **overrides):
    cfg, _ = preset_configs("tiny", in_channels=c, t_in=T_IN, t_out=T_OUT)
    torch.manual_seed(seed)
    return build_model("teacher", dataclasses.replace(cfg, use_text=use_text, low_op=low_op, **overrides)).eval()


def _student(backbone: str, c: int = 1, seed: int = 0):
    _, cfg = preset_configs("tiny", in_channels=c, t_in=T_IN, t_out=T_OUT, backbone=backbone)
    torch.manual_seed(seed)
    return build_student(cfg).eval()


def _text(seed: int, batch: int = B, length: int = L) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randn(batch, length, 384, generator=g).half()  # stored embeddings are float16
    mask = torch.ones(batch, length, dtype=torch.bool)
    mask[0, length - 2:] = False  # some padding
    return tokens, mask


def _frames(c: int, h: int, w: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(B, T_IN, c, h, w, generator=torch.Generator().manual_seed(seed))


def _band_energy(z: torch.Tensor, cutoff: float) -> tuple[float, float, float]:
    """(energy with r <= cutoff, energy with r > cutoff, total) of rfft2(z, ortho) over the last two dims."""
    power = torch.fft.rfft2(z.double(), norm="ortho").abs() ** 2
    low = radial_frequency(*z.shape[-2:]) <= cutoff
    return float(power[..., low].sum()), float(power[..., ~low].sum()), float(power.sum())


def _latent_shape(d: int, h: int, w: int) -> tuple[int, int, int, int]:
    return (B, d, math.ceil(h / 4), math.ceil(w / 4))


# ----------------------------------------------------------------------------- contract: shapes


@pytest.mark.parametrize("c", [1, 2])
@pytest.mark.parametrize("hw", GRIDS)
@pytest.mark.parametrize("variant", ["text", "no_text", "vision", "attention"])
def test_teacher_shapes(variant, hw, c):
    model = _teacher(c, use_text=variant != "vision", low_op="attention" if variant == "attention" else "fno")
    text, mask = _text(0) if variant != "no_text" else (None, None)
    with torch.no_grad():
        out = model(_frames(c, *hw), text, mask)
    assert set(out) == {"y_hat", "latent", "z", "z_low", "z_high"}
    assert out["y_hat"].shape == (B, T_OUT, c, *hw)
    for key in ("latent", "z", "z_low", "z_high"):
        assert out[key].shape == _latent_shape(model.config.d, *hw), key
    assert all(torch.isfinite(v).all() for v in out.values())
    assert model.uses_text is (variant != "vision")


@pytest.mark.parametrize("c", [1, 2])
@pytest.mark.parametrize("hw", GRIDS)
@pytest.mark.parametrize("backbone", ["simvp", "unet"])
def test_student_shapes(backbone, hw, c):
    model = _student(backbone, c)
    text, mask = _text(0)
    with torch.no_grad():
        out = model(_frames(c, *hw), text, mask)
        plain = model(_frames(c, *hw))
    assert set(out) == {"y_hat", "latent"}
    assert out["y_hat"].shape == (B, T_OUT, c, *hw)
    assert out["latent"].shape == _latent_shape(model.config.d, *hw)
    assert model.uses_text is False
    assert torch.equal(out["y_hat"], plain["y_hat"]), "a student must ignore text"


@pytest.mark.parametrize("kind", ["teacher", "unet"])
def test_large_odd_grid(kind):
    model = _teacher(2) if kind == "teacher" else _student("unet", 2)
    text, mask = _text(0)
    with torch.no_grad():
        out = model(_frames(2, 127, 116), text, mask)
    assert out["y_hat"].shape == (B, T_OUT, 2, 127, 116)
    assert out["latent"].shape == _latent_shape(model.config.d, 127, 116)


@pytest.mark.parametrize("hw", [(4, 4), (10, 20), (5, 7)])
def test_small_grids(hw):
    with torch.no_grad():
        out = _teacher(1)(_frames(1, *hw), *_text(0))
    assert out["y_hat"].shape == (B, T_OUT, 1, *hw)
    assert torch.isfinite(out["y_hat"]).all()


def test_bf16_autocast_and_float64():
    model = _teacher(1).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(_frames(1, 25, 53), *_text(0))
    assert all(torch.isfinite(v).all() for v in out.values())
    out["y_hat"].float().square().mean().backward()
    z = torch.randn(2, 3, 7, 14, dtype=torch.float64)
    assert lowpass(z, 0.25).dtype == torch.float64
    assert SpectralConv2d(3, n_modes=2).double()(z).dtype == torch.float64


def test_wrong_input_raises():
    model = _teacher(1)
    with pytest.raises(AssertionError, match="T_in"):
        model(torch.randn(B, T_IN + 1, 1, 16, 16))
    with pytest.raises(AssertionError, match=r"\(B, T, C, H, W\)"):
        model(torch.randn(B, 1, 16, 16))


def test_pad_to_multiple_keeps_content():
    x = torch.randn(2, 3, 1, 25, 53)
    p = pad_to_multiple(x)
    assert p.shape == (2, 3, 1, 28, 56)
    assert torch.equal(p[..., :25, :53], x)
    assert torch.equal(p[..., 27, 55], x[..., 24, 52])  # edge value repeated


# ----------------------------------------------------------------------------- spectral split


def test_radial_frequency_brute_force():
    h, w = 7, 10
    r = radial_frequency(h, w)
    assert r.shape == (h, w // 2 + 1)
    for ky in range(h):
        for kx in range(w // 2 + 1):
            fy = (ky if ky <= (h - 1) // 2 else ky - h) / h
            assert r[ky, kx].item() == pytest.approx(math.hypot(fy, kx / w), abs=1e-6)


@pytest.mark.parametrize("hw", [(8, 16), (7, 14), (25, 53), (4, 2)])
def test_split_bands(hw):
    z = torch.randn(3, 5, *hw, generator=torch.Generator().manual_seed(0))
    low, high = split_bands(z, 0.25)
    assert low.shape == high.shape == z.shape
    torch.testing.assert_close(low + high, z, rtol=0, atol=1e-6)
    lo_e, hi_e, total = _band_energy(low, 0.25)
    assert hi_e <= 1e-10 * total, "the low band leaks above the cutoff"
    lo_e, hi_e, total = _band_energy(high, 0.25)
    assert lo_e <= 1e-10 * total, "the high band leaks below the cutoff"
    torch.testing.assert_close(lowpass(low, 0.25), low, rtol=0, atol=1e-6)  # a projection


def test_lowpass_on_known_waves():
    h, w = 16, 32
    y, x = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    slow = np.cos(2 * np.pi * (2 * y / h + 3 * x / w))  # r = hypot(0.125, 0.094) = 0.156
    fast = np.sin(2 * np.pi * (5 * y / h + 9 * x / w))  # r = hypot(0.3125, 0.281) = 0.42
    z = torch.tensor(slow + fast, dtype=torch.float32)
    low, high = split_bands(z, 0.25)
    np.testing.assert_allclose(low.numpy(), slow, atol=1e-5)
    np.testing.assert_allclose(high.numpy(), fast, atol=1e-5)


def test_spectral_conv_clamps_modes_and_keeps_dtype():
    conv = SpectralConv2d(4, n_modes=6)
    for hw in [(1, 1), (2, 3), (8, 16)]:
        x = torch.randn(2, 4, *hw)
        assert conv(x).shape == x.shape
    x = torch.randn(2, 4, 8, 16, dtype=torch.float64)
    assert conv(x).dtype == torch.float64


@pytest.mark.parametrize("ky,kx,kept", [(1, 1, True), (-1, 1, True), (-2, 0, True), (0, 2, True), (2, 2, True),
                                        (-2, 2, True), (3, 0, False), (-3, 1, False), (0, 3, False)])
def test_spectral_conv_acts_on_kept_modes_only(ky, kx, kept):
    """A plane wave at (ky, kx) must pass iff |ky| < n_modes and kx < n_modes, and stay at its frequency."""
    h, w = 8, 12
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    wave = torch.cos(2 * math.pi * (ky * y / h + kx * x / w)).float()
    torch.manual_seed(0)
    with torch.no_grad():
        out = SpectralConv2d(3, n_modes=3)(wave.expand(1, 3, h, w))
    assert bool(out.abs().max() > 1e-3) is kept
    if kept:  # a per-mode linear map sends a mode to the same mode (and its mirror when kx == 0)
        power = torch.fft.rfft2(out.double(), norm="ortho").abs() ** 2
        own = power[..., ky % h, kx] + (power[..., -ky % h, kx] if kx == 0 and ky != 0 else 0)
        assert own.sum() >= 0.999 * power.sum()


@pytest.mark.parametrize("low_op", ["fno", "attention"])
def test_teacher_bands(low_op):
    model = _teacher(1, low_op=low_op)
    cutoff = model.config.cutoff
    with torch.no_grad():
        out = model(_frames(1, 32, 64), *_text(0))
        low_in, high_in = model.translator.split(out["z"])
        again = model.translator(out["z"])
    torch.testing.assert_close(low_in + high_in, out["z"], rtol=0, atol=1e-6)
    _, hi_e, total = _band_energy(low_in, cutoff)
    assert hi_e <= 1e-10 * total
    _, hi_e, total = _band_energy(out["z_low"], cutoff)
    assert total > 0 and hi_e <= 1e-10 * total, "the evolved z_low has energy above the cutoff"
    lo_e, _, total = _band_energy(out["z_high"], cutoff)
    assert total > 0 and lo_e <= 1e-10 * total, "the evolved z_high has energy below the cutoff"
    # "z" is the translator's input and "latent" its fused output
    torch.testing.assert_close(again["latent"], out["latent"])
    # the fused output is LayerNorm over channels of z_low + z_high (affine at its init: identity)
    s = out["z_low"] + out["z_high"]
    ref = (s - s.mean(1, keepdim=True)) / torch.sqrt(s.var(1, unbiased=False, keepdim=True) + 1e-5)
    torch.testing.assert_close(out["latent"], ref, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- text


def test_multimodal_teacher_reads_text():
    """A new teacher's fusion gates are closed: it forecasts as its vision twin whatever the text; once
    the gates open (as training opens them), the narrative changes the forecast."""
    model = _teacher(1, gated_fusion=True)
    x = _frames(1, 25, 53)
    with torch.no_grad():
        torch.testing.assert_close(model(x, *_text(0))["y_hat"], model(x)["y_hat"], rtol=0, atol=0)
        for block in model.fusion.blocks:
            block.gates.fill_(0.5)
        a = model(x, *_text(0))["y_hat"]
        b = model(x, *_text(1))["y_hat"]
        none = model(x)["y_hat"]
    assert (a - b).abs().max() > 1e-4, "changing the narrative does not change the forecast"
    assert (a - none).abs().max() > 1e-4


@pytest.mark.parametrize("queries", ["position", "visual"])
def test_default_teacher_reads_text_from_the_start(queries):
    model = _teacher(1, fusion_queries=queries)
    x = _frames(1, 25, 53)
    with torch.no_grad():
        a, b, none = model(x, *_text(0))["y_hat"], model(x, *_text(1))["y_hat"], model(x)["y_hat"]
    assert (a - b).abs().max() > 1e-4 and (a - none).abs().max() > 1e-4


@pytest.mark.parametrize("queries", ["position", "visual"])
def test_position_queries_ask_the_text_by_place_alone(queries):
    """With position queries the text's answer at a place is the same whatever the frames show there
    (the attention residual of one block, its MLP silenced); with visual queries it is not."""
    fusion = CrossModalAlignment(d=16, n_blocks=1, n_heads=2, position_queries=queries == "position").eval()
    with torch.no_grad():
        fusion.blocks[0].mlp.fc2.weight.zero_()
        fusion.blocks[0].mlp.fc2.bias.zero_()
    text = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(0))
    z1, z2 = (torch.randn(2, 16, 4, 6, generator=torch.Generator().manual_seed(s)) for s in (1, 2))
    with torch.no_grad():
        answer1, answer2 = fusion(z1, text) - z1, fusion(z2, text) - z2
    same = torch.allclose(answer1, answer2, atol=1e-6)
    assert same == (queries == "position")
    assert answer1.abs().max() > 1e-3


def test_fusion_queries_must_be_known():
    cfg, _ = preset_configs("tiny", in_channels=1, t_in=T_IN, t_out=T_OUT)
    with pytest.raises(ParameterError, match="fusion_queries"):
        dataclasses.replace(cfg, fusion_queries="pixels")


def test_vision_teacher_ignores_text():
    model = _teacher(1, use_text=False)
    x = _frames(1, 25, 53)
    with torch.no_grad():
        a = model(x, *_text(0))
        b = model(x, *_text(1))
        none = model(x)
    for key in a:
        assert torch.equal(a[key], b[key]) and torch.equal(a[key], none[key]), key
    assert model.text_adapter is None
    assert not any("text_adapter" in name for name, _ in model.named_parameters())


def test_all_padding_mask_is_finite_and_means_no_text():
    model = _teacher(1).train()
    x = _frames(1, 16, 8)
    tokens, mask = _text(0)
    mask[0] = False  # sample 0 has no real token at all
    out = model(x, tokens, mask)
    assert all(torch.isfinite(v).all() for v in out.values())
    out["y_hat"].square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.eval()
    with torch.no_grad():
        masked = model(x, tokens, torch.zeros_like(mask))["y_hat"]
        none = model(x)["y_hat"]
    torch.testing.assert_close(masked, none, rtol=1e-5, atol=1e-5)


def test_padded_tokens_are_ignored():
    model = _teacher(1)
    x = _frames(1, 16, 8)
    tokens, mask = _text(0)
    other = tokens.clone()
    other[~mask] = 7.0  # change only padded positions
    with torch.no_grad():
        torch.testing.assert_close(model(x, tokens, mask)["y_hat"], model(x, other, mask)["y_hat"])


def test_gradients_reach_text_adapter():
    """At init the closed gates take the gradient (that is how they open); once open, the text adapter does."""
    model = _teacher(1, gated_fusion=True).train()
    model(_frames(1, 16, 8), *_text(0))["y_hat"].square().mean().backward()
    assert all(b.gates.grad is not None and b.gates.grad.abs().sum() > 0 for b in model.fusion.blocks)
    with torch.no_grad():
        for block in model.fusion.blocks:
            block.gates.fill_(0.5)
    model.zero_grad()
    out = model(_frames(1, 16, 8), *_text(0))
    out["y_hat"].square().mean().backward()
    for name, p in model.text_adapter.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches text_adapter.{name}"
    assert model.fusion.null.grad is not None and model.fusion.null.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- presets and registry


def _count(kind: str, cfg) -> int:
    with torch.device("meta"):  # count without allocating (the paper teacher has ~150 M parameters)
        return count_parameters(build_model(kind, cfg))


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("backbone", ["simvp", "unet"])
@pytest.mark.parametrize("c,t_in,t_out", [(1, 4, 4), (2, 3, 5), (5, 12, 12)])
def test_student_is_a_tenth_of_teacher(preset, backbone, c, t_in, t_out):
    teacher_cfg, student_cfg = preset_configs(preset, in_channels=c, t_in=t_in, t_out=t_out, backbone=backbone)
    n_teacher, n_student = _count("teacher", teacher_cfg), _count(backbone, student_cfg)
    assert 10 * n_student <= n_teacher, f"{preset}/{backbone}: student {n_student} > teacher {n_teacher} / 10"
    low, high = {"tiny": (50e3, 150e3), "small": (0.5e6, 1.5e6), "paper": (127.5e6, 172.5e6)}[preset]
    assert low <= n_teacher <= high, f"{preset} teacher has {n_teacher} parameters"


def test_meta_count_matches_real_count():
    cfg, _ = preset_configs("small", in_channels=1, t_in=4, t_out=4)
    assert _count("teacher", cfg) == count_parameters(build_model("teacher", cfg))


@pytest.mark.parametrize("kind", ["teacher", "simvp", "unet"])
def test_state_dict_round_trip(kind):
    teacher_cfg, student_cfg = preset_configs("tiny", in_channels=2, t_in=T_IN, t_out=T_OUT,
                                              backbone="unet" if kind == "unet" else "simvp")
    cfg = teacher_cfg if kind == "teacher" else student_cfg
    torch.manual_seed(3)
    model = build_model(kind, cfg).eval()
    assert model_kind(model) == kind
    buffer = io.BytesIO()
    torch.save({"kind": kind, "config": json.dumps(config_to_dict(model.config)),
                "state_dict": model.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    torch.manual_seed(4)  # different initial weights: only load_state_dict can make them equal
    rebuilt = build_model(saved["kind"], config_from_dict(saved["kind"], json.loads(saved["config"])))
    rebuilt.load_state_dict(saved["state_dict"])
    rebuilt.eval()
    x, (tokens, mask) = _frames(2, 25, 53), _text(0)
    with torch.no_grad():
        a, b = model(x, tokens, mask), rebuilt(x, tokens, mask)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert type(rebuilt) is MODELS[kind]


def test_build_model_from_plain_dict_and_errors():
    cfg, _ = preset_configs("tiny", in_channels=1, t_in=2, t_out=2)
    model = build_model("teacher", config_to_dict(cfg))
    assert model.config == cfg
    with pytest.raises(ParameterError, match="unknown keys"):
        config_from_dict("teacher", {**config_to_dict(cfg), "depth": 3})
    with pytest.raises(ParameterError, match="missing keys"):
        config_from_dict("simvp", {"width": 4})
    with pytest.raises(ParameterError, match="backbone"):
        config_from_dict("unet", {"backbone": "simvp", "in_channels": 1, "out_channels": 1, "t_in": 1,
                                  "t_out": 1, "width": 4, "d": 4, "n_blocks": 1})
    with pytest.raises(ParameterError, match="low_op"):
        dataclasses.replace(cfg, low_op="wavelet")
    with pytest.raises(ParameterError, match="unknown kind"):
        build_model("convlstm", {})
    with pytest.raises(ParameterError, match="unknown preset"):
        preset_configs("huge", in_channels=1, t_in=1, t_out=1)


# ----------------------------------------------------------------------------- small pieces


@pytest.mark.parametrize("kind", ["conv1x1", "mlp"])
def test_projector(kind):
    p = Projector(16, 32, kind=kind)
    assert p(torch.randn(2, 16, 7, 14)).shape == (2, 32, 7, 14)
    assert len(list(p.children())) == 1


def test_sincos_pos_embed_distinguishes_positions():
    pe = sincos_pos_embed_2d(4, 6, 32)
    assert pe.shape == (24, 32)
    assert torch.cdist(pe, pe).add(torch.eye(24)).min() > 1e-3, "two grid points share an embedding"
