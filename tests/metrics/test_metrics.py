"""Every metric against a hand-written loop on small arrays: two channels in different units on a
latitude/longitude grid that includes both poles, to 1e-10."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from s2kd.metrics import (
    ALL,
    METRICS,
    ForecastSet,
    acc,
    cell_area_weights,
    grid_weights,
    radial_power_spectrum,
    score_forecast,
    spectral_error,
    ssim,
)
from s2kd.metrics.efficiency import count_flops, count_parameters, latency, peak_memory_bytes
from s2kd.metrics.ssim import gaussian_window

N, T, C, H, W = 3, 2, 2, 12, 14
LAT = np.linspace(90.0, -90.0, H)  # descending, both poles on the grid
OFFSET, SCALE = np.array([280.0, 5500.0]), np.array([5.0, 300.0])  # K and m²/s²
LOW, RANGE = np.array([-2.5, -3.0]), np.array([5.0, 6.5])  # the training split's, normalised
TOL = 1e-10


@pytest.fixture(scope="module")
def pair():
    g = torch.Generator().manual_seed(0)
    truth = torch.randn(N, T, C, H, W, generator=g, dtype=torch.float64)
    pred = truth + 0.3 * torch.randn(N, T, C, H, W, generator=g, dtype=torch.float64)
    return pred, truth


@pytest.fixture(scope="module")
def forecast(pair):
    pred, truth = pair
    clim = torch.randn(1, 1, C, H, W, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return ForecastSet(pred=pred, truth=truth, offset=torch.tensor(OFFSET), scale=torch.tensor(SCALE),
                       climatology=clim, weights=grid_weights(LAT, (H, W)), low=torch.tensor(LOW),
                       data_range=torch.tensor(RANGE))


@pytest.fixture(scope="module")
def table(forecast):
    rows = score_forecast(forecast, ["t2m", "z500"])
    return {(r["metric"], r["channel"], r["lead"]): r["value"] for r in rows}


def _area(lat: np.ndarray) -> np.ndarray:
    """Cell areas row by row: bounds halfway to the neighbours, half a spacing beyond the ends, clipped."""
    out = []
    for i, phi in enumerate(lat):
        up = (phi + lat[i - 1]) / 2 if i > 0 else phi + (phi - lat[1]) / 2
        down = (phi + lat[i + 1]) / 2 if i < len(lat) - 1 else phi - (lat[-2] - phi) / 2
        up, down = min(max(up, down), 90.0), max(min(up, down), -90.0)
        out.append(math.sin(math.radians(up)) - math.sin(math.radians(down)))
    out = np.asarray(out)
    return out / out.mean()


def test_cell_area_weights_keep_the_poles_and_equal_cos_on_even_grids():
    w = cell_area_weights(LAT)
    np.testing.assert_allclose(w, _area(LAT), rtol=0, atol=TOL)
    assert w[0] > 0 and w[-1] > 0 and w[0] == pytest.approx(w[-1], abs=TOL)  # the polar caps count
    centres = np.linspace(-87.1875, 87.1875, 32)  # the 5.625° grid of cell centres: cos φ, normalised
    cos = np.cos(np.deg2rad(centres))
    np.testing.assert_allclose(cell_area_weights(centres), cos / cos.mean(), rtol=0, atol=TOL)
    regional = np.arange(75.0, 14.0, -2.5)  # NCEP: descending, no phantom cells beyond 76.25° and 13.75°
    np.testing.assert_allclose(cell_area_weights(regional), _area(regional), rtol=0, atol=TOL)
    np.testing.assert_allclose(cell_area_weights(regional)[::-1], cell_area_weights(regional[::-1]), atol=TOL)
    assert torch.equal(grid_weights(None, (2, 3)), torch.ones(2, 3, dtype=torch.float64))


def _loop(pair, fn):
    """``fn(pred_frame, truth_frame, channel)`` for every forecast, lead and channel -> (N, T, C) array."""
    pred, truth = (x.numpy() for x in pair)
    out = np.empty((N, T, C))
    for n, t, c in itertools.product(range(N), range(T), range(C)):
        out[n, t, c] = fn(pred[n, t, c], truth[n, t, c], c)
    return out


def _weighted_mean(frame: np.ndarray) -> float:
    w = _area(LAT)
    return sum(w[i] * frame[i, j] for i in range(H) for j in range(W)) / (H * W)


def test_pointwise_errors_are_area_weighted_per_channel(pair, table):
    mse = _loop(pair, lambda p, y, c: _weighted_mean((p - y) ** 2)).mean(0)
    mae = _loop(pair, lambda p, y, c: _weighted_mean(np.abs(p - y))).mean(0)
    for t, (c, name) in itertools.product(range(T), enumerate(["t2m", "z500"])):
        assert abs(table[("mse", name, t + 1)] - mse[t, c]) < TOL
        assert abs(table[("mae", name, t + 1)] - mae[t, c]) < TOL
        assert abs(table[("mse_physical", name, t + 1)] - SCALE[c] ** 2 * mse[t, c]) < TOL * SCALE[c] ** 2
        assert abs(table[("mae_physical", name, t + 1)] - SCALE[c] * mae[t, c]) < TOL * SCALE[c]
        # RMSE squared is the MSE of the same table: one weighting for both
        assert abs(table[("rmse_physical", name, t + 1)] ** 2 - table[("mse_physical", name, t + 1)]) < 1e-6
        assert abs(table[("mse", ALL, t + 1)] - mse[t].mean()) < TOL
    for c, name in enumerate(["t2m", "z500"]):
        # over all leads: the root of the MSE over every forecast and lead (OpenSTL's pooled RMSE)
        assert abs(table[("rmse_physical", name, 0)] - math.sqrt(SCALE[c] ** 2 * mse[:, c].mean())) < 1e-8
        assert abs(table[("mse", name, 0)] - mse[:, c].mean()) < TOL
    assert ("mse_physical", ALL, 0) not in table and ("rmse_physical", ALL, 1) not in table  # no pooled kelvin


def test_rmse_per_forecast_is_the_mean_of_each_forecasts_rmse(pair, table):
    per = _loop(pair, lambda p, y, c: math.sqrt(_weighted_mean((SCALE[c] * (p - y)) ** 2)))
    for t, (c, name) in itertools.product(range(T), enumerate(["t2m", "z500"])):
        assert abs(table[("rmse_physical_per_forecast", name, t + 1)] - per[:, t, c].mean()) < 1e-8
    assert table[("rmse_physical_per_forecast", "t2m", 1)] < table[("rmse_physical", "t2m", 1)]  # Jensen


def test_openstl_frame_sums_are_c_h_w_times_the_per_pixel_mse(pair, table):
    sums = _loop(pair, lambda p, y, c: sum((p[i, j] - y[i, j]) ** 2 for i in range(H) for j in range(W))).mean(0)
    abs_sums = _loop(pair, lambda p, y, c: np.abs(p - y).sum()).mean(0)
    pred, truth = pair
    for t in range(T):
        for c, name in enumerate(["t2m", "z500"]):
            assert abs(table[("mse_openstl", name, t + 1)] - sums[t, c]) < TOL
            assert abs(table[("mae_openstl", name, t + 1)] - abs_sums[t, c]) < TOL
        per_pixel = float((pred[:, t] - truth[:, t]).pow(2).mean())  # unweighted, every channel
        assert abs(table[("mse_openstl", ALL, t + 1)] - C * H * W * per_pixel) < 1e-9
    assert abs(table[("mse_openstl", ALL, 0)] - C * H * W * float((pred - truth).pow(2).mean())) < 1e-9


def test_psnr_takes_each_channels_training_range(pair, table):
    mse = _loop(pair, lambda p, y, c: np.mean((p - y) ** 2)).mean(0)
    for t, c in itertools.product(range(T), range(C)):
        want = 10 * math.log10(RANGE[c] ** 2 / mse[t, c])
        assert abs(table[("psnr", ["t2m", "z500"][c], t + 1)] - want) < TOL


def _unit(x: np.ndarray, c: int) -> np.ndarray:
    return (x - LOW[c]) / RANGE[c]


def test_openstl_psnr_is_per_frame_on_frames_scaled_to_unit_range(pair, table):
    per = _loop(pair, lambda p, y, c: -10 * math.log10(np.mean((np.clip(_unit(p, c), 0, 1) - _unit(y, c)) ** 2)))
    pred, truth = (x.numpy() for x in pair)
    for t in range(T):
        for c, name in enumerate(["t2m", "z500"]):
            assert abs(table[("psnr_openstl", name, t + 1)] - per[:, t, c].mean()) < TOL
        joint = [-10 * math.log10(np.mean([(np.clip(_unit(pred[n, t, c], c), 0, 1) - _unit(truth[n, t, c], c)) ** 2
                                            for c in range(C)])) for n in range(N)]
        assert abs(table[("psnr_openstl", ALL, t + 1)] - np.mean(joint)) < TOL


def _ssim_loop(x: np.ndarray, y: np.ndarray, window: np.ndarray, rng: float, cov_norm: float) -> float:
    k = window.shape[0]
    c1, c2 = (0.01 * rng) ** 2, (0.03 * rng) ** 2
    values = []
    for i, j in itertools.product(range(x.shape[0] - k + 1), range(x.shape[1] - k + 1)):
        px, py = x[i:i + k, j:j + k], y[i:i + k, j:j + k]
        mx, my = (window * px).sum(), (window * py).sum()
        vx, vy = cov_norm * (window * (px - mx) ** 2).sum(), cov_norm * (window * (py - my) ** 2).sum()
        cxy = cov_norm * (window * (px - mx) * (py - my)).sum()
        values.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_ssim_with_a_gaussian_window_and_the_training_range(pair, table):
    g = gaussian_window(11).numpy()
    per = _loop(pair, lambda p, y, c: _ssim_loop(p, y, g, RANGE[c], 1.0)).mean(0)
    for t, c in itertools.product(range(T), range(C)):
        assert abs(table[("ssim", ["t2m", "z500"][c], t + 1)] - per[t, c]) < TOL
    _, truth = pair
    np.testing.assert_allclose(ssim(truth, truth, torch.tensor(RANGE)).numpy(), np.ones((T, C)), rtol=0, atol=TOL)


def test_openstl_ssim_uniform_window_sample_covariance_clipped_range_two(pair, table):
    uniform = np.full((7, 7), 1 / 49)
    per = _loop(pair, lambda p, y, c: _ssim_loop(np.clip(_unit(p, c), 0, 1), _unit(y, c), uniform, 2.0, 49 / 48))
    for t, (c, name) in itertools.product(range(T), enumerate(["t2m", "z500"])):
        assert abs(table[("ssim_openstl", name, t + 1)] - per[:, t, c].mean()) < TOL
        assert abs(table[("ssim_openstl", ALL, t + 1)] - per[:, t].mean()) < TOL  # skimage's multichannel mean


def test_acc_per_channel_matches_a_loop_and_is_one_for_a_perfect_anomaly(pair, forecast, table):
    w, clim = _area(LAT)[:, None], forecast.climatology[0, 0].numpy()

    def corr(p, y, c):
        af, at = p - clim[c], y - clim[c]
        return (w * af * at).sum() / math.sqrt((w * af**2).sum() * (w * at**2).sum())

    per = _loop(pair, corr).mean(0)
    for t, c in itertools.product(range(T), range(C)):
        assert abs(table[("acc", ["t2m", "z500"][c], t + 1)] - per[t, c]) < TOL
    _, truth = pair
    clim_t = forecast.climatology
    assert acc(clim_t + 2.5 * (truth - clim_t), truth, clim_t, forecast.weights).numpy() == pytest.approx(
        np.ones((T, C)), abs=TOL)


def _spectral_loop(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Over frames ``(..., H, W)``: per band, Σ|F(ŷ) − F(y)|² / Σ|F(y)|² of the windowed spectra."""
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


def test_spectral_error_per_channel_matches_a_per_frequency_loop(pair, table):
    pred, truth = (x.numpy() for x in pair)
    for c, name in enumerate(["t2m", "z500"]):
        want = _spectral_loop(pred[:, 0, c], truth[:, 0, c])
        for band in ("low", "mid", "high"):
            assert abs(table[(f"spectral_error_{band}", name, 1)] - want[band]) < TOL


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


def test_every_metric_has_a_value_per_channel_lead_and_over_both(table):
    for name, metric in METRICS.items():
        for channel in ["t2m", "z500", *([ALL] if metric.channels != "none" else [])]:
            assert {lead for (m, ch, lead) in table if m == name and ch == channel} == {0, 1, 2}, (name, channel)
        if metric.over_leads == "mean":
            values = [table[(name, "t2m", t)] for t in (1, 2)]
            assert abs(table[(name, "t2m", 0)] - np.mean(values)) < TOL


def test_radial_power_spectrum_peaks_at_the_frequency_of_a_wave():
    x = torch.arange(64, dtype=torch.float64)
    wave = torch.sin(2 * math.pi * 0.125 * x)[None, :].repeat(64, 1)  # 1/8 cycles/pixel along x
    freq, power = radial_power_spectrum(wave[None])
    assert freq[np.argmax(power)] == pytest.approx(0.125, abs=1 / 64)


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
