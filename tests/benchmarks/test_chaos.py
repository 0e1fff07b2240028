"""benchmarks/chaos.py: the kill-anywhere harness. Its checks on their own (torn files, requests paid again,
the write hook), then the harness itself on the CI chain: 3 kills in the middle of file writes, re-run to
completion, the same outputs as an uninterrupted run, nothing torn, nothing paid twice that had been saved,
one finished MLflow run per model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import chaos  # noqa: E402 - benchmarks/chaos.py
import chaos_checks  # noqa: E402 - benchmarks/chaos_checks.py

SITE = REPO / "benchmarks" / "chaos_site"


def test_torn_files_are_found_and_temporaries_are_not(tmp_path):
    pd.DataFrame({"a": np.arange(100)}).to_parquet(tmp_path / "whole.parquet")
    data = (tmp_path / "whole.parquet").read_bytes()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "torn.parquet").write_bytes(data[: len(data) // 2])
    (tmp_path / ".torn.parquet.tmp-123").write_bytes(data[:10])  # an atomic write's temporary: not a result
    (tmp_path / "meta.json").write_text('{"a": [1, 2')
    (tmp_path / "report.md").write_text("| a")  # text cannot be told torn
    assert chaos_checks.torn_files(tmp_path) == ["meta.json (JSONDecodeError)", "sub/torn.parquet (ArrowInvalid)"]


def test_requests_paid_again_are_told_apart_by_whether_their_answer_was_saved():
    a, b, c = ({"messages": [{"role": "user", "content": x}]} for x in "abc")
    # attempt 1 asked a and b and was killed with only a's answer saved; attempt 2 asks b again (lost in
    # flight) and a again (a fault: it was in the cache), then c
    again, saved = chaos_checks.paid_twice([[a, b], [b, a, c]], [{chaos_checks.chaos_answer(a)}])
    assert (again, saved) == (2, 1)
    assert chaos_checks.paid_twice([[a, b], [c]], [set()]) == (0, 0)


def _hooked(tmp_path, code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(SITE), **env}
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=environ, capture_output=True, text=True,
                          timeout=60)


def test_the_write_hook_logs_writes_by_kind_and_dies_half_way_through_the_chosen_one(tmp_path):
    code = ("import json, os, pathlib, tempfile\n"
            "pathlib.Path('data/narrative_cache/ab').mkdir(parents=True, exist_ok=True)\n"
            "for i in range(3):\n"
            "    pathlib.Path(f'data/t{i}.json').write_text(json.dumps({'i': i, 'pad': 'x' * 100}))\n"
            "fd, tmp = tempfile.mkstemp(dir='data/narrative_cache/ab')\n"
            "with os.fdopen(fd, 'w') as f: f.write('{}')\n"
            "open('/dev/null', 'w').write('x')  # outside the project: not counted\n")
    log = tmp_path / "writes.tsv"
    done = _hooked(tmp_path, code, S2KD_CHAOS_WRITE_LOG=str(log))
    assert done.returncode == 0, done.stderr
    assert [line.split("\t")[0] for line in log.read_text().splitlines()] == ["output"] * 3 + ["cache"]
    for name in os.listdir(tmp_path / "data"):
        if name.endswith(".json"):
            os.remove(tmp_path / "data" / name)
    died = _hooked(tmp_path, code, S2KD_CHAOS_KILL_AT_WRITE="output:2")
    assert died.returncode == -signal.SIGKILL
    assert "chaos: killed while writing data/t1.json (output write 2)" in died.stderr
    assert json.loads((tmp_path / "data" / "t0.json").read_text())["i"] == 0
    whole = len(json.dumps({"i": 1, "pad": "x" * 100}))
    assert (tmp_path / "data" / "t1.json").stat().st_size == whole // 2 and not (tmp_path / "data" / "t2.json").exists()


def test_three_kills_in_file_writes_leave_the_outputs_of_an_uninterrupted_run(tmp_path):
    """The CI run of the harness (``--budget ci``): each kill lands in another kind of write."""
    out = tmp_path / "out"
    code = chaos.main(["--trials", "1", "--kills", "3", "--mode", "write", "--budget", "ci", "--out", str(out)])
    row = pd.read_csv(out / "chaos.csv").iloc[0]
    findings = json.loads((out / "trial1-findings.json").read_text())
    assert code == 0, (row.to_dict(), findings)
    assert row["kills"] == 3, row["landed"]
    assert row["requests"] > 0 and row["paid_again_in_flight"] <= 2 * 3  # the narrator's concurrency per kill
    assert row["reruns"] == 1
    for column in chaos.FAULTS:
        assert row[column] == 0, (column, findings)
    assert sum(kind in row["landed"] for kind in ("output", "cache", "checkpoint", "tracking")) == 3
    # the output-write kill aims at the first pipeline in chaos.PIPELINES: ingest, where timed kills seldom land
    assert "ingest/" in row["landed"], row["landed"]
    assert pd.read_csv(out / "coverage.csv", index_col="pipeline")["kills"]["ingest"] == 1


if __name__ == "__main__":
    pytest.main([__file__])
