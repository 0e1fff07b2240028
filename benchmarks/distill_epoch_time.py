"""Cost of distillation: one training epoch of ``s2kd`` against one of ``student``, same data, one process.

Usage (from the project root, after ``kedro run`` has made the teachers)::

    python benchmarks/distill_epoch_time.py [--env ncep] [--repeats 3] [--threads 2]

Loads the series, windows and the multimodal teacher through the project's catalog, caches the
teacher's outputs once (timed separately: a one-off cost per dataset), then trains the ``small``
student for one epoch with ``L_task`` only and one epoch with ``L_task + β·L_sem + λ·L_spec``,
alternating, ``--repeats`` times each, on the ``distill`` parameters' windows and batch size. Prints the
median seconds per epoch and the ratio (the acceptance bound is 1.3). Results go in
docs/distillation.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from s2kd.models import build_student
    from s2kd.models.presets import preset_configs
    from s2kd.models.projector import Projector
    from s2kd.pipelines.distill.nodes import teacher_targets
    from s2kd.pipelines.distill.params import DistillParams
    from s2kd.pipelines.runs import subsample, window_dataset
    from s2kd.training.data import make_loaders
    from s2kd.training.distill import DistillationLoss
    from s2kd.training.methods import method_weights
    from s2kd.training.module import ForecastModule
    from s2kd.training.trainer import make_trainer

    bootstrap_project(ROOT)
    with KedroSession.create(project_path=ROOT, env=args.env) as session:
        catalog = session.load_context().catalog
        series, index = catalog.load("series"), catalog.load("sample_index")
        stats, embeddings = catalog.load("normalisation_stats"), catalog.load("narrative_embeddings")
        teacher = catalog.load("teacher_multimodal")
        p = DistillParams.from_dict(catalog.load("params:distill"))
    t_in, t_out = int(stats["t_in"]), int(stats["t_out"])
    values = np.asarray(series["series"].values, dtype=np.float32)
    train_rows, val_rows = subsample(index, "train", p.max_train_samples), subsample(index, "val", p.max_val_samples)
    train_set = window_dataset(values, train_rows, t_in=t_in, t_out=t_out, embeddings=None)
    val_set = window_dataset(values, val_rows, t_in=t_in, t_out=t_out, embeddings=None)

    start = time.perf_counter()
    targets = teacher_targets(teacher, values, [train_rows, val_rows], index, embeddings, t_in=t_in, t_out=t_out,
                       batch_size=p.cache_batch_size)
    cache_seconds = time.perf_counter() - start
    _, cfg = preset_configs(p.preset, in_channels=len(stats["channels"]), t_in=t_in, t_out=t_out, backbone=p.backbone)
    cfg = dataclasses.replace(cfg, **p.student)
    settings = dataclasses.replace(p.trainer, max_epochs=1, enable_progress_bar=False)

    def one_epoch(method: str) -> float:
        torch.manual_seed(0)
        student = build_student(cfg)
        weights = method_weights(method, beta=p.beta, lam=p.lam, gamma=p.gamma)
        loss = DistillationLoss(weights=weights, targets=targets if method != "student" else None, student_d=cfg.d,
                                teacher_d=int(teacher["config"]["d"]),
                                projector=Projector(cfg.d, int(teacher["config"]["d"]), p.projector),
                                cutoff=p.cutoff, alpha=p.alpha, semantic_kind=p.semantic)
        module = ForecastModule(student, lr=p.lr, weight_decay=p.weight_decay, max_epochs=1, loss=loss)
        train_loader, val_loader = make_loaders(train_set, val_set, batch_size=p.batch_size, seed=0)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = make_trainer(settings, checkpoint_dir=tmp, logger=False)
            t0 = time.perf_counter()
            trainer.fit(module, train_loader, val_loader)
            return time.perf_counter() - t0

    one_epoch("student")  # warm-up (allocator, kernels)
    times: dict[str, list[float]] = {"student": [], "s2kd": []}
    for _ in range(args.repeats):
        for method in times:
            times[method].append(one_epoch(method))
    median = {m: statistics.median(v) for m, v in times.items()}
    result = {
        "env": args.env or "base (synthetic)", "train_windows": len(train_rows), "val_windows": len(val_rows),
        "batch_size": p.batch_size, "student_parameters": sum(q.numel() for q in build_student(cfg).parameters()),
        "beta": p.beta, "lambda": p.lam, "threads": args.threads, "cpu": platform.processor() or platform.machine(),
        "teacher_cache_seconds": round(cache_seconds, 2),
        "epoch_seconds": {m: [round(t, 2) for t in v] for m, v in times.items()},
        "median_epoch_seconds": {m: round(v, 2) for m, v in median.items()},
        "ratio_s2kd_over_student": round(median["s2kd"] / median["student"], 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
