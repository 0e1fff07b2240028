"""Training throughput with windows read from the series' file (``loading.store: file``) against memory.

Usage (from the project root)::

    python benchmarks/window_throughput.py [--env ncep] [--windows 512] [--repeats 3] [--threads 2]

Ingests the environment's data into ``data/*/throughput_<env>/`` if it is not there yet, then, alternating the
two stores ``--repeats`` times: (1) reads the training windows through the training DataLoader alone (no
model: the cost of the reads), and (2) trains the ``small`` vision teacher for one epoch of ``--windows``
training windows (forward, backward, optimiser step; the ``train_teacher`` batch size), timed as windows per
second. Reading through the lazy ``xarray.DataArray`` (dask) is timed once, for comparison. Prints the
medians and the ratio file / memory as JSON (docs/scaling.md, "Series larger than memory").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def ingested(env: str | None) -> str:
    """The dataset name of the environment's ingest outputs, made now when missing."""
    name = f"throughput_{env or 'synthetic'}"
    if not (ROOT / "data" / "03_primary" / name / "series.nc").exists():
        cmd = [str(Path(sys.executable).with_name("kedro")), "run", *(["--env", env] if env else []),
               "--pipeline", "ingest", "--params", f"dataset={name}"]
        subprocess.run(cmd, cwd=ROOT, check=True, env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"})
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None)
    parser.add_argument("--windows", type=int, default=512, help="training windows per timed epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT / "src"))

    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from s2kd.data.params import LoadingParams
    from s2kd.data.windows import series_source
    from s2kd.recipes.jobs import teacher_job
    from s2kd.recipes.params import TeacherParams
    from s2kd.training.data import make_loaders
    from s2kd.training.trainer import TrainerParams

    name = ingested(args.env)
    bootstrap_project(ROOT)
    with KedroSession.create(project_path=ROOT, env=args.env, runtime_params={"dataset": name}) as session:
        context = session.load_context()
        catalog, conf = context.catalog, context.config_loader["parameters"]
        series, index, stats = catalog.load("series"), catalog.load("sample_index"), catalog.load("normalisation_stats")
    p = TeacherParams.model_validate({**conf["train_teacher"], "max_train_samples": args.windows,
                                      "max_val_samples": 16, "checkpoint_dir": str(ROOT / "data" / "06_models" / name)})
    loading = {k: LoadingParams.model_validate({**conf["loading"], "store": k}) for k in ("memory", "file")}
    sources = {k: series_source(series, v) for k, v in loading.items()}
    sources["xarray"] = series["series"]  # the lazy DataArray: what reading through xarray and dask would cost

    def read_epoch(store: str) -> float:
        job = teacher_job(sources[store], index, stats, None, p, TrainerParams(), name="teacher_vision", use_text=False)
        loader, _ = make_loaders(job.train_set, job.val_set, batch_size=p.batch_size, seed=0)
        start = time.perf_counter()
        n = sum(len(batch["x"]) for batch in loader)
        return n / (time.perf_counter() - start)

    def train_epoch(store: str) -> float:
        job = teacher_job(sources[store], index, stats, None, p, TrainerParams(), name="teacher_vision", use_text=False)
        loader, _ = make_loaders(job.train_set, job.val_set, batch_size=p.batch_size, seed=0)
        model, n = job.model.train(), 0
        optimiser = torch.optim.AdamW(model.parameters(), lr=p.lr)
        start = time.perf_counter()
        for batch in loader:
            loss = torch.nn.functional.mse_loss(model(batch["x"])["y_hat"], batch["y"])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            n += len(batch["x"])
        return n / (time.perf_counter() - start)

    timings: dict[str, dict[str, list[float]]] = {k: {"memory": [], "file": []} for k in ("read", "train")}
    timings["read"]["xarray"] = [read_epoch("xarray")]
    for repeat in range(args.repeats):
        for store in ("memory", "file") if repeat % 2 == 0 else ("file", "memory"):
            timings["read"][store].append(read_epoch(store))
            timings["train"][store].append(train_epoch(store))
            print(f"repeat {repeat + 1}/{args.repeats}, {store}: read {timings['read'][store][-1]:.0f} windows/s, "
                  f"train {timings['train'][store][-1]:.1f} windows/s", flush=True)
    medians = {k: {s: statistics.median(v) for s, v in t.items()} for k, t in timings.items()}
    print(json.dumps({
        "env": args.env or "base (synthetic)", "series_shape": list(series["series"].shape),
        "series_mib": round(series["series"].size * 4 / 2**20, 1), "train_windows": args.windows,
        "batch_size": p.batch_size, "preset": p.preset, "threads": args.threads, "repeats": args.repeats,
        "cpu": platform.processor() or platform.machine(),
        "read_windows_per_s": {k: round(v, 1) for k, v in medians["read"].items()},
        "train_windows_per_s": {k: round(v, 2) for k, v in medians["train"].items()},
        "train_ratio_file_over_memory": round(medians["train"]["file"] / medians["train"]["memory"], 3),
        "read_ratio_file_over_memory": round(medians["read"]["file"] / medians["read"]["memory"], 3),
    }, indent=2))


if __name__ == "__main__":
    main()
