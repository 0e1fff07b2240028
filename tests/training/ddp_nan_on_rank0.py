"""DDP smoke run whose model returns NaN on rank 0 only (used by ``test_ddp.py``).

    python tests/training/ddp_nan_on_rank0.py OUT_DIR

Both processes must stop with ``FloatingPointError`` at the same step; without a shared verdict,
rank 1 would wait forever in the gradient all-reduce for rank 0.
"""

from __future__ import annotations

import logging
import sys

import torch.distributed as dist

from s2kd.training.ddp_smoke import SmokeForecaster, run


class NanOnRank0(SmokeForecaster):
    def forward(self, x, text=None, text_mask=None):
        out = super().forward(x)
        if self.training and dist.is_initialized() and dist.get_rank() == 0:
            out["y_hat"] = out["y_hat"] * float("nan")
        return out


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    run(NanOnRank0, out_dir=sys.argv[1])
