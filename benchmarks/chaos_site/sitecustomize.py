"""Loaded by ``kedro run`` processes that ``benchmarks/chaos.py`` starts (this folder is put first on their
``PYTHONPATH``); does nothing unless one of its variables is set.

- ``S2KD_CHAOS_WRITE_LOG=<file>``: append ``<kind>\t<path>\t<unix time>`` for every file opened for writing
  under the working directory (the project) to ``<file>``, in order: the reference run's writes, over which the
  harness draws where to kill (the time tells which node made each). Kinds (:func:`kind_of`): ``cache``
  (narrative cache records), ``checkpoint``, ``tracking`` (MLflow artifacts), ``output`` (everything else: the
  catalog's files).
- ``S2KD_CHAOS_KILL_AT_WRITE=<kind>:<n>``: the ``n``-th file of that kind gets half of the first block written
  to it, is flushed to disk, and the process SIGKILLs itself: a kill in the middle of writing that file.

Files opened through Python's ``open`` are seen (pathlib, ``json``, ``fsspec``'s local files, pandas' text
writers, Lightning's checkpoints); native writers that open files themselves (``torch.save`` to a path,
sqlite, HDF5) are not, and are killed only by the harness's timed kills.
"""

from __future__ import annotations

import builtins
import io
import os
import signal
import threading
import time

_LOG = os.environ.get("S2KD_CHAOS_WRITE_LOG")
_AT = os.environ.get("S2KD_CHAOS_KILL_AT_WRITE") or ""
KINDS = ("output", "cache", "checkpoint", "tracking")


def kind_of(path: str) -> str:
    """What a written file is, from its path relative to the project."""
    if "narrative_cache" in path:
        return "cache"
    if "checkpoint" in path or path.endswith(".ckpt"):
        return "checkpoint"
    if path.startswith(("mlruns", "mlartifacts")):
        return "tracking"
    return "output"


def _install() -> None:
    root = os.getcwd() + os.sep
    plain_open = io.open
    lock = threading.Lock()
    counts = dict.fromkeys(KINDS, 0)
    kill_kind, _, kill_n = _AT.partition(":")

    def path_of(file: object) -> str | None:
        if isinstance(file, int):
            try:
                return os.readlink(f"/proc/self/fd/{file}")
            except OSError:
                return None
        try:
            return os.path.abspath(os.fspath(file))  # type: ignore[arg-type]
        except TypeError:
            return None

    class Dying:
        """The file of the chosen write: half of the first block reaches the disk, then the process dies."""

        def __init__(self, f: io.IOBase) -> None:
            self._f = f

        def __getattr__(self, name: str) -> object:
            return getattr(self._f, name)

        def __enter__(self) -> Dying:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

        def __iter__(self):  # noqa: ANN204
            return iter(self._f)

        def write(self, data):  # noqa: ANN001, ANN201
            self._f.write(data[: len(data) // 2])
            self._die()

        def writelines(self, lines):  # noqa: ANN001, ANN201
            self.write("".join(lines) if lines and isinstance(next(iter(lines)), str) else b"".join(lines))

        def close(self) -> None:  # nothing was written: the file stays empty
            self._die()

        def _die(self) -> None:
            try:
                self._f.flush()
                os.fsync(self._f.fileno())
            finally:
                os.kill(os.getpid(), signal.SIGKILL)

    def chaos_open(file, mode="r", *args, **kwargs):  # noqa: ANN001, ANN202
        f = plain_open(file, mode, *args, **kwargs)
        if not any(c in mode for c in "wax+"):
            return f
        path = path_of(file)
        if path is None or not path.startswith(root) or "__pycache__" in path:
            return f
        rel = path[len(root):]
        kind = kind_of(rel)
        with lock:
            counts[kind] += 1
            n = counts[kind]
            if _LOG:
                with plain_open(_LOG, "a") as log:
                    log.write(f"{kind}\t{rel}\t{time.time():.3f}\n")
        if kind == kill_kind and str(n) == kill_n:
            os.write(2, f"\nchaos: killed while writing {rel} ({kind} write {n})\n".encode())
            return Dying(f)
        return f

    builtins.open = chaos_open
    io.open = chaos_open


if _LOG or _AT:
    _install()
