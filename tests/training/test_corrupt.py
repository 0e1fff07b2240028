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


def test_a_write_killed_mid_checkpoint_leaves_the_previous_last_checkpoint_whole(tmp_path, monkeypatch):
    """Checkpoints are written beside ``last.ckpt`` and renamed into place, never through the system temp
    folder (Lightning copies from there when it is another filesystem, and a kill during the copy tore
    ``last.ckpt``). A save that dies half-way leaves the epoch before intact, and training resumes from it."""
    import tempfile

    train_toy(tmp_path, max_epochs=1)
    last = tmp_path / "last.ckpt"
    before = last.read_bytes()

    def no_system_temp(*args, **kwargs):
        raise AssertionError("a checkpoint went through the system temp folder")

    monkeypatch.setattr(tempfile, "mkstemp", no_system_temp)
    real_save = torch.save

    def dies_half_way(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.truncate(f.tell() // 2)
        raise OSError("the disk filled while writing a checkpoint")

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(OSError, match="disk filled"):
        train_toy(tmp_path, max_epochs=2)
    monkeypatch.setattr(torch, "save", real_save)
    assert last.read_bytes() == before and not list(tmp_path.glob(".last.ckpt.tmp-*"))
    summary, _ = train_toy(tmp_path, max_epochs=2)
    assert summary["resumed_from_epoch"] == 1 and summary["epochs_run"] == 2
