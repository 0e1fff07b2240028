"""Losses against brute force and their defining properties (issue 5, point 1)."""

import math

import pytest
import torch

from s2kd.losses import CompositeLoss, output_kd_loss, semantic_loss, spectral_loss, standardise, task_loss


def _spectral_by_hand(a, b, *, cutoff, w_low, w_high, amplitude_only=False):
    """A per-frequency loop: the orthonormal DFT of each rfft2 bin written out, banded by radius."""
    h, w = a.shape[-2:]
    lows, highs = [], []
    for ky in range(h):
        for kx in range(w // 2 + 1):
            fy = ky / h if ky <= (h - 1) // 2 else (ky - h) / h  # fftfreq
            fx = kx / w
            r = math.sqrt(fy * fy + fx * fx)
            phase = torch.tensor([[-2 * math.pi * (ky * y / h + kx * x / w) for x in range(w)] for y in range(h)])
            basis = torch.complex(torch.cos(phase), torch.sin(phase)) / math.sqrt(h * w)
            fa = (a.to(torch.complex64) * basis).sum(dim=(-2, -1))
            fb = (b.to(torch.complex64) * basis).sum(dim=(-2, -1))
            d = (fa.abs() - fb.abs()).abs() if amplitude_only else (fa - fb).abs()
            (lows if r <= cutoff else highs).append(d)
    low = torch.stack(lows, -1).mean() if lows else 0.0
    high = torch.stack(highs, -1).mean() if highs else 0.0
    return w_low * low + w_high * high


@pytest.mark.parametrize("amplitude_only", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 6, 8), (1, 2, 5, 7)])
def test_spectral_loss_equals_a_per_frequency_loop(shape, amplitude_only):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    got = spectral_loss(a, b, cutoff=0.25, w_low=1.0, w_high=0.7, amplitude_only=amplitude_only)
    want = _spectral_by_hand(a, b, cutoff=0.25, w_low=1.0, w_high=0.7, amplitude_only=amplitude_only)
    torch.testing.assert_close(got, torch.as_tensor(want, dtype=got.dtype), rtol=1e-4, atol=1e-5)


def test_spectral_loss_is_zero_for_identical_inputs():
    a = torch.randn(2, 4, 8, 8)
    assert spectral_loss(a, a.clone()).item() == 0.0


def test_a_high_frequency_perturbation_shows_only_in_the_high_band():
    a = torch.randn(2, 3, 16, 16)
    y, x = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    checker = torch.cos(math.pi * (x + y))  # r = sqrt(0.5² + 0.5²) > 0.25: highest frequency
    b = a + 0.5 * checker
    only_low = spectral_loss(a, b, w_low=1.0, w_high=0.0)
    only_high = spectral_loss(a, b, w_low=0.0, w_high=1.0)
    assert only_low.item() < 1e-6 and only_high.item() > 1e-3
    smooth = a + 0.5 * torch.cos(2 * math.pi * x / 16)  # r = 1/16 <= 0.25: low band
    assert spectral_loss(a, smooth, w_low=0.0, w_high=1.0).item() < 1e-6
    assert spectral_loss(a, smooth, w_low=1.0, w_high=0.0).item() > 1e-3


def test_semantic_loss_is_invariant_to_per_channel_affine_rescaling():
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(3, 4, 5, 6, generator=g), torch.randn(3, 4, 5, 6, generator=g)
    scale = torch.rand(1, 4, 1, 1, generator=g) * 5 + 0.1
    shift = torch.randn(1, 4, 1, 1, generator=g) * 10
    for kind in ("mse", "cosine", "relational"):
        base = semantic_loss(s, t, kind=kind)
        torch.testing.assert_close(semantic_loss(s * scale + shift, t, kind=kind), base, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(semantic_loss(s, t * scale - shift, kind=kind), base, rtol=1e-4, atol=1e-5)
        assert semantic_loss(t, t, kind=kind).item() < 1e-6
        assert base.item() > (1e-3 if kind == "relational" else 0.1)


def test_relational_semantic_loss_compares_how_samples_resemble_each_other():
    """Similarity-preserving form: latents that differ place by place but relate the batch's samples alike
    cost nothing (here the teacher's channels permuted); a student whose samples resemble each other
    differently does cost."""
    g = torch.Generator().manual_seed(2)
    t = torch.randn(6, 4, 5, 6, generator=g)
    permuted = t[:, torch.tensor([2, 0, 3, 1])]
    assert semantic_loss(permuted, t, kind="relational").item() < 1e-6
    assert semantic_loss(permuted, t, kind="mse").item() > 0.5
    other = torch.randn(6, 4, 5, 6, generator=g)
    loss = semantic_loss(other, t, kind="relational")
    flat = lambda z: torch.nn.functional.normalize(standardise(z).flatten(1), dim=1)  # noqa: E731
    expected = ((flat(other) @ flat(other).T - flat(t) @ flat(t).T) ** 2).mean()
    torch.testing.assert_close(loss, expected)


def test_semantic_loss_brute_force():
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    total = 0.0
    for i in range(2):
        for c in range(3):
            ns = (s[i, c] - s[i, c].mean()) / (s[i, c].std(unbiased=False) + 1e-5)
            nt = (t[i, c] - t[i, c].mean()) / (t[i, c].std(unbiased=False) + 1e-5)
            total += ((ns - nt) ** 2).mean()
    torch.testing.assert_close(semantic_loss(s, t), torch.as_tensor(total / 6), rtol=1e-5, atol=1e-6)


def test_teacher_side_gets_no_gradient():
    s = torch.randn(2, 3, 8, 8, requires_grad=True)
    t = torch.randn(2, 3, 8, 8, requires_grad=True)
    (semantic_loss(s, t) + spectral_loss(s, t) + output_kd_loss(s, t)).backward()
    assert s.grad is not None and t.grad is None


def test_composite_terms_add_up_to_the_total_and_print_the_formula():
    y_hat, y = torch.randn(2, 4, 1, 8, 8), torch.randn(2, 4, 1, 8, 8)
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    loss = CompositeLoss({"task": 1.0, "sem": 0.5, "spec": 0.1})
    out = loss({"task": lambda: task_loss(y_hat, y), "sem": lambda: semantic_loss(s, t),
                "spec": lambda: spectral_loss(s, t)})
    torch.testing.assert_close(out["loss"], out["loss_task"] + 0.5 * out["loss_sem"] + 0.1 * out["loss_spec"])
    assert loss.formula() == "L = L_task + 0.5·L_sem + 0.1·L_spec"
    called = []
    only_task = CompositeLoss({"task": 1.0, "sem": 0.0})
    only_task({"task": lambda: task_loss(y_hat, y), "sem": lambda: called.append(1) or torch.tensor(0.0)})
    assert called == [] and only_task.formula() == "L = L_task"  # a zero weight is never computed
