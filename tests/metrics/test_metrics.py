"""Metrics against brute-force loops and hand-computed cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from s2kd.metrics import (
    ForecastSet,
    acc,
    mae,
    mse,
    psnr,
    radial_power_spectrum,
    rmse,
    score_forecast,
    spectral_error,
    ssim,
)
from s2kd.metrics.efficiency import count_flops, count_parameters, latency, peak_memory_bytes
from s2kd.metrics.ssim import gaussian_window
from s2kd.metrics.weights import grid_weights, latitude_weights

N, T, C, H, W = 3, 2, 2, 12, 14


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    truth = torch.randn(N, T, C, H, W, generator=g, dtype=torch.float64)
    pred = truth + 0.3 * torch.randn(N, T, C, H, W, generator=g, dtype=torch.float64)
    return pred, truth


def _per_lead(fn, pred, truth):
    return [fn(pred[:, t].numpy(), truth[:, t].numpy()) for t in range(pred.shape[1])]


def test_pointwise_metrics_match_loops(pair):
    pred, truth = pair
    assert mse(pred, truth).tolist() == pytest.approx(_per_lead(lambda p, t: np.mean((p - t) ** 2), pred, truth))
    assert mae(pred, truth).tolist() == pytest.approx(_per_lead(lambda p, t: np.mean(np.abs(p - t)), pred, truth))
    assert rmse(pred,
                truth).tolist() == pytest.approx(_per_lead(lambda p, t: math.sqrt(np.mean((p - t) ** 2)), pred, truth))
    rng = float(truth.max() - truth.min())
    expected = _per_lead(lambda p, t: 10 * math.log10(rng**2 / np.mean((p - t) ** 2)), pred, truth)
    assert psnr(pred, truth).tolist() == pytest.approx(expected)


def test_latitude_weighting_against_a_hand_computed_case():
    w = latitude_weights(np.array([0.0, 60.0]), width=3)  # cos: 1 and 0.5, normalised to mean 1
    assert w[:, 0].tolist() == pytest.approx([4 / 3, 2 / 3])
    truth = torch.zeros(1, 1, 1, 2, 3, dtype=torch.float64)
    pred = truth.clone()
    pred[..., 0, :] = 1.0  # error 1 on the equator row only
    assert rmse(pred, truth, w).item() == pytest.approx(math.sqrt(2 / 3))
    assert rmse(pred, truth).item() == pytest.approx(math.sqrt(1 / 2))
    assert torch.equal(grid_weights(None, (2, 3)), torch.ones(2, 3, dtype=torch.float64))


def test_acc_is_one_for_a_perfect_anomaly_forecast_and_matches_a_loop(pair):
    pred, truth = pair
    clim = torch.randn(1, 1, C, H, W, dtype=torch.float64)
    weights = latitude_weights(np.linspace(-60, 60, H), W)
    assert acc(truth, truth, clim, weights).tolist() == pytest.approx([1.0] * T)
    assert acc(clim + 2.5 * (truth - clim), truth, clim, weights).tolist() == pytest.approx([1.0] * T)
    assert acc(clim - (truth - clim), truth, clim, weights).tolist() == pytest.approx([-1.0] * T)
    w = weights.numpy()
    for t in range(T):
        values = []
        for n, c in itertools.product(range(N), range(C)):
            af, at = (pred[n, t, c] - clim[0, 0, c]).numpy(), (truth[n, t, c] - clim[0, 0, c]).numpy()
            values.append((w * af * at).sum() / math.sqrt((w * af**2).sum() * (w * at**2).sum()))
        assert acc(pred, truth, clim, weights)[t].item() == pytest.approx(np.mean(values))


def test_ssim_matches_a_window_by_window_loop(pair):
    pred, truth = pair
    L = float(truth.max() - truth.min())
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    g = gaussian_window(11).numpy()
    for t in range(T):
        values = []
        for n, c in itertools.product(range(N), range(C)):
            x, y = pred[n, t, c].numpy(), truth[n, t, c].numpy()
            for i, j in itertools.product(range(H - 10), range(W - 10)):
                px, py = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
                mx, my = (g * px).sum(), (g * py).sum()
                vx, vy = (g * (px - mx) ** 2).sum(), (g * (py - my) ** 2).sum()
                cxy = (g * (px - mx) * (py - my)).sum()
                values.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
        assert ssim(pred, truth)[t].item() == pytest.approx(np.mean(values))
    assert ssim(truth, truth).tolist() == pytest.approx([1.0] * T)
    small = torch.randn(1, 1, 1, 8, 16, dtype=torch.float64)  # smaller than 11x11: a 7x7 window
    assert ssim(small, small).item() == pytest.approx(1.0)


def _spectral_loop(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    hann = np.outer(np.hanning(H), np.hanning(W))
    sums = {b: [0.0, 0.0] for b in ("low", "mid", "high")}
    for idx in np.ndindex(pred.shape[:-2]):
        fp = np.fft.fft2((pred[idx] - pred[idx].mean()) * hann, norm="ortho")
        ft = np.fft.fft2((truth[idx] - truth[idx].mean()) * hann, norm="ortho")
        for ky, kx in itertools.product(range(H), range(W)):
            r = math.hypot(np.fft.fftfreq(H)[ky], np.fft.fftfreq(W)[kx])
            if r == 0:
                continue
            band = "low" if r <= 1 / 8 else "mid" if r <= 1 / 4 else "high"
            sums[band][0] += abs(fp[ky, kx] - ft[ky, kx]) ** 2
            sums[band][1] += abs(ft[ky, kx]) ** 2
    return {b: num / den for b, (num, den) in sums.items()}


def test_spectral_error_matches_a_per_frequency_loop(pair):
    pred, truth = pair
    got = spectral_error(pred[:, :1], truth[:, :1])
    want = _spectral_loop(pred[:, 0].numpy(), truth[:, 0].numpy())
    for band in ("low", "mid", "high"):
        assert got[band].item() == pytest.approx(want[band])


def test_spectral_error_is_zero_when_perfect_and_high_frequency_noise_shows_only_in_the_high_band(pair):
    _, truth = pair
    perfect = spectral_error(truth, truth)
    assert all(v.abs().max().item() == 0 for v in perfect.values())
    y, x = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    checker = ((-1.0) ** (y + x)).double()  # r = 0.5·√2 cycles/pixel: only the highest frequencies
    err = spectral_error(truth + 0.5 * checker, truth)
    assert err["high"].min().item() > 0.01
    # the Hann window spreads a pure tone over neighbouring bins only: low and mid stay (near) zero
    assert max(err["low"].max().item(), err["mid"].max().item()) < 1e-3 * err["high"].min().item()


def test_radial_power_spectrum_peaks_at_the_frequency_of_a_wave():
    x = torch.arange(64, dtype=torch.float64)
    wave = torch.sin(2 * math.pi * 0.125 * x)[None, :].repeat(64, 1)  # 1/8 cycles/pixel along x
    freq, power = radial_power_spectrum(wave[None])
    assert freq[np.argmax(power)] == pytest.approx(0.125, abs=1 / 64)


def test_score_forecast_gives_every_metric_per_lead_and_averaged(pair):
    pred, truth = pair
    f = ForecastSet(pred=pred, truth=truth, offset=torch.tensor([10.0, -5.0]), scale=torch.tensor([2.0, 0.5]),
                    climatology=torch.zeros(1), weights=torch.ones(H, W))
    rows = score_forecast(f)
    table = {(r["metric"], r["lead"]): r["value"] for r in rows}
    assert {m for m, _ in table} >= {"mse", "mae_physical", "rmse_physical", "acc", "ssim", "psnr",
                                     "spectral_error_high"}
    assert table[("mse", 0)] == pytest.approx(np.mean([table[("mse", 1)], table[("mse", 2)]]))
    # physical units: channel 0 errors x2, channel 1 x0.5
    err = (pred - truth).numpy()
    want = np.mean(np.concatenate([(2.0 * err[:, 0, 0]) ** 2, (0.5 * err[:, 0, 1]) ** 2]))
    assert table[("mse_physical", 1)] == pytest.approx(want)


def test_efficiency_counts_a_linear_layer_by_hand():
    model = torch.nn.Sequential(torch.nn.Linear(100, 50), torch.nn.ReLU(), torch.nn.Linear(50, 10))
    inputs = {"input": torch.randn(8, 100)}
    assert count_parameters(model) == 100 * 50 + 50 + 50 * 10 + 10
    assert count_flops(model, inputs) == 2 * 8 * (100 * 50 + 50 * 10)
    weights_bytes = 4 * count_parameters(model)
    peak = peak_memory_bytes(model, inputs)
    # weights + input + at least the largest activation; at most everything at once
    assert weights_bytes + 4 * (8 * 100 + 8 * 50) <= peak <= weights_bytes + 4 * (8 * 100 + 3 * 8 * 50 + 8 * 10)
    timing = latency(model, inputs, warmup=1, repeats=5)
    assert 0 < timing["p10_ms"] <= timing["median_ms"] <= timing["p90_ms"]
