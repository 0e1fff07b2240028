"""Which process writes: the global rank 0 of whatever launched the run (Lightning, torchrun, srun)."""

from __future__ import annotations

import pytest

from s2kd.distributed import barrier, global_rank, is_global_zero

LAUNCHER_VARS = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "LOCAL_WORLD_SIZE", "SLURM_NTASKS", "SLURM_PROCID")


@pytest.mark.parametrize(("env", "rank"), [
    ({}, 0),
    ({"LOCAL_RANK": "1"}, 1),  # Lightning's launcher re-ran the command for the second device
    ({"LOCAL_RANK": "0", "NODE_RANK": "1", "LOCAL_WORLD_SIZE": "4"}, 4),
    ({"RANK": "3", "LOCAL_RANK": "1"}, 3),  # torchrun
    ({"SLURM_NTASKS": "8", "SLURM_PROCID": "5"}, 5),
    ({"SLURM_NTASKS": "1", "SLURM_PROCID": "0", "LOCAL_RANK": "0"}, 0),  # a plain one-task job
])
def test_the_rank_comes_from_the_launcher(monkeypatch, env, rank):
    for name in LAUNCHER_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert global_rank() == rank and is_global_zero() == (rank == 0)
    barrier()  # no process group: returns at once
