"""Kill it anywhere: SIGKILL ``kedro run`` at random moments, run it again until it finishes, compare.

Usage (from the project root)::

    python benchmarks/chaos.py --trials 30 [--kills 1] [--seed 0] [--out data/08_reporting/chaos]

Each trial works in a fresh copy of the project (``conf``, ``src``, ``pyproject.toml``; empty ``data/``, its
own MLflow store) with the tiny chain of the tests (``tests.helpers.tiny``) and the ``openai`` narrator against
the local OpenAI-compatible test server (``tests/narrators/fake_openai.py``), so that paid requests are counted.
The chain is first run once uninterrupted (the reference). Then, per trial, ``kedro run`` is started and killed
(SIGKILL to its process group) ``--kills`` times at moments drawn uniformly over the reference's wall time
(seeded), each time started again, then run until it completes. The harness then compares:

- every output under ``data/`` with the reference's: tables exactly (the columns that measure time or memory,
  name MLflow runs or say whether a narrative came from the cache are left out), models by their state dicts,
  JSON by value (the same measured keys left out), other files by bytes;
- requests the server answered against the distinct prompts of the chain: a prompt asked twice was paid twice;
- the MLflow store: no run left ``RUNNING``, and no model logged by more than one finished run.

It prints a table (trial, kills, where each kill landed, re-runs, differences, duplicate requests, runs left
running) and writes it, with every difference, to ``--out``. Exit status 1 when anything differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: columns and keys that measure the run (time, memory, latency), name its MLflow runs or its cache use
VOLATILE = re.compile(r"(seconds|_s$|latency|memory|peak|mlflow|run_id|cached|cache_hits|requests|estimated_cost|"
                      r"wall|duration|started|finished|timestamp|created|_ms$|per_s$|throughput|speed-up|"
                      r"epochs_trained_now)", re.I)
#: a versioned dataset's file: ``<name>/<version>/<name>``; the latest version is compared
VERSIONED = re.compile(r"^(.+)/(\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d\.\d{3}Z)/([^/]+)$")
#: files whose content is a measurement or a log, not a result
#: plain one-line log records (not rich's wrapped ones), so that the last node started can be read off the log
LOGGING = """version: 1
disable_existing_loggers: false
formatters: {plain: {format: "%(asctime)s %(name)s %(levelname)s %(message)s"}}
handlers: {console: {class: logging.StreamHandler, formatter: plain, stream: ext://sys.stdout}}
root: {handlers: [console], level: INFO}
"""
SKIP = re.compile(r"(\.log$|\.tmp|/checkpoints/|/teacher_targets/|\.png$|\.html$|\.ckpt$)")


def tiny_params(base_url: str) -> dict[str, Any]:
    from tests.helpers import tiny

    return tiny(narrate={"narrator": "openai", "openai": {
        "base_url": base_url, "model": "fake-vlm", "max_concurrency": 2, "timeout_s": 5.0,
        "backoff_initial_s": 0.01, "backoff_max_s": 0.05, "on_failure": "raise"}})


def make_project(root: Path, base_url: str) -> Path:
    """A fresh copy of the project with the ``chaos`` environment: the tiny chain, the fake server."""
    root.mkdir(parents=True)
    for name in ("conf", "src"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "local"))
    (root / "conf" / "local").mkdir()
    (root / "conf" / "chaos").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(ROOT / name, root / name)
    (root / "conf" / "chaos" / "logging.yml").write_text(LOGGING)
    for group, values in tiny_params(base_url).items():
        (root / "conf" / "chaos" / f"parameters_{group}.yml").write_text(yaml.safe_dump({group: values}))
    return root


def command() -> list[str]:
    return [str(Path(sys.executable).with_name("kedro")), "run", "--env", "chaos"]


def environ(root: Path) -> dict[str, str]:
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1", "OPENAI_API_KEY": "test-key",
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "PYTHONHASHSEED": "0",
            "KEDRO_LOGGING_CONFIG": str(root / "conf" / "chaos" / "logging.yml")}


def last_node(log: str) -> str:
    """The node a run was in when its log ends (``start-up`` before the first node)."""
    nodes = re.findall(r"Running node: ([\w.]+)", log)
    return nodes[-1] if nodes else "start-up"


def attempt(root: Path, kill_after: float | None, log: Path) -> tuple[int | None, str]:
    """One ``kedro run``: killed (its whole process group) after ``kill_after`` seconds, or to its end.
    Returns ``(exit code or None when killed, the node it was in)``."""
    with log.open("w") as out:
        proc = subprocess.Popen(command(), cwd=root, env=environ(root), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
    return code, last_node(log.read_text(errors="replace"))


def run_to_completion(root: Path, logs: Path, name: str, max_runs: int = 5) -> int:
    """Run the command until it exits 0; the number of runs it took (an error after ``max_runs``)."""
    for i in range(1, max_runs + 1):
        code, where = attempt(root, None, logs / f"{name}-run{i}.log")
        if code == 0:
            return i
        print(f"    {name}: run {i} failed (exit {code}) in {where}", flush=True)
    tail = (logs / f"{name}-run{max_runs}.log").read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{name}: kedro run did not complete in {max_runs} runs; the end of its log:\n{tail}")


def _frame(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return frame[[c for c in frame.columns if not VOLATILE.search(str(c))]]


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items() if not VOLATILE.search(str(k))}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def _tables(path: Path) -> list[list[list[str]]]:
    """The markdown tables of a report, without their measured columns (:data:`VOLATILE`)."""
    tables, rows = [], []
    for line in [*path.read_text().splitlines(), ""]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
        elif rows:
            keep = [i for i, h in enumerate(rows[0]) if not VOLATILE.search(h)]
            tables.append([[r[i] for i in keep if i < len(r)] for r in rows])
            rows = []
    return tables


def _state(path: Path) -> dict[str, Any]:
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=False)
    return payload.get("state_dict", payload) if isinstance(payload, dict) else payload


def differences(reference: Path, trial: Path) -> list[str]:
    """What differs between two ``data/`` trees (results only; see :data:`VOLATILE` and :data:`SKIP`)."""
    def files(root: Path) -> dict[str, Path]:
        found: dict[str, tuple[str, Path]] = {}
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root).as_posix()
            if not p.is_file() or SKIP.search("/" + rel) or p.name == ".gitkeep":
                continue
            version = VERSIONED.match(rel)
            key, stamp = (f"{version[1]}/<latest>/{version[3]}", version[2]) if version else (rel, "")
            if key not in found or stamp > found[key][0]:
                found[key] = (stamp, p)
        return {k: p for k, (_, p) in found.items()}

    ref, got = files(reference), files(trial)
    out = [f"missing: {k}" for k in sorted(set(ref) - set(got))] + [f"extra: {k}" for k in sorted(set(got) - set(ref))]
    for key in sorted(set(ref) & set(got)):
        a, b = ref[key], got[key]
        try:
            if a.suffix in (".parquet", ".csv"):
                pd.testing.assert_frame_equal(_frame(a), _frame(b), check_exact=True)
            elif a.suffix == ".json":
                if _json(json.loads(a.read_text())) != _json(json.loads(b.read_text())):
                    out.append(f"differs: {key}")
            elif a.suffix in (".pt", ".pth"):
                sa, sb = _state(a), _state(b)
                if sa.keys() != sb.keys() or any(not np.array_equal(np.asarray(sa[k]), np.asarray(sb[k])) for k in sa):
                    out.append(f"differs: {key} (weights)")
            elif a.suffix == ".md":
                if _tables(a) != _tables(b):
                    out.append(f"differs: {key} (its tables)")
            elif a.suffix in (".nc", ".npz", ".onnx"):
                if a.read_bytes() != b.read_bytes() and a.suffix != ".nc":
                    out.append(f"differs: {key}")
                elif a.suffix == ".nc":
                    import xarray as xr

                    with xr.open_dataset(a, engine="h5netcdf") as x, xr.open_dataset(b, engine="h5netcdf") as y:
                        if not x.identical(y):
                            out.append(f"differs: {key}")
            elif a.read_bytes() != b.read_bytes():
                out.append(f"differs: {key}")
        except AssertionError as exc:
            out.append(f"differs: {key} ({str(exc).splitlines()[0][:120]})")
    return out


def mlflow_state(root: Path) -> dict[str, Any]:
    """Runs left RUNNING, and models logged by more than one finished run, in a project's MLflow store."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, max_results=100000)
    if runs.empty:
        return {"running": 0, "duplicate_models": [], "runs": 0}
    running = int((runs["status"] == "RUNNING").sum())
    finished = runs[runs["status"] == "FINISHED"]
    models = finished["tags.model"].dropna() if "tags.model" in finished else pd.Series(dtype=str)
    duplicates = sorted(models[models.duplicated()].unique())
    return {"running": running, "duplicate_models": duplicates, "runs": len(runs)}


def _request_key(record: dict[str, Any]) -> str:
    """What a request asks (its whole body: prompt, images, model, settings): the same key twice = paid twice."""
    return hashlib.sha256(json.dumps(record["body"], sort_keys=True).encode()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    from tests.narrators.fake_openai import FakeOpenAIServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--kills", type=int, default=1, help="kills per trial before it runs to completion")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "08_reporting" / "chaos")
    parser.add_argument("--keep", action="store_true", help="keep the trials' project copies")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="s2kd-chaos-"))
    rows: list[dict[str, Any]] = []
    try:
        with FakeOpenAIServer(api_key="test-key") as server:
            reference = make_project(work / "reference", server.base_url)
            start = time.perf_counter()
            run_to_completion(reference, args.out, "reference", max_runs=1)
            wall = time.perf_counter() - start
            distinct = len({_request_key(r) for r in server.requests})
            print(f"reference: {wall:.0f} s, {server.count} requests, {distinct} distinct", flush=True)
            for trial in range(1, args.trials + 1):
                before = server.count
                root = make_project(work / f"trial{trial}", server.base_url)
                landed = []
                for k in range(args.kills):
                    delay = rng.uniform(0.0, wall)
                    code, where = attempt(root, delay, args.out / f"trial{trial}-kill{k + 1}.log")
                    landed.append(f"{where} @{delay:.0f}s" if code is None else f"(finished before {delay:.0f}s)")
                reruns = run_to_completion(root, args.out, f"trial{trial}")
                diffs = differences(reference / "data", root / "data")
                asked = [_request_key(r) for r in server.requests[before:]]
                paid, duplicates = len(asked), len(asked) - len(set(asked))
                state = mlflow_state(root)
                rows.append({"trial": trial, "kills": args.kills, "landed": "; ".join(landed), "reruns": reruns,
                             "differences": len(diffs), "requests": paid,
                             "duplicate_requests": duplicates, "running": state["running"],
                             "duplicate_models": len(state["duplicate_models"])})
                print("  " + json.dumps(rows[-1]), flush=True)
                for d in diffs[:20]:
                    print(f"    {d}", flush=True)
                (args.out / f"trial{trial}-differences.json").write_text(json.dumps({"differences": diffs, **state},
                                                                                   indent=2))
                if not args.keep:
                    shutil.rmtree(root, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "chaos.csv", index=False)
    from s2kd.reporting import markdown_table

    print(markdown_table(table))
    bad = table[["differences", "duplicate_requests", "running", "duplicate_models"]].to_numpy().sum()
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
