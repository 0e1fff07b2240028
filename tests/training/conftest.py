"""Shared set-up of the training tests.

Tiny models run on one torch thread: with 2 threads on a busy 2-core machine a 161-parameter conv's
backward pass takes 20-100 ms instead of 0.4 ms (the threads wait for each other).

Warnings of dependencies that the training tests silence (the library itself silences nothing).

- ``isinstance(treespec, LeafSpec)`` (FutureWarning): pytorch-lightning 2.6 builds a ``LeafSpec``,
  which torch 2.13 deprecates; raised inside Lightning on every step, nothing this project can change.
- ``does not have many workers``: Lightning's hint to use loader workers; the tests load tiny
  in-memory windows in the main process on purpose (workers would only add start-up time).
- ``smaller than the logging interval``: the toy epochs have fewer batches than
  ``log_every_n_steps``; the project logs epoch-level metrics only, so it does not matter.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

SILENCED = (
    r"ignore:.*isinstance\(treespec, LeafSpec\).*:FutureWarning",
    r"ignore:.*does not have many workers.*",
    r"ignore:.*is smaller than the logging interval.*",
)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            for spec in SILENCED:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
