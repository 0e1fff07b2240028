"""Kill it anywhere: SIGKILL ``kedro run`` at random moments, run it again until it finishes, compare.

Usage (from the project root)::

    python benchmarks/chaos.py --trials 30 [--kills 1] [--mode mixed|time|write] [--budget tiny|ci] [--seed 0]

Each trial works in a fresh copy of the project (``conf``, ``src``, ``pyproject.toml``; empty ``data/``, its
own MLflow store) with the tiny chain of the tests (``tests.helpers.tiny``; ``--budget ci``: the CI test's,
smaller) and the ``openai`` narrator against the local OpenAI-compatible test server
(``tests/narrators/fake_openai.py``), so that paid requests are counted. The chain is first run once
uninterrupted (the reference, its file writes logged). Then, per trial, ``kedro run`` is killed ``--kills``
times, each time started again, then run until it completes. A kill is

- ``time``: SIGKILL to the run's process group at a moment drawn uniformly over the reference's wall time;
- ``write``: the run kills itself in the middle of a file write (half of the file on disk), the ``n``-th write
  of a kind (narrative cache record, checkpoint, catalog output, MLflow artifact, in turn; ``n`` uniform over
  the writes of that kind the reference made and earlier attempts of the trial have not; a catalog output
  is one the reference wrote in the next pipeline of :data:`PIPELINES`, so that ingest and report, too short
  for timed kills to find, are hit), through ``benchmarks/chaos_site/sitecustomize.py``;
- ``mixed`` (the default): the two alternately, kill after kill across the trials;

both seeded; the table says where each kill landed (``pipeline/node``) and ``coverage.csv`` counts the kills
per pipeline. After each kill, every file under ``data/`` must still read whole (torn files). After the trial:

- every output under ``data/`` against the reference's: tables exactly (the columns that measure time or
  memory, name MLflow runs or say whether a narrative came from the cache are left out), models by their state
  dicts, JSON by value (the same measured keys left out), the report by its tables, other files by bytes;
- requests paid again: a request asked in an earlier attempt and again later. Its answer may have been lost in
  flight (answered, not yet written when the process died: no client can keep it; at most the narrator's
  concurrency per kill) or have been saved in the cache before the kill (a fault);
- the MLflow store: no run left ``RUNNING``, no model logged by more than one finished run, no artifact folder
  of a run the store does not hold.

It prints a table (trial, kills, where each kill landed, re-runs, and the counts above) and writes it, with
every finding, to ``--out``. Exit status 1 when any fault (:data:`FAULTS`) is found.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib
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

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# benchmarks/chaos_checks.py
from chaos_checks import (  # noqa: E402
    cache_texts,
    chaos_answer,
    differences,
    mlflow_state,
    paid_twice,
    request_key,
    torn_files,
)

#: plain one-line log records (not rich's wrapped ones), so that the last node started can be read off the log
LOGGING = """version: 1
disable_existing_loggers: false
formatters: {plain: {format: "%(asctime)s %(name)s %(levelname)s %(message)s"}}
handlers: {console: {class: logging.StreamHandler, formatter: plain, stream: ext://sys.stdout}}
root: {handlers: [console], level: INFO}
"""


#: the CI test's chain: the tiny one, smaller (kills cost a re-run each; the test has 3 of them)
CI_BUDGET = {"ingest": {"synthetic": {"n_times": 96}, "windows": {"stride": 2}},  # ~38 windows to narrate
             "train_teacher": {"max_epochs": 1, "max_train_samples": 16, "max_val_samples": 8},
             "distill": {"max_epochs": 1, "max_train_samples": 16, "max_val_samples": 8},
             "evaluate": {"latency_repeats": 1, "latency_warmup": 0, "panel_samples": 1}}
#: the kinds of files a write kill aims at, in turn (benchmarks/chaos_site/sitecustomize.py), in the order
#: they are first written: a trial's later kills, in runs that resume, still find writes of their kind
WRITE_KINDS = ("cache", "checkpoint", "output", "tracking")
#: the pipelines of ``kedro run``, in the order output-write kills aim at them: the short ones first, where timed
#: kills seldom land
PIPELINES = ("ingest", "report", "narrate", "evaluate", "train_teacher", "distill")
SITE = ROOT / "benchmarks" / "chaos_site"


def chain_params(base_url: str, budget: str = "tiny") -> dict[str, Any]:
    """The parameters of the chaos chain: the tests' tiny chain (``ci``: smaller), narrated by ``openai``
    against the local test server."""
    from tests.helpers import merge, tiny

    params = tiny(narrate={"narrator": "openai", "openai": {
        "base_url": base_url, "model": "fake-vlm", "max_concurrency": 2, "timeout_s": 5.0,
        "backoff_initial_s": 0.01, "backoff_max_s": 0.05, "on_failure": "raise"}})
    return merge(params, CI_BUDGET) if budget == "ci" else params


def make_project(root: Path, base_url: str, budget: str = "tiny") -> Path:
    """A fresh copy of the project with the ``chaos`` environment: the chain, the fake server."""
    root.mkdir(parents=True)
    for name in ("conf", "src"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "local"))
    (root / "conf" / "local").mkdir()
    (root / "conf" / "chaos").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(ROOT / name, root / name)
    (root / "conf" / "chaos" / "logging.yml").write_text(LOGGING)
    for group, values in chain_params(base_url, budget).items():
        (root / "conf" / "chaos" / f"parameters_{group}.yml").write_text(yaml.safe_dump({group: values}))
    return root


def command() -> list[str]:
    return [str(Path(sys.executable).with_name("kedro")), "run", "--env", "chaos"]


def environ(root: Path, **chaos: str) -> dict[str, str]:
    """A run's environment: offline, its own MLflow store, plain logs; ``chaos``: the write hooks' variables
    (``S2KD_CHAOS_WRITE_LOG``, ``S2KD_CHAOS_KILL_AT_WRITE``), with their module first on the path."""
    path = os.pathsep.join(p for p in (str(SITE), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1", "OPENAI_API_KEY": "test-key",
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "PYTHONHASHSEED": "0",
            "KEDRO_LOGGING_CONFIG": str(root / "conf" / "chaos" / "logging.yml"), "PYTHONPATH": path, **chaos}


@functools.cache
def nodes_of_chain() -> dict[str, tuple[str, str]]:
    """Each node of the chain by how Kedro's log starts it (``Running node: <this>(...)``): its pipeline and
    full (namespaced) name."""
    return {str(node).split("(")[0]: (name, node.name) for name in PIPELINES
            for node in importlib.import_module(f"s2kd.pipelines.{name}").create_pipeline().nodes}


#: a node starting in Kedro's log: its timestamp (our plain format) and how the log names it
RUNNING = re.compile(r"^(\S+ \S+) \S+ INFO Running node: ([^(\n]+)\(", re.M)


def node_label(logged: str) -> str:
    """``pipeline/node`` of a node as the log starts it."""
    pipeline, name = nodes_of_chain().get(logged, ("?", logged))
    return f"{pipeline}/{name}"


def where(log: str) -> str:
    """The pipeline and node a run was in when its log ends (``start-up`` before the first node), and the file a
    write kill tore."""
    nodes = RUNNING.findall(log)
    node = node_label(nodes[-1][1]) if nodes else "start-up"
    torn = re.search(r"chaos: killed while writing (\S+) \((\w+) write", log)
    return f"{node} ({torn[2]}: {Path(torn[1]).name})" if torn else node


def read_writes(path: Path) -> pd.DataFrame:
    """A write log of ``sitecustomize``: kind, path (relative to the project), unix time."""
    return pd.read_csv(path, sep="\t", names=["kind", "path", "time"])


def output_writes_by_pipeline(writes: pd.DataFrame, log: str) -> dict[str, list[int]]:
    """The reference's output writes under ``data/`` by the pipeline whose node was running when it was made:
    ``{pipeline: [n, ...]}``, ``n`` counting output writes from 1 (what ``S2KD_CHAOS_KILL_AT_WRITE`` takes)."""
    starts = [(dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp(), node_label(node).split("/")[0])
              for stamp, node in RUNNING.findall(log)]
    out: dict[str, list[int]] = {}
    outputs = writes[writes["kind"] == "output"].reset_index(drop=True)
    for n, row in enumerate(outputs.itertuples(), start=1):
        running = [pipeline for start, pipeline in starts if start <= row.time]
        if running and row.path.startswith("data/"):
            out.setdefault(running[-1], []).append(n)
    return out


def attempt(root: Path, log: Path, kill_after: float | None = None, **chaos: str) -> tuple[int | None, str]:
    """One ``kedro run``: killed (its whole process group) after ``kill_after`` seconds, or by the write hook
    (``chaos``), or to its end. Returns ``(exit code, or None when killed; where it was)``."""
    with log.open("w") as out:
        proc = subprocess.Popen(command(), cwd=root, env=environ(root, **chaos), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            code = -signal.SIGKILL
        try:  # the whole group: nothing it started outlives it
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    return (None if code == -signal.SIGKILL else code), where(log.read_text(errors="replace"))


def run_to_completion(root: Path, logs: Path, name: str, max_runs: int = 5, **chaos: str) -> int:
    """Run the command until it exits 0; the number of runs it took (an error after ``max_runs``)."""
    for i in range(1, max_runs + 1):
        code, at = attempt(root, logs / f"{name}-run{i}.log", **chaos)
        if code == 0:
            return i
        print(f"    {name}: run {i} failed (exit {code}) in {at}", flush=True)
    tail = (logs / f"{name}-run{max_runs}.log").read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{name}: kedro run did not complete in {max_runs} runs; the end of its log:\n{tail}")


def reference_run(work: Path, out: Path, server: Any, budget: str) -> dict[str, Any]:
    """The uninterrupted chain: its project, wall time and writes per kind (what kills are drawn over)."""
    root = make_project(work / "reference", server.base_url, budget)
    writes = out / "reference-writes.tsv"
    writes.unlink(missing_ok=True)
    start = time.perf_counter()
    run_to_completion(root, out, "reference", max_runs=1, S2KD_CHAOS_WRITE_LOG=str(writes))
    wall = time.perf_counter() - start
    logged = read_writes(writes)
    kinds = logged["kind"].value_counts().to_dict()
    outputs = output_writes_by_pipeline(logged, (out / "reference-run1.log").read_text(errors="replace"))
    print(f"reference: {wall:.0f} s, {server.count} requests ({len({request_key(b) for b in server.bodies()})} "
          f"distinct), writes {kinds}, output writes per pipeline "
          f"{ {name: len(ns) for name, ns in outputs.items()} }", flush=True)
    return {"root": root, "wall": wall, "writes": kinds, "outputs": outputs}


def trial(n: int, args: argparse.Namespace, reference: dict[str, Any], server: Any, work: Path,
          rng: random.Random) -> dict[str, Any]:
    """Kill the chain ``args.kills`` times, run it to completion, check; the trial's row."""
    root = make_project(work / f"trial{n}", server.base_url, args.budget)
    landed, torn, saved, bodies = [], [], [], []
    kinds = [k for k in WRITE_KINDS if reference["writes"].get(k)]
    done = dict.fromkeys(kinds, 0)  # writes made by earlier attempts: cache records and checkpoints are not redone
    finished = False
    for k in range(args.kills):
        g = (n - 1) * args.kills + k  # the kill's number in the whole run, from 0
        mode = args.mode if args.mode != "mixed" else ("time", "write")[g % 2]
        w = g if args.mode == "write" else g // 2  # its number among the write kills
        before, writes = server.count, args.out / f"trial{n}-kill{k + 1}-writes.tsv"
        writes.unlink(missing_ok=True)
        if mode == "time":
            delay = rng.uniform(0.0, reference["wall"])
            code, at = attempt(root, args.out / f"trial{n}-kill{k + 1}.log", kill_after=delay,
                               S2KD_CHAOS_WRITE_LOG=str(writes))
            aim = f"@{delay:.0f}s"
        else:
            kind = kinds[w % len(kinds)]
            if kind == "output":  # the pipelines in turn: an output write the reference made there
                aimed = [p for p in PIPELINES if reference["outputs"].get(p)]
                index = rng.choice(reference["outputs"][aimed[(w // len(kinds)) % len(aimed)]])
            else:
                index = rng.randint(1, max(1, reference["writes"][kind] - done[kind]))
            code, at = attempt(root, args.out / f"trial{n}-kill{k + 1}.log", S2KD_CHAOS_WRITE_LOG=str(writes),
                               S2KD_CHAOS_KILL_AT_WRITE=f"{kind}:{index}")
            aim = f"{kind} write {index}"
        if writes.exists():
            for kind, count in read_writes(writes)["kind"].value_counts().items():
                done[kind] = done.get(kind, 0) + int(count)
        bodies.append(server.bodies()[before:])
        if code is not None:
            landed.append(f"(finished before {aim})" if code == 0 else f"(failed, exit {code}: {at})")
            finished = code == 0
            break
        landed.append(f"{at} [{aim}]")
        torn += [f"kill {k + 1}: {t}" for t in torn_files(root / "data")]
        saved.append(cache_texts(root / "data"))
    reruns = 0
    if not finished:
        before = server.count
        reruns = run_to_completion(root, args.out, f"trial{n}")
        bodies.append(server.bodies()[before:])
    diffs = differences(reference["root"] / "data", root / "data")
    again, again_saved = paid_twice(bodies, saved)
    state = mlflow_state(root)
    (args.out / f"trial{n}-findings.json").write_text(json.dumps(
        {"landed": landed, "differences": diffs, "torn": torn, **state}, indent=2))
    for line in [*diffs[:20], *torn[:20]]:
        print(f"    {line}", flush=True)
    return {"trial": n, "kills": sum(not x.startswith("(") for x in landed), "landed": "; ".join(landed),
            "reruns": reruns, "differences": len(diffs), "torn_files": len(torn),
            "requests": sum(map(len, bodies)), "paid_again_in_flight": again - again_saved,
            "paid_again_saved": again_saved, "running": state["running"],
            **{key: len(state[key]) for key in MLFLOW_FAULTS}}


#: what the MLflow store must not hold (:func:`chaos_checks.mlflow_state`)
MLFLOW_FAULTS = ("duplicate_models", "orphan_artifacts", "pending_models", "duplicate_logged_models",
                 "duplicate_versions")
#: the columns that must be 0 (``paid_again_in_flight`` is bounded by the narrator's concurrency per kill)
FAULTS = ("differences", "torn_files", "paid_again_saved", "running", *MLFLOW_FAULTS)


def coverage(table: pd.DataFrame) -> pd.Series:
    """Kills per pipeline (``start-up``: before the first node), every pipeline of the chain listed."""
    hits = [x.split(" ")[0].split("/")[0] for cell in table.get("landed", []) for x in str(cell).split("; ")
            if x and not x.startswith("(")]
    counts = pd.Series(hits, dtype=str).value_counts()
    return counts.reindex([*PIPELINES, *sorted(set(counts.index) - set(PIPELINES))], fill_value=0).rename_axis(
        "pipeline")


def main(argv: list[str] | None = None) -> int:
    from tests.narrators.fake_openai import FakeOpenAIServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--kills", type=int, default=1, help="kills per trial before it runs to completion")
    parser.add_argument("--mode", choices=("time", "write", "mixed"), default="mixed",
                        help="time: at a moment uniform over the reference's wall time; write: in the middle of "
                             "a file write (cache, checkpoint, output, tracking in turn; output writes aimed at "
                             "each pipeline in turn); mixed: the two alternately, kill after kill")
    parser.add_argument("--budget", choices=("tiny", "ci"), default="tiny", help="the chain's size (ci: the test's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "08_reporting" / "chaos")
    parser.add_argument("--keep", action="store_true", help="keep the trials' project copies")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="s2kd-chaos-"))
    rows: list[dict[str, Any]] = []
    try:
        with FakeOpenAIServer(api_key="test-key", answer=chaos_answer) as server:
            reference = reference_run(work, args.out, server, args.budget)
            for n in range(1, args.trials + 1):
                rows.append(trial(n, args, reference, server, work, rng))
                print("  " + json.dumps(rows[-1]), flush=True)
                if not args.keep:
                    shutil.rmtree(work / f"trial{n}", ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "chaos.csv", index=False)
    from s2kd.reporting import markdown_table

    print(markdown_table(table))
    covered = coverage(table)
    covered.to_csv(args.out / "coverage.csv", header=["kills"])
    print("kills per pipeline: " + ", ".join(f"{name} {count}" for name, count in covered.items()))
    bad = int(table[list(FAULTS)].to_numpy().sum()) if len(table) else 0
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
