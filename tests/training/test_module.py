"""ForecastModule, TextWindowDataset and make_loaders on a learnable toy."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
from pytorch_lightning.loggers.logger import Logger

from s2kd.errors import InputError, ParameterError
from s2kd.training import (
    ForecastModule,
    TextWindowDataset,
    TrainerParams,
    fit,
    make_loaders,
    read_checkpoint,
)
from s2kd.training.module import warmup_cosine_factor
from tests.training.toy import (
    TinyForecaster,
    TinyTextForecaster,
    quick_trainer,
    toy_embeddings,
    toy_windows,
    train_toy,
)

TRAINING_SRC = Path(__file__).resolve().parents[2] / "src" / "s2kd" / "training"


class RecordingLogger(Logger):
    """A stand-in for the MLflow logger the pipelines pass in: records every logged metric."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: list[tuple[int | None, dict[str, float]]] = []
        self.params: dict = {}

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> str:
        return "0"

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        self.params.update(dict(params))

    def log_metrics(self, metrics, step=None) -> None:
        self.metrics.append((step, dict(metrics)))


def _text_loaders(batch_size: int = 8):
    train_ds, val_ds = toy_windows()
    embeddings = toy_embeddings(np.concatenate([train_ds.sample_ids, val_ds.sample_ids]))
    return make_loaders(TextWindowDataset(train_ds, embeddings), TextWindowDataset(val_ds, embeddings),
                        batch_size=batch_size, seed=0)


def test_val_mse_decreases_on_a_learnable_toy(tmp_path):
    summary, module = train_toy(tmp_path, max_epochs=2)
    first, second = (row["val_mse"] for row in summary["history"])
    _, val_ds = toy_windows()
    floor = float(np.mean([val_ds[i]["y"].pow(2).mean().item() for i in range(len(val_ds))]))  # predict 0
    assert second < first < floor
    assert summary["epochs_run"] == 2 and summary["resumed_from_epoch"] is None
    assert summary["best_val_mse"] == pytest.approx(second)
    assert Path(summary["best_checkpoint"]).exists() and (tmp_path / "last.ckpt").exists()
    assert module.hparams.lr == 1e-2 and "model" not in module.hparams and "loss" not in module.hparams


@pytest.mark.parametrize("model_cls", [TinyForecaster, TinyTextForecaster])
def test_text_reaches_only_text_models(tmp_path, model_cls):
    model = model_cls()
    train_loader, val_loader = _text_loaders()
    assert "text" in next(iter(train_loader))  # the batches carry narratives for both models
    trainer = quick_trainer(tmp_path, max_epochs=1, patience=1, limit_train_batches=2, limit_val_batches=1)
    fit(ForecastModule(model, max_epochs=1), train_loader, val_loader, trainer)
    assert model.seen_text
    if model.uses_text:
        assert set(model.seen_text) == {((8, 5, 384), torch.float32, (8, 5), torch.bool)}
    else:
        assert all(t is None for t in model.seen_text)


def test_text_model_without_text_fails_clearly(tmp_path):
    train_ds, val_ds = toy_windows()
    train_loader, val_loader = make_loaders(train_ds, val_ds, batch_size=8, seed=0)
    trainer = quick_trainer(tmp_path, max_epochs=1, patience=1)
    with pytest.raises(InputError, match=r"batch: TinyTextForecaster reads narratives .*TextWindowDataset"):
        fit(ForecastModule(TinyTextForecaster()), train_loader, val_loader, trainer)


def test_every_loss_term_is_logged_per_epoch(tmp_path):
    def loss(outputs, batch):
        task = torch.nn.functional.mse_loss(outputs["y_hat"], batch["y"])
        aux = outputs["latent"].pow(2).mean()
        return {"loss": task + 0.1 * aux, "loss_task": task, "loss_aux": aux}

    train_ds, val_ds = toy_windows()
    train_loader, val_loader = make_loaders(train_ds, val_ds, batch_size=8, seed=0)
    recorder = RecordingLogger()
    trainer = quick_trainer(tmp_path, max_epochs=2, patience=5, logger=recorder)
    summary = fit(ForecastModule(TinyForecaster(), max_epochs=2, loss=loss), train_loader, val_loader, trainer)
    expected = {"loss", "loss_task", "loss_aux", "val_mse", "val_loss", "val_loss_task", "val_loss_aux"}
    logged: dict[str, int] = {}
    for _, metrics in recorder.metrics:
        for key in metrics:
            logged[key] = logged.get(key, 0) + 1
    for key in expected:
        assert logged.get(key) == 2, f"{key} logged {logged.get(key)} times, want once per epoch: {logged}"
    assert logged.get("lr") == 2
    assert not any(key.endswith(("_step", "_epoch")) for key in logged), logged
    assert [sorted(expected | {"epoch", "lr"})] * 2 == [sorted(row) for row in summary["history"]]
    assert recorder.params["lr"] == 1e-3 and recorder.params["max_epochs"] == 2


def test_text_dataset_items_and_missing_ids():
    train_ds, _ = toy_windows()
    embeddings = toy_embeddings(train_ds.sample_ids)
    item = TextWindowDataset(train_ds, embeddings)[3]
    assert item["text"].dtype == torch.float32 and item["text"].shape == (5, 384)
    assert item["text_mask"].dtype == torch.bool and item["text_mask"].tolist() == [True] * 3 + [False] * 2
    np.testing.assert_array_equal(item["text"].numpy(), embeddings["tokens"][3].astype(np.float32))
    assert "text" not in TextWindowDataset(train_ds, None)[0]
    partial = {k: v[2:] for k, v in embeddings.items()}
    with pytest.raises(InputError,
                       match=r"narrative_embeddings: 2 of 48 windows have no narrative.*kedro run --pipeline narrate"):
        TextWindowDataset(train_ds, partial)


def test_loaders_shuffle_by_seed_and_epoch():
    train_ds, val_ds = toy_windows()

    def order(seed, epoch):
        loader, _ = make_loaders(train_ds, val_ds, batch_size=48, seed=seed)
        loader.sampler.set_epoch(epoch)
        return next(iter(loader))["sample_id"].tolist()

    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1) and order(0, 0) != order(1, 0)
    assert sorted(order(0, 0)) == train_ds.sample_ids.tolist()
    _, val_loader = make_loaders(train_ds, val_ds, batch_size=16, seed=0)
    assert next(iter(val_loader))["sample_id"].tolist() == val_ds.sample_ids.tolist()


def test_schedule_and_argument_checks():
    assert [round(warmup_cosine_factor(e, warmup_epochs=2, max_epochs=6), 4) for e in range(6)] == [
        0.3333, 0.6667, 1.0, 0.8536, 0.5, 0.1464]
    with pytest.raises(ParameterError, match="uses_text"):
        ForecastModule(torch.nn.Conv2d(1, 1, 1))
    with pytest.raises(ParameterError, match="warmup_epochs"):
        ForecastModule(TinyForecaster(), warmup_epochs=5, max_epochs=5)
    with pytest.raises(ParameterError, match="trainer.devices"):
        TrainerParams.model_validate({"devices": 0})


def test_library_never_imports_kedro_or_mlflow():
    for path in TRAINING_SRC.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in {"kedro", "mlflow", "kedro_mlflow"}, f"{path.name} imports {name}"
                # the training loop is model-agnostic; only the DDP smoke script builds a preset model
                assert not name.startswith("s2kd.models") or path.name == "ddp_smoke.py", f"{path.name} imports {name}"


class ProjectedLoss(torch.nn.Module):
    """A loss with its own trainable projector, as feature distillation has."""

    def __init__(self) -> None:
        super().__init__()
        self.projector = torch.nn.Conv2d(8, 8, 1)
        self.frozen = torch.nn.Parameter(torch.ones(1), requires_grad=False)

    def forward(self, outputs, batch):
        task = torch.nn.functional.mse_loss(outputs["y_hat"], batch["y"])
        feat = self.projector(outputs["latent"]).pow(2).mean() * self.frozen
        return {"loss": task + 0.1 * feat, "loss_task": task, "loss_feat": feat}


def test_a_module_loss_is_trained_and_checkpointed(tmp_path):
    loss = ProjectedLoss()
    before = loss.projector.weight.detach().clone()
    summary, module = train_toy(tmp_path, max_epochs=1, loss=loss)
    assert not torch.equal(module.loss_fn.projector.weight, before)
    assert torch.equal(module.loss_fn.frozen, torch.ones(1))
    assert "loss_fn.projector.weight" in read_checkpoint(summary["best_checkpoint"])["state_dict"]
