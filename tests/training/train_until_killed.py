"""Run the toy training and SIGKILL this process right after epoch ``--kill-after``'s checkpoint.

Used by ``test_resume.py``: ``python tests/training/train_until_killed.py --checkpoint-dir D
--max-epochs 4 --kill-after 2``. The kill happens at the start of the next epoch, i.e. after every
``on_train_epoch_end`` hook (``ModelCheckpoint`` runs last there) has written ``last.ckpt``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toy import train_toy  # noqa: E402

logger = logging.getLogger("train_until_killed")


class KillAfterEpoch(pl.Callback):
    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epochs:
            logger.warning("killing myself after %d epochs", self.epochs)
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint-dir", required=True)
    parser.add_argument("--max-epochs", type=int, default=4)
    parser.add_argument("--kill-after", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    torch.set_num_threads(1)  # as the in-process tests (conftest.py), so the numbers can match exactly
    train_toy(args.checkpoint_dir, max_epochs=args.max_epochs, extra_callbacks=[KillAfterEpoch(args.kill_after)])
    sys.exit("the run was not killed")


if __name__ == "__main__":
    main()
