"""A damaged last.ckpt stops ``fit`` with an error naming the file and the fix; deleting it restarts.

The choice (documented in ``s2kd/training/trainer.py``): raise, never fall back silently to a run from
scratch, which would throw away the epochs already paid for without anyone noticing.
"""

from __future__ import annotations

import re

import pytest
import torch

from s2kd.errors import InputError
from s2kd.training import read_checkpoint
from tests.training.toy import train_toy


def _damage(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        path.write_bytes(b"\x00not a checkpoint" * 64)
    else:
        torch.save({"weights": torch.zeros(2)}, path)  # a readable file, but not a training checkpoint


@pytest.mark.parametrize("how", ["truncated", "garbage", "not_lightning"])
def test_damaged_last_checkpoint_raises_naming_file_and_fix(tmp_path, how):
    train_toy(tmp_path, max_epochs=1)
    last = tmp_path / "last.ckpt"
    _damage(last, how)
    with pytest.raises(InputError) as err:
        train_toy(tmp_path, max_epochs=2)
    message = str(err.value)
    assert message.startswith(f"{last}: ")
    assert re.search(r"truncated or corrupt|not a Lightning training checkpoint", message)
    assert f"Fix: delete {last} to restart training from scratch" in message


def test_deleting_the_damaged_checkpoint_restarts(tmp_path):
    first, _ = train_toy(tmp_path, max_epochs=1)
    last = tmp_path / "last.ckpt"
    _damage(last, "truncated")
    last.unlink()
    with pytest.warns(UserWarning, match="exists and is not empty"):  # the old best checkpoint is still there
        summary, _ = train_toy(tmp_path, max_epochs=2)
    assert summary["resumed_from_epoch"] is None and summary["epochs_run"] == 2
    assert summary["history"][0] == first["history"][0]  # the same seeded first epoch again
    assert read_checkpoint(last)["epoch"] == 1
