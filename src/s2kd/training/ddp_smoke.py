"""DDP smoke test: one epoch of a tiny forecaster on 2 CPU processes (gloo), through the real engine.

    python -m s2kd.training.ddp_smoke --out DIR [--devices 2] [--epochs 1] [--from-file]

The process you start is rank 0; Lightning's launcher starts rank 1 by re-running this same command
(with ``LOCAL_RANK=1``), and both meet at ``MASTER_ADDR:MASTER_PORT`` (default ``127.0.0.1`` and a
free port Lightning picks). Rank 0 writes ``DIR/ddp_smoke.json``::

    {"world_size": 2, "world_size_by_rank": [2, 2], "param_sha256_by_rank": [h0, h1],
     "identical_weights": true, "train_batches_by_rank": [4, 4], "val_mse": ..., "history": [...],
     "backend": "gloo", ...}

Each rank trains on its own half of the windows (Lightning's ``DistributedSampler``), so identical
weights after training show that the gradients were all-reduced. With ``--from-file`` the series is
written to ``DIR/series.nc`` first and every rank reads its windows from it
(:class:`s2kd.data.windows.SeriesFile`, ``loading.store: file``); the result then also says which windows
each rank read (``train_ids_by_rank``, ``val_ids_by_rank``) and how many frames (``frames_read_by_rank``).

``run(model_factory, ...)`` takes any network factory that follows the contract of
:mod:`s2kd.training.module` (a text model gets random narrative embeddings), so the real teacher or
student can be smoke-tested the same way once ``s2kd.models`` exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch import nn

from s2kd.data.windows import SeriesFile, WindowDataset
from s2kd.training.data import TextWindowDataset, make_loaders
from s2kd.training.module import ForecastModule
from s2kd.training.trainer import TrainerParams, fit, make_trainer

logger = logging.getLogger(__name__)

RESULT_FILE = "ddp_smoke.json"
T_IN, T_OUT, CHANNELS, SIZE = 2, 1, 1, 8


class SmokeForecaster(nn.Module):
    """The smallest network of the contract: frames stacked into channels, a 3x3 conv, a 1x1 head."""

    uses_text = False

    def __init__(self, *, t_in: int = T_IN, t_out: int = T_OUT, channels: int = CHANNELS, d: int = 8) -> None:
        super().__init__()
        self.t_in, self.t_out, self.channels = t_in, t_out, channels
        self.encode = nn.Conv2d(t_in * channels, d, 3, padding=1)
        self.head = nn.Conv2d(d, t_out * channels, 1)

    def forward(self, x, text=None, text_mask=None) -> dict[str, torch.Tensor]:
        b, _, _, h, w = x.shape
        latent = torch.relu(self.encode(x.reshape(b, self.t_in * self.channels, h, w)))  # (B, d, H, W)
        y_hat = self.head(latent).reshape(b, self.t_out, self.channels, h, w)  # (B, T_out, C, H, W)
        return {"y_hat": y_hat, "latent": latent}


def param_sha256(module: nn.Module) -> str:
    """A hash of every parameter's bytes, in ``state_dict`` order: equal hashes = identical weights."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class _RankReport(pl.Callback):
    """At the end of training, gathers each rank's world size and weight hash on every rank."""

    def __init__(self, train_ds: Any = None, val_ds: Any = None) -> None:
        self.by_rank: list[dict[str, Any]] = []
        self.train_ds, self.val_ds = train_ds, val_ds

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        mine = {"global_rank": trainer.global_rank, "trainer_world_size": trainer.world_size,
                "dist_world_size": dist.get_world_size() if dist.is_initialized() else 1,
                "backend": dist.get_backend() if dist.is_initialized() else None,
                "param_sha256": param_sha256(pl_module), "pid": os.getpid(),
                "train_batches": int(trainer.num_training_batches),
                "train_sampler": type(trainer.train_dataloader.sampler).__name__,
                **{f"{k}_ids": sorted(getattr(ds, "served", [])) for k, ds in (("train", self.train_ds),
                                                                               ("val", self.val_ds))},
                "frames_read": getattr(getattr(self.train_ds, "series", None), "frames_read", None)}
        if dist.is_initialized():
            gathered: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, mine)
            self.by_rank = sorted(gathered, key=lambda r: r["global_rank"])
        else:
            self.by_rank = [mine]


class _CountedWindows(WindowDataset):
    """Windows that remember the sample ids this process served."""

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = super().__getitem__(i)
        self.served = [*getattr(self, "served", []), int(item["sample_id"])]
        return item


def _random_data(seed: int, n_train: int, n_val: int, file: Path | None = None) -> tuple[WindowDataset, WindowDataset]:
    """A drifting random field (``s[t+1] = 0.8 roll(s[t]) + 0.6 noise``) cut into windows; with ``file``, the
    series is read from that netCDF file (written by the launching process)."""
    rng = np.random.default_rng(seed)
    frames = [rng.standard_normal((CHANNELS, SIZE, SIZE))]
    for _ in range(n_train + n_val + T_IN + T_OUT - 2):
        frames.append(0.8 * np.roll(frames[-1], 1, axis=-1) + 0.6 * rng.standard_normal(frames[-1].shape))
    series: np.ndarray | SeriesFile = np.stack(frames).astype(np.float32)  # (time, C, H, W)
    if file is not None:
        if "LOCAL_RANK" not in os.environ:
            import xarray as xr

            xr.Dataset({"series": (("time", "channel", "y", "x"), series)}).to_netcdf(file, engine="h5netcdf")
        series = SeriesFile(file)
    starts = np.arange(n_train + n_val)
    return (_CountedWindows(series, starts[:n_train], t_in=T_IN, t_out=T_OUT, sample_ids=starts[:n_train]),
            _CountedWindows(series, starts[n_train:], t_in=T_IN, t_out=T_OUT, sample_ids=starts[n_train:]))


def run(
    model_factory: Callable[[], nn.Module] = SmokeForecaster, *, out_dir: str | Path, devices: int = 2,
    max_epochs: int = 1, seed: int = 0, n_train: int = 64, n_val: int = 16, batch_size: int = 8,
    threads: int = 1, from_file: bool = False,
) -> dict[str, Any] | None:
    """Train ``model_factory()`` with ``strategy="ddp"`` on ``devices`` CPU processes.

    Every rank runs this function (Lightning re-launches the script for ranks ``>= 1``).

    Args:
        model_factory: builds the network (contract of :mod:`s2kd.training.module`), called on each
            rank after seeding, so all ranks start from the same weights.
        out_dir: where rank 0 writes ``ddp_smoke.json`` (checkpoints go to ``out_dir/checkpoints``,
            emptied first by the launching process).
        devices: processes.
        max_epochs: epochs.
        seed: seed of data, weights and shuffling.
        n_train: training windows.
        n_val: validation windows.
        batch_size: windows per batch per process.
        threads: torch threads per process (keep processes x threads <= cores).
        from_file: every rank reads its windows from ``out_dir/series.nc``.

    Returns:
        The result written to the JSON file on rank 0, ``None`` on the other ranks.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    checkpoint_dir = out_dir / "checkpoints"
    if "LOCAL_RANK" not in os.environ:  # the launching process (rank 0), before any other rank exists
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(int(threads))
    settings = TrainerParams(accelerator="cpu", devices=devices, strategy="ddp", enable_progress_bar=False)
    pl.seed_everything(seed, workers=True)
    model = model_factory()
    train_ds, val_ds = _random_data(seed, n_train, n_val, out_dir / "series.nc" if from_file else None)
    windows = train_ds, val_ds
    if getattr(model, "uses_text", False):
        rng = np.random.default_rng(seed)
        ids = np.arange(n_train + n_val)
        embeddings = {"sample_id": ids, "tokens": rng.standard_normal((len(ids), 6, 384)).astype(np.float16),
                      "mask": np.ones((len(ids), 6), dtype=bool)}
        train_ds, val_ds = TextWindowDataset(train_ds, embeddings), TextWindowDataset(val_ds, embeddings)
    module = ForecastModule(model, lr=1e-2, max_epochs=max_epochs)
    train_loader, val_loader = make_loaders(train_ds, val_ds, batch_size=batch_size, seed=seed)
    report = _RankReport(*windows)
    trainer = make_trainer(settings, max_epochs=max_epochs, patience=max_epochs, seed=seed, gradient_clip_val=1.0,
                           checkpoint_dir=checkpoint_dir, extra_callbacks=[report])
    summary = fit(module, train_loader, val_loader, trainer)
    if trainer.global_rank != 0:
        return None
    hashes = [r["param_sha256"] for r in report.by_rank]
    result = {
        "world_size": trainer.world_size,
        "world_size_by_rank": [r["dist_world_size"] for r in report.by_rank],
        "ranks": [r["global_rank"] for r in report.by_rank],
        "pids": [r["pid"] for r in report.by_rank],
        "backend": report.by_rank[0]["backend"] if report.by_rank else None,
        "param_sha256_by_rank": hashes,
        "train_batches_by_rank": [r["train_batches"] for r in report.by_rank],
        "train_sampler": report.by_rank[0]["train_sampler"] if report.by_rank else None,
        "identical_weights": len(set(hashes)) == 1 and len(hashes) == trainer.world_size,
        "train_ids_by_rank": [r["train_ids"] for r in report.by_rank],
        "val_ids_by_rank": [r["val_ids"] for r in report.by_rank],
        "frames_read_by_rank": [r["frames_read"] for r in report.by_rank],
        "val_mse": summary["history"][-1]["val_mse"] if summary["history"] else None,
        "best_val_mse": summary["best_val_mse"],
        "epochs_run": summary["epochs_run"],
        "history": summary["history"],
        "model": type(model).__name__,
        "torch": torch.__version__,
        "pytorch_lightning": pl.__version__,
        "wall_s": round(time.perf_counter() - started, 3),
    }
    (out_dir / RESULT_FILE).write_text(json.dumps(result, indent=2))
    logger.info("DDP smoke: world size %s, identical weights %s, val_mse %.6g, %.1f s -> %s",
                result["world_size_by_rank"], result["identical_weights"], result["val_mse"], result["wall_s"],
                out_dir / RESULT_FILE)
    return result


def tiny_teacher() -> nn.Module:
    """The ``tiny`` preset's multimodal teacher (it reads the random narratives of the smoke data)."""
    from s2kd.models import build_model
    from s2kd.models.presets import preset_configs

    config, _ = preset_configs("tiny", in_channels=CHANNELS, t_in=T_IN, t_out=T_OUT)
    return build_model("teacher", config)


FACTORIES: dict[str, Callable[[], nn.Module]] = {"teacher-tiny": tiny_teacher, "smoke": SmokeForecaster}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m s2kd.training.ddp_smoke", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder of the JSON result (and the checkpoints)")
    parser.add_argument("--devices", type=int, default=2, help="CPU processes (default 2)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", choices=sorted(FACTORIES), default="teacher-tiny",
                        help="the tiny preset teacher (default) or a minimal conv net")
    parser.add_argument("--from-file", action="store_true", help="every rank reads its windows from a file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s [pid %(process)d] %(message)s")
    run(FACTORIES[args.model], out_dir=args.out, devices=args.devices, max_epochs=args.epochs, seed=args.seed,
        from_file=args.from_file)


if __name__ == "__main__":
    main()
