"""``python -m s2kd.training.ddp_smoke``: 2 CPU processes (gloo) train one epoch in lock-step.

What makes Lightning's DDP work here: Lightning's subprocess launcher starts rank 1 by re-running the
very command of rank 0 (``python -m s2kd.training.ddp_smoke ...`` or ``python script.py ...``), so the
script must be importable and deterministic up to ``trainer.fit``; ``MASTER_ADDR=127.0.0.1`` and a free
``MASTER_PORT`` are set explicitly; variables of an outer launcher (``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE``, ``SLURM_*``, ...) are removed so Lightning does not think it runs under one; one torch
thread per process (2 processes on 2 cores). No ``PL_DISABLE_FORK`` is needed: that only concerns the
``ddp_fork``/notebook strategies, not the subprocess launcher that ``strategy="ddp"`` uses.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from s2kd.training.ddp_smoke import RESULT_FILE

OUTER_LAUNCHER = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK", "GROUP_RANK",
                  "MASTER_ADDR", "MASTER_PORT")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ddp_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in OUTER_LAUNCHER and not k.startswith(("SLURM_", "TORCHELASTIC_", "PL_"))}
    env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), OMP_NUM_THREADS="1")
    return env


def test_ddp_smoke_two_cpu_processes(tmp_path):
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "s2kd.training.ddp_smoke", "--out", str(tmp_path)],
                         env=_ddp_env(), capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads((tmp_path / RESULT_FILE).read_text())
    assert result["world_size"] == 2 and result["world_size_by_rank"] == [2, 2]
    assert result["ranks"] == [0, 1] and len(set(result["pids"])) == 2
    assert result["backend"] == "gloo"
    # each rank saw half of the 64 windows, yet both end with the same weights: gradients were all-reduced
    assert result["train_sampler"] == "DistributedSampler" and result["train_batches_by_rank"] == [4, 4]
    assert result["identical_weights"] and len(set(result["param_sha256_by_rank"])) == 1
    assert math.isfinite(result["val_mse"]) and result["epochs_run"] == 1
    assert result["model"] == "MultimodalTeacher"  # the tiny preset teacher, reading narratives
    assert elapsed < 120


def test_each_rank_reads_only_its_shard_from_the_file(tmp_path):
    """``loading.store: file`` under DDP: each rank's windows are read from the series' file by that rank,
    and only the windows of its shard (the sampler's disjoint halves), counted frame by frame."""
    run = subprocess.run([sys.executable, "-m", "s2kd.training.ddp_smoke", "--out", str(tmp_path), "--from-file",
                          "--model", "smoke"], env=_ddp_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads((tmp_path / RESULT_FILE).read_text())
    train, val = result["train_ids_by_rank"], result["val_ids_by_rank"]
    assert [len(ids) for ids in train] == [32, 32] and not set(train[0]) & set(train[1])
    assert sorted(train[0] + train[1]) == list(range(64))  # the 64 training windows, each read once per epoch
    # validation: 8 + 8 of the 16 windows, disjoint; Lightning's sanity check reads each rank's batch twice
    assert [len(set(ids)) for ids in val] == [8, 8] and not set(val[0]) & set(val[1])
    assert sorted(set(val[0]) | set(val[1])) == list(range(64, 80))
    # nothing but those windows was read: (32 train + 2 x 8 val) windows of 2 + 1 frames per rank
    assert result["frames_read_by_rank"] == [(32 + 2 * 8) * 3] * 2
    assert [len(ids) for ids in val] == [16, 16]
    assert result["identical_weights"]


def test_nan_on_one_rank_stops_both(tmp_path):
    script = Path(__file__).with_name("ddp_nan_on_rank0.py")
    run = subprocess.run([sys.executable, str(script), str(tmp_path)], env=_ddp_env(), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode != 0
    # rank 0 names its NaN terms, rank 1 says the NaN came from another process: both stopped
    assert "FloatingPointError: non-finite training loss at epoch 0 (0-based), global step 0: loss=nan" \
        in run.stderr, run.stderr[-4000:]
    assert "here, non-finite in another process" in run.stderr, run.stderr[-4000:]
    assert not (tmp_path / RESULT_FILE).exists()
