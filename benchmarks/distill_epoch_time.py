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
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

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

    from s2kd.data.windows import series_array
    from s2kd.recipes.jobs import student_job, subsample, teacher_targets
    from s2kd.recipes.params import DistillParams
    from s2kd.training.trainer import TrainerParams

    bootstrap_project(ROOT)
    with KedroSession.create(project_path=ROOT, env=args.env) as session:
        context = session.load_context()
        catalog = context.catalog
        series, index = catalog.load("series"), catalog.load("sample_index")
        stats, embeddings = catalog.load("normalisation_stats"), catalog.load("narrative_embeddings")
        teacher = catalog.load("teacher_multimodal")
        p = DistillParams.model_validate(context.config_loader["parameters"]["distill"])
    values = series_array(series)
    t_in, t_out = int(stats["t_in"]), int(stats["t_out"])
    train_rows, val_rows = subsample(index, "train", p.max_train_samples), subsample(index, "val", p.max_val_samples)
    start = time.perf_counter()
    teacher_targets(teacher, values, [train_rows, val_rows], index, embeddings, t_in=t_in, t_out=t_out,
                    batch_size=p.cache_batch_size)
    cache_seconds = time.perf_counter() - start
    trainer = TrainerParams(enable_progress_bar=False)

    def one_epoch(method: str) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            one = p.model_copy(update={"max_epochs": 1, "checkpoint_dir": tmp})
            job = student_job(values, index, stats, one, trainer, method=method,
                              teacher=None if method == "student" else teacher, embeddings=embeddings)
            t0 = time.perf_counter()
            job.fit(trainer)
            return time.perf_counter() - t0

    one_epoch("student")  # warm-up (allocator, kernels)
    times: dict[str, list[float]] = {"student": [], "s2kd": []}
    for _ in range(args.repeats):
        for method in times:
            times[method].append(one_epoch(method))
    median = {m: statistics.median(v) for m, v in times.items()}
    result = {
        "env": args.env or "base (synthetic)", "train_windows": len(train_rows), "val_windows": len(val_rows),
        "batch_size": p.batch_size,
        "beta": p.beta, "lambda": p.lam, "threads": args.threads, "cpu": platform.processor() or platform.machine(),
        "teacher_cache_seconds": round(cache_seconds, 2),
        "epoch_seconds": {m: [round(t, 2) for t in v] for m, v in times.items()},
        "median_epoch_seconds": {m: round(v, 2) for m, v in median.items()},
        "ratio_s2kd_over_student": round(median["s2kd"] / median["student"], 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
