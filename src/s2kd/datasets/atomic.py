"""Atomic file writes: write beside the target, then rename into place; once per distributed run.

Every output of the pipelines goes through :func:`write_atomically` (our datasets) or
:class:`AtomicSaveMixin` (the kedro-datasets tables), so an interrupted or failing write (a kill, a
full disk) leaves at most a hidden ``.name.tmp-<pid>`` file, never a truncated ``name`` that a later
run would trust. Under DDP only the global rank 0 writes; every rank then meets at a barrier
(:mod:`s2kd.distributed`).
"""

from __future__ import annotations

import glob
import inspect
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from s2kd.distributed import barrier, is_global_zero


def temporary_name(path: Path | PurePosixPath) -> Any:
    """The hidden temporary name a write of ``path`` goes to first (same folder, so the rename is atomic)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete the temporaries of ``path`` that processes no longer running left (a kill, a crash)."""
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not process_running(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def process_running(pid: int) -> bool:
    """Whether a process with this id is running (a temporary's or a spill folder's writer)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextmanager
def once_per_run() -> Iterator[bool]:
    """Yields whether this process writes (the global rank 0 does); then waits for every rank."""
    try:
        yield is_global_zero()
    finally:
        barrier()


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it to ``path``.

    An interrupted write leaves at most a hidden ``.name.tmp-<pid>`` file, never a truncated
    ``path`` that a later run would trust. On a non-zero DDP rank nothing is written.
    """
    with once_per_run() as writer:
        if not writer:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        tmp = temporary_name(path)
        try:
            write(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


class AtomicSaveMixin:
    """Makes a kedro-datasets file dataset (``pandas.ParquetDataset``, ``pandas.CSVDataset``,
    ``json.JSONDataset``, versioned or not) write to a temporary file and rename it into place.

    kedro-datasets open the target itself for writing, so a failed ``to_parquet`` leaves a truncated
    file behind. These classes write through ``self._fs.open(self._get_save_path())``; during a save
    the mixin points ``_get_save_path`` at a temporary name in the same folder and renames the result.
    Remote filesystems (``s3://``, ``gs://``) are left as they are: an object store publishes an
    object whole when its upload completes.
    """

    _atomic_tmp: PurePosixPath | None = None

    def save(self, data: Any) -> None:
        if getattr(self, "_protocol", "file") not in ("file", "local"):
            super().save(data)  # type: ignore[misc]
            return
        # the kedro-datasets save itself, without Kedro's wrapper: this save is wrapped already, and the
        # wrapper's check that the new version exists must run after the rename
        kedro_datasets_save = inspect.unwrap(super().save.__func__)  # type: ignore[misc]

        def write(tmp: Path) -> None:
            self._atomic_tmp = PurePosixPath(tmp)  # where _get_save_path points while writing
            try:
                kedro_datasets_save(self, data)
            finally:
                self._atomic_tmp = None

        write_atomically(Path(str(self._get_save_path())), write)
        self._invalidate_cache()  # type: ignore[attr-defined]

    def _get_save_path(self) -> PurePosixPath:
        if self._atomic_tmp is not None:
            return self._atomic_tmp
        return super()._get_save_path()  # type: ignore[misc]
