"""A killed run resumes where it stopped; a finished run is not retrained; same seed, same numbers."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from s2kd.training import read_checkpoint
from tests.training.toy import ConstantForecaster, train_toy

SCRIPT = Path(__file__).with_name("train_until_killed.py")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 4-epoch run."""
    summary, module = train_toy(tmp_path_factory.mktemp("reference"), max_epochs=4)
    return summary, {k: v.clone() for k, v in module.state_dict().items()}


def test_killed_run_resumes_from_its_last_epoch(tmp_path, reference):
    run = subprocess.run([sys.executable, str(SCRIPT), "--checkpoint-dir", str(tmp_path), "--max-epochs", "4",
                          "--kill-after", "2"], capture_output=True, text=True, timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr[-3000:]
    assert "killing myself after 2 epochs" in run.stderr
    checkpoint = read_checkpoint(tmp_path / "last.ckpt")
    assert checkpoint["epoch"] == 1  # 0-based: the end of the second epoch

    summary, module = train_toy(tmp_path, max_epochs=4)
    assert summary["resumed_from_epoch"] == 2
    assert summary["epochs_run"] == 4 and summary["epochs_trained_now"] == 2
    assert [row["epoch"] for row in summary["history"]] == [1, 2, 3, 4]
    # the resumed run is the uninterrupted run: same batches (seeded per epoch), optimiser and schedule
    ref_summary, ref_state = reference
    assert summary["history"][-1]["val_mse"] == pytest.approx(ref_summary["history"][-1]["val_mse"], rel=1e-6)
    assert summary["history"][1] == pytest.approx(ref_summary["history"][1], rel=1e-6)
    for key, value in module.state_dict().items():
        torch.testing.assert_close(value, ref_state[key], rtol=1e-5, atol=1e-7)


def test_same_seed_same_val_mse(tmp_path, reference):
    summary, _ = train_toy(tmp_path, max_epochs=4)
    ref_summary, _ = reference
    assert [r["val_mse"] for r in summary["history"]] == [r["val_mse"] for r in ref_summary["history"]]
    other, _ = train_toy(tmp_path / "seed1", max_epochs=4, seed=1)
    assert other["history"][-1]["val_mse"] != summary["history"][-1]["val_mse"]


def test_finished_run_is_not_retrained(tmp_path, reference):
    first, _ = train_toy(tmp_path, max_epochs=3)
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    again, module = train_toy(tmp_path, max_epochs=3)
    assert again["epochs_trained_now"] == 0 and again["epochs_run"] == 3 and again["resumed_from_epoch"] == 3
    assert again["best_val_mse"] == first["best_val_mse"] and again["history"] == first["history"]
    assert again["best_checkpoint"] == first["best_checkpoint"]
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamps  # nothing written
    best = read_checkpoint(first["best_checkpoint"])["state_dict"]
    for key, value in module.state_dict().items():  # the module holds the best weights
        torch.testing.assert_close(value, best[key], rtol=0, atol=0)


def test_a_finished_run_copied_to_another_folder_is_not_retrained(tmp_path, reference):
    """Lightning forgets the best checkpoint when the folder it recorded is not the one it resumes in; the
    copy still resumes at no cost, with the best weights and score."""
    import shutil

    first, _ = train_toy(tmp_path / "a", max_epochs=3)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    again, module = train_toy(tmp_path / "b", max_epochs=3)
    assert again["epochs_trained_now"] == 0 and again["best_val_mse"] == pytest.approx(first["best_val_mse"])
    assert Path(again["best_checkpoint"]).parent == tmp_path / "b"
    best = read_checkpoint(first["best_checkpoint"])["state_dict"]
    for key, value in module.state_dict().items():
        torch.testing.assert_close(value, best[key], rtol=0, atol=0)


def test_early_stopped_run_is_not_retrained(tmp_path):
    first, _ = train_toy(tmp_path, max_epochs=10, patience=1, model=ConstantForecaster())
    assert first["stopped_early"] and first["epochs_run"] == 2  # best at epoch 1, no better at 2: stop
    again, _ = train_toy(tmp_path, max_epochs=10, patience=1, model=ConstantForecaster())
    assert again["epochs_trained_now"] == 0 and again["stopped_early"] and again["epochs_run"] == 2


def test_a_longer_rerun_continues(tmp_path):
    train_toy(tmp_path, max_epochs=2)
    summary, _ = train_toy(tmp_path, max_epochs=3)
    assert summary["resumed_from_epoch"] == 2 and summary["epochs_run"] == 3
    assert [row["epoch"] for row in summary["history"]] == [1, 2, 3]


def test_resume_logs_no_directory_warning(tmp_path, recwarn):
    train_toy(tmp_path, max_epochs=1)
    train_toy(tmp_path, max_epochs=2)
    assert not [w for w in recwarn if "exists and is not empty" in str(w.message)]


HOLD = """
import sys, time
from s2kd.training.trainer import folder_lock
with folder_lock(sys.argv[1], "toy"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_process_training_in_the_same_folder_waits_and_a_killed_holder_frees_it(tmp_path, caplog):
    import threading

    from s2kd.training.trainer import folder_lock

    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        acquired = threading.Event()

        def train() -> None:
            with folder_lock(tmp_path, "toy"):
                acquired.set()

        with caplog.at_level("INFO", logger="s2kd.training.trainer"):
            waiter = threading.Thread(target=train)
            waiter.start()
            assert not acquired.wait(1.5)  # the other process holds the folder
            holder.send_signal(signal.SIGKILL)  # killed, not released: the operating system frees the lock
            assert acquired.wait(10)
            waiter.join()
        assert "another process is training it" in caplog.text
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(tmp_path, "toy"):  # and it is free again afterwards
        pass
