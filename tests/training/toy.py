"""A learnable toy for the training tests: a drifting field and a tiny conv forecaster.

The series drifts one pixel east per step plus fresh noise, so the best forecast is a damped shift of
the last input frame: a 3x3 conv learns it in a few epochs. The models follow the network
contract of ``s2kd.training.module`` (``uses_text``, ``forward(x, text=None, text_mask=None)``
returning ``y_hat`` and ``latent``); ``s2kd.models`` is not used here on purpose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from s2kd.data.windows import WindowDataset
from s2kd.training import ForecastModule, TrainerParams, fit, make_loaders, make_trainer

T_IN, T_OUT, C, H, W = 2, 1, 1, 8, 8


def drifting_series(steps: int = 96, *, seed: int = 0) -> np.ndarray:
    """``s[t+1] = 0.8 roll(s[t], 1, x) + 0.6 noise``: unit variance, best possible MSE 0.36."""
    rng = np.random.default_rng(seed)
    frames = [rng.standard_normal((C, H, W))]
    for _ in range(steps - 1):
        frames.append(0.8 * np.roll(frames[-1], 1, axis=-1) + 0.6 * rng.standard_normal((C, H, W)))
    return np.stack(frames).astype(np.float32)  # (time, C, H, W)


def toy_windows(n_train: int = 48, n_val: int = 16, *, seed: int = 0) -> tuple[WindowDataset, WindowDataset]:
    series = drifting_series(n_train + n_val + T_IN + T_OUT, seed=seed)
    starts = np.arange(n_train + n_val)
    ids = np.arange(n_train + n_val) + 1000
    return (WindowDataset(series, starts[:n_train], t_in=T_IN, t_out=T_OUT, sample_ids=ids[:n_train]),
            WindowDataset(series, starts[n_train:], t_in=T_IN, t_out=T_OUT, sample_ids=ids[n_train:]))


def toy_embeddings(sample_ids, *, length: int = 5, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    ids = np.asarray(sample_ids)
    mask = np.zeros((len(ids), length), dtype=bool)
    mask[:, :3] = True
    return {"sample_id": ids, "tokens": rng.standard_normal((len(ids), length, 384)).astype(np.float16),
            "mask": mask}


class TinyForecaster(nn.Module):
    """Frames stacked into channels -> 3x3 conv latent -> 1x1 head; vision only."""

    uses_text = False

    def __init__(self, d: int = 8) -> None:
        super().__init__()
        self.encode = nn.Conv2d(T_IN * C, d, 3, padding=1, padding_mode="circular")
        self.head = nn.Conv2d(d, T_OUT * C, 1)
        self.seen_text: list[object] = []

    def forward(self, x, text=None, text_mask=None):
        self.seen_text.append(text)
        b = x.shape[0]
        latent = self.encode(x.reshape(b, T_IN * C, H, W))  # (B, d, H, W)
        y_hat = self.head(latent).reshape(b, T_OUT, C, H, W)
        return {"y_hat": y_hat, "latent": latent}


class TinyTextForecaster(TinyForecaster):
    """Adds the masked mean of the projected narrative tokens to the latent."""

    uses_text = True

    def __init__(self, d: int = 8) -> None:
        super().__init__(d)
        self.text_proj = nn.Linear(384, d)

    def forward(self, x, text=None, text_mask=None):
        assert text is not None and text_mask is not None, "a text model must get text"
        self.seen_text.append((tuple(text.shape), text.dtype, tuple(text_mask.shape), text_mask.dtype))
        b = x.shape[0]
        latent = self.encode(x.reshape(b, T_IN * C, H, W))
        weights = text_mask.float().unsqueeze(-1)  # (B, L, 1)
        pooled = (self.text_proj(text) * weights).sum(1) / weights.sum(1).clamp(min=1)  # (B, d)
        latent = latent + 0.01 * pooled[:, :, None, None]
        return {"y_hat": self.head(latent).reshape(b, T_OUT, C, H, W), "latent": latent}


def quick_trainer(checkpoint_dir: str | Path, *, max_epochs: int = 1, patience: int = 1, seed: int = 0, logger=None,
                  extra_callbacks=(), **trainer):
    """A quiet trainer of the project's configuration for the tests (``trainer``: TrainerParams fields)."""
    return make_trainer(TrainerParams(enable_progress_bar=False, **trainer), max_epochs=max_epochs, patience=patience,
                        seed=seed, gradient_clip_val=1.0, checkpoint_dir=checkpoint_dir, logger=logger,
                        extra_callbacks=extra_callbacks)


def train_toy(checkpoint_dir: str | Path, *, max_epochs: int = 4, seed: int = 0, patience: int = 10,
              extra_callbacks=(), lr: float = 1e-2, model: nn.Module | None = None, loss=None) -> tuple[dict,
                                                                                                        ForecastModule]:
    """A full seeded toy run through the project's engine: the same call in the tests and the scripts."""
    torch.manual_seed(seed)
    train_ds, val_ds = toy_windows(seed=seed)
    module = ForecastModule(model if model is not None else TinyForecaster(), lr=lr, max_epochs=max_epochs, loss=loss)
    train_loader, val_loader = make_loaders(train_ds, val_ds, batch_size=8, seed=seed)
    trainer = quick_trainer(checkpoint_dir, max_epochs=max_epochs, patience=patience, seed=seed,
                            extra_callbacks=extra_callbacks)
    return fit(module, train_loader, val_loader, trainer), module


class ConstantForecaster(TinyForecaster):
    """Predicts zeros whatever its weights: ``val_mse`` never improves, so early stopping triggers."""

    def forward(self, x, text=None, text_mask=None):
        out = super().forward(x)
        return {"y_hat": out["y_hat"] * 0.0, "latent": out["latent"]}
