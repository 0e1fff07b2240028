"""A NaN/inf loss stops training at once with a message that says where and what to do."""

from __future__ import annotations

import pytest
import torch

from s2kd.training import ForecastModule, fit, make_loaders
from tests.training.toy import TinyForecaster, quick_trainer, toy_windows, train_toy


class InfAfter(TinyForecaster):
    """Predicts inf from its ``after``-th training forward pass on."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after, self.calls = after, 0

    def forward(self, x, text=None, text_mask=None):
        out = super().forward(x)
        if self.training:
            self.calls += 1
            if self.calls > self.after:
                out["y_hat"] = out["y_hat"] + float("inf")
        return out


def test_nan_loss_term_raises_before_the_weights_change(tmp_path):
    model = TinyForecaster()

    def loss(outputs, batch):  # NaN in training only (the sanity check's validation passes)
        task = torch.nn.functional.mse_loss(outputs["y_hat"], batch["y"])
        bad = outputs["latent"].mean() * (float("nan") if model.training else 0.0)
        return {"loss": task + bad, "loss_task": task, "loss_bad": bad}

    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(FloatingPointError) as err:
        train_toy(tmp_path, max_epochs=2, model=model, loss=loss)
    message = str(err.value)
    assert "epoch 0" in message and "global step 0" in message
    assert "loss_bad=nan" in message and "loss=nan" in message and "loss_task=" not in message
    assert "Lower the learning rate (lr=0.01)" in message and "check the inputs" in message
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} changed by the NaN step"


def test_inf_prediction_mid_epoch_names_the_step(tmp_path):
    with pytest.raises(FloatingPointError, match=r"epoch 0 \(0-based\), global step 3: loss=inf, loss_task=inf"):
        train_toy(tmp_path, max_epochs=2, model=InfAfter(3))
    assert not (tmp_path / "last.ckpt").exists()


def test_nan_in_validation_inputs(tmp_path):
    train_ds, val_ds = toy_windows()
    val_ds.series = val_ds.series.copy()
    val_ds.series[val_ds.starts[0]] = float("nan")
    train_loader, val_loader = make_loaders(train_ds, val_ds, batch_size=8, seed=0)
    trainer = quick_trainer(tmp_path, max_epochs=1, patience=1)
    with pytest.raises(FloatingPointError, match=r"non-finite validation metric in the sanity check: val_mse=nan"
                       r".*check the validation inputs"):
        fit(ForecastModule(TinyForecaster()), train_loader, val_loader, trainer)


def test_nan_validation_loss_term(tmp_path):
    def loss(outputs, batch):
        task = torch.nn.functional.mse_loss(outputs["y_hat"], batch["y"])
        aux = torch.tensor(float("nan")) if not torch.is_grad_enabled() else task * 0
        return {"loss": task + aux, "loss_task": task, "loss_aux": aux}

    with pytest.raises(FloatingPointError, match=r"sanity check: val_loss=nan, val_loss_aux=nan; the forecast is "
                       r"finite but a loss term is not"):
        train_toy(tmp_path, max_epochs=1, loss=loss)
