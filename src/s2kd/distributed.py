"""Which process of a distributed (DDP) run this is, for the code that must act once per run.

Under DDP every process runs the same ``kedro run``: Lightning's launcher re-runs the command once
per extra device (``LOCAL_RANK=1, 2, ...``), and ``torchrun``/SLURM start every process themselves
(``RANK``). All of them compute; only the global rank 0 writes outputs and talks to MLflow, and a
barrier after each write keeps the others from reading a file before rank 0 has finished it.

Outside a distributed run (no rank variables, no process group) this process is rank 0 and the
barrier does nothing. Library code: no Kedro, no MLflow.
"""

from __future__ import annotations

import os
import sys


def global_rank() -> int:
    """This process's global rank: the process group's when one is up, else from the environment
    (``RANK`` of torchrun, ``SLURM_PROCID`` of a multi-task srun, or ``NODE_RANK``/``GROUP_RANK`` and
    ``LOCAL_RANK`` as Lightning's launcher sets them), else 0."""
    dist = _dist()
    if dist is not None:
        return int(dist.get_rank())
    if "RANK" in os.environ:  # torchrun, torch.distributed.launch
        return int(os.environ["RANK"])
    if int(os.environ.get("SLURM_NTASKS", 1)) > 1 and "SLURM_PROCID" in os.environ:  # srun
        return int(os.environ["SLURM_PROCID"])
    node = int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", 0)))
    local = int(os.environ.get("LOCAL_RANK", 0))
    if node == 0:
        return local
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", 0)) or max(local + 1, 1)
    return node * per_node + local


def is_global_zero() -> bool:
    """True in the one process that writes outputs and logs (always, outside a distributed run)."""
    return global_rank() == 0


def barrier() -> None:
    """Wait for every process of the group; nothing when no process group is up."""
    dist = _dist()
    if dist is not None and dist.get_world_size() > 1:
        dist.barrier()


def _dist():
    """``torch.distributed`` when a process group is initialised, else ``None`` (torch is not imported
    for this: a process that never imported it has no process group)."""
    if "torch.distributed" not in sys.modules:
        return None
    dist = sys.modules["torch.distributed"]
    return dist if dist.is_available() and dist.is_initialized() else None
