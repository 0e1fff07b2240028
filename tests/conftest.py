"""Shared fixtures.

Tests that need the real datasets in ``../shared/data`` take the ``shared_data`` fixture: it skips
with a reason when the folder is absent (a user's fresh clone), and fails instead when
``S2KD_REQUIRE_SHARED_DATA=1`` (set by ``.ci/run``), so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # one torch/OpenMP thread per pytest-xdist worker (and the runs it starts): two processes each spinning a
    # thread per core on a 2-core machine slow each other many times over (docs/results.md, the benchmark)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def shared_data_dir() -> Path:
    return Path(os.environ.get("S2KD_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        reason = f"shared datasets not found at {path} (set S2KD_SHARED_DATA to their folder)"
        if os.environ.get("S2KD_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(f"S2KD_REQUIRE_SHARED_DATA=1 but {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def project(tmp_path, repo, monkeypatch):
    """A copy of the project (conf, src, pyproject) in a temp folder, as the working directory."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("conf", "src"):
        shutil.copytree(repo / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "local"))
    (root / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(repo / name, root / name)
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    return root
