"""The benchmark behind ``docs/results.md``: teachers, validation tuning, then every method over seeds.

Usage (from the project root, in the project's environment)::

    python benchmarks/results.py                       # everything in benchmarks/results.yml, resuming
    python benchmarks/results.py --until tuning        # stop after stage 2 (the test split is not read)
    python benchmarks/results.py --datasets bikenyc    # a part of it (the tuning stage always runs first)
    python benchmarks/results.py --report-only         # rewrite docs/results.md from finished runs

Three stages, each a series of ``kedro run`` calls whose finished ones are skipped next time, so an
interrupted benchmark resumes where it stopped: a finished final run leaves its record in the repository
(:mod:`records`, ``benchmarks/records/<run>/``, commit it), a teacher run a marker under ``data/``, and training
itself resumes from checkpoints. On a fresh clone only the runs without a record are made (and the teachers
they need):

1. **teachers**: per dataset and teacher seed, ``kedro run --pipelines [ingest,narrate,]train_teacher`` into
   ``bench_<dataset>_t<t>_s<first student seed>`` (later teacher seeds copy the first one's ingest and
   narrate outputs).
2. **tuning** (:mod:`tuning`): every method's configurations of ``benchmarks/tuning.yml`` on the validation
   split of the tuning dataset (first teacher and student seed); the best per method becomes its setting.
3. **final**: per dataset, teacher seed and student seed, ``kedro run --pipelines distill,evaluate`` (or
   ``distill,ablations`` for the teacher seeds that also run the ablations) with ``distill.seed=<s>``,
   ``train_teacher.seed=<t>`` and every method's chosen setting. All runs share one checkpoint folder, so a
   model already trained with identical settings and data (the teachers of stage 1, the plain student under
   another teacher seed) is not trained again. ``evaluate`` reads the test split, once per run.

After the tuning, stages 1 and 3 (:mod:`schedule`) go teacher seed by teacher seed and, within one, dataset by
dataset (in the YAML's order): every dataset has its first teacher seed's results before any dataset's second
teacher seed is trained, so a benchmark stopped early reports on every dataset; ``jobs`` (``--jobs``) final runs at
once, the cores shared among them as torch threads (a model reached by two runs at once is trained by one while the
other waits: :func:`s2kd.training.trainer.folder_lock`); a run whose teachers another run is training lets the next
runs go first, so the second core trains the next dataset's teachers instead of waiting.

Then :mod:`results_doc` writes ``docs/results.md`` (ratios with paired block-bootstrap intervals over test
windows and seeds) and its figures. MLflow runs go to the experiment named in the YAML; each run's log is
``data/08_reporting/<run>/benchmark[_teachers].log``, and beside it ``.seconds``, the run's time summed over
every attempt (a killed one included), which the document reports as its compute.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from s2kd.datasets.atomic import write_atomically  # noqa: E402  (after the path above)

#: what a later teacher seed takes over from the first one's teacher run: the outputs of ingest and narrate
DATA = ["03_primary", "04_feature"]
#: what a later student seed takes over from its teacher seed's first run, relative to data/<layer>/<run>/: the
#: data and the frozen teachers with their validation rows
SHARED = [*DATA, "06_models/teacher_*.pt", "08_reporting/teacher_validation.csv",
          "08_reporting/validation/teacher_*.json"]


# ---------------------------------------------------------------- the runs


def seeds_of(config: dict[str, Any], dataset: str) -> tuple[list[int], list[int]]:
    """``(teacher seeds, student seeds)`` of a dataset: its own lists or the configuration's."""
    spec = config["datasets"][dataset]
    return list(spec.get("teacher_seeds", config["teacher_seeds"])), list(spec.get("student_seeds",
                                                                                config["student_seeds"]))


def ablation_seeds(config: dict[str, Any], dataset: str) -> list[int]:
    """The teacher seeds whose final runs also train the ablations (default: the first)."""
    teachers, _ = seeds_of(config, dataset)
    return list(config["datasets"][dataset].get("ablations", teachers[:1]))


def run_name(dataset: str, teacher_seed: int, student_seed: int) -> str:
    return f"bench_{dataset}_t{teacher_seed}_s{student_seed}"


def run_params(config: dict[str, Any], dataset: str, teacher_seed: int, student_seed: int,
               settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``--params`` of one run: common budget, the dataset's own, the seeds, then the methods' chosen
    loss settings (``distill.methods.<method>.<key>``)."""
    spec = config["datasets"][dataset]
    return {"dataset": run_name(dataset, teacher_seed, student_seed), **config["common"],
            **(spec.get("params") or {}), "train_teacher.seed": teacher_seed, "distill.seed": student_seed,
            **(settings or {})}


def teacher_params(config: dict[str, Any], dataset: str, teacher_seed: int, student_seed: int) -> dict[str, Any]:
    """The ``--params`` of a teacher run: :func:`run_params` without the students' (``distill.*``), so a
    changed student budget leaves the finished teachers finished."""
    params = run_params(config, dataset, teacher_seed, student_seed)
    return {k: v for k, v in params.items() if not k.startswith("distill.")}


def params_arg(params: dict[str, Any]) -> str:
    for key, value in params.items():
        if "," in str(value):
            raise ValueError(f"benchmarks/results.yml: the value of {key!r} has a comma, which kedro --params "
                             "splits on; join lists with '+'")
    return ",".join(f"{k}={'null' if v is None else v}" for k, v in params.items())


#: parameter files of pipelines the benchmark never runs: changing them leaves its runs valid
#: (loading: where the training windows are read from, which gives bit-identical models; a test checks it)
NOT_BENCHMARKED = ("parameters_forecast.yml", "parameters_loading.yml")
#: parameters that say how data is read, not what is computed (dotted keys, every environment)
NEUTRAL = ("ingest.xarray.chunks",)


def _pruned(tree: Any, prefix: str = "") -> Any:
    """``tree`` without its ``None`` leaves and :data:`NEUTRAL` keys: an option added later with a ``null``
    default (the earlier behaviour) leaves the finished runs finished."""
    if not isinstance(tree, dict):
        return tree
    return {k: _pruned(v, f"{prefix}{k}.") for k, v in tree.items() if v is not None and f"{prefix}{k}" not in NEUTRAL}


def digest(params: dict[str, Any]) -> str:
    """A run's identity: its ``--params`` and the parameters of the files under ``conf/`` (parsed, so that a
    comment changes nothing; a changed default makes every run stale, so that a finished run is never one
    made with other settings)."""
    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for path in sorted((ROOT / "conf").glob("*/*.yml")):
        if path.name.startswith(("parameters", "globals")) and path.name not in NOT_BENCHMARKED:
            tree = _pruned(yaml.safe_load(path.read_text()) or {})
            h.update(path.relative_to(ROOT).as_posix().encode() + json.dumps(tree, sort_keys=True).encode())
    return h.hexdigest()[:12]


def marker_path(name: str, stage: str = "final") -> Path:
    return ROOT / "data" / "08_reporting" / name / ("benchmark_run.json" if stage == "final" else
                                                    f"benchmark_{stage}.json")


def finished(name: str, params: dict[str, Any], stage: str = "final") -> dict[str, Any] | None:
    path = marker_path(name, stage)
    if not path.exists():
        return None
    marker = json.loads(path.read_text())
    return marker if marker.get("params_digest") == digest(params) else None


def shared_paths(name: str, patterns: list[str]) -> list[Path]:
    """The paths of run ``name`` that match ``patterns`` (``<layer>[/<glob>]``)."""
    data, found = ROOT / "data", []
    for pattern in patterns:
        layer, _, rest = pattern.partition("/")
        matches = sorted((data / layer / name).glob(rest)) if rest else [data / layer / name]
        if not matches or not matches[0].exists():
            raise FileNotFoundError(f"{data / layer / name / rest} is missing: the run {name} did not finish")
        found += matches
    return found


def copy_shared(source: str, target: str, patterns: list[str] = SHARED) -> None:
    """What ``target`` takes over from ``source`` (each path replaced whole, through a temporary copy, so an
    interrupted copy is never mistaken for a finished one)."""
    data = ROOT / "data"
    for src in shared_paths(source, patterns):
        layer, _, *rest = src.relative_to(data).parts
        dst = data.joinpath(layer, target, *rest)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp) if src.is_dir() else shutil.copy2(src, tmp)
        if dst.is_dir():
            shutil.rmtree(dst)
        tmp.replace(dst)


def kedro_command(env: str | None, pipelines: list[str], params: dict[str, Any],
                  namespaces: list[str] | None = None) -> list[str]:
    """``kedro run`` of this environment's ``kedro`` with these pipelines and ``--params``."""
    return [str(Path(sys.executable).with_name("kedro")), "run", *(["--env", env] if env else []),
            "--pipelines", ",".join(pipelines), "--params", params_arg(params),
            *(["--namespaces", ",".join(namespaces)] if namespaces else [])]


#: kedro runs at once (``--jobs``, the YAML's ``jobs``); each gets the machine's cores divided among them, or
#: ``--threads``
JOBS: dict[str, int | None] = {"n": 1, "threads": None}


def kedro_environ(experiment: str) -> dict[str, str]:
    """The environment of a benchmark ``kedro run``: offline, no telemetry, its own MLflow experiment, and
    its share of the cores as torch's threads: two runs each with a thread per core oversubscribe the CPU,
    and torch's spinning threads then slow both many times over (measured: the first final run's students took
    700-950 s beside another such process instead of 170-230 s; a profiled epoch 141 s instead of 9 s)."""
    threads = str(JOBS["threads"] or max(1, (os.cpu_count() or 1) // JOBS["n"]))
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1",
            "MLFLOW_EXPERIMENT_NAME": experiment, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


#: seconds between two writes of a run's clock: a killed attempt loses at most this much of its count
TICK = 30.0


def kedro(cmd: list[str], log: Path, experiment: str, key: str = "") -> tuple[float, int]:
    """Run ``cmd`` with its output in ``log``; its seconds summed over every attempt at it and the number of
    attempts, or an error with the log's end. The sum is kept beside the log (``<log>.seconds``, written every
    :data:`TICK` s), so the time of an attempt that was killed counts too; ``key`` (the run's parameter digest)
    starts a new count when the run's parameters changed."""
    log.parent.mkdir(parents=True, exist_ok=True)
    clock = log.with_suffix(".seconds")
    before = json.loads(clock.read_text()) if clock.exists() else {}
    if before.get("key") != key:
        before = {}
    prior, attempts = float(before.get("seconds", 0.0)), int(before.get("attempts", 0)) + 1
    start, done = time.perf_counter(), threading.Event()

    def write(total: float) -> None:
        text = json.dumps({"key": key, "seconds": total, "attempts": attempts})
        write_atomically(clock, lambda tmp: tmp.write_text(text))

    def tick() -> None:
        while True:
            write(prior + time.perf_counter() - start)
            if done.wait(TICK):
                return

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        with log.open("w") as out:
            code = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                  env=kedro_environ(experiment)).returncode
    finally:
        done.set()
        ticker.join()
        seconds = time.perf_counter() - start
        write(prior + seconds)
    if code != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-25:])
        raise RuntimeError(f"{' '.join(cmd[1:4])} failed (exit {code}) after {seconds:.0f} s; the end of {log}:\n"
                           f"{tail}")
    return prior + seconds, attempts


def write_marker(name: str, stage: str, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    marker = {"params": params, "params_digest": digest(params), **extra,
              "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    text = json.dumps(marker, indent=2, default=str)
    write_atomically(marker_path(name, stage), lambda tmp: tmp.write_text(text))
    return marker


def main() -> None:
    import results_doc  # benchmarks/results_doc.py
    import tuning  # benchmarks/tuning.py
    from schedule import final_runs, teacher_run  # benchmarks/schedule.py

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "benchmarks" / "results.yml")
    parser.add_argument("--datasets", nargs="+", default=None, help="a part of the YAML's datasets (default: all)")
    parser.add_argument("--until", choices=("teachers", "tuning", "final"), default="final",
                        help="stop after this stage (teachers: every teacher, no tuning; tuning: the tuning "
                             "dataset's first teachers and the tuning)")
    parser.add_argument("--report-only", action="store_true", help="train nothing; rewrite the document")
    parser.add_argument("--jobs", type=int, default=None,
                        help="final runs at once, each with its share of the cores (default: the YAML's jobs)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of each run (default: the cores divided among the runs at once)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results.md")
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    unknown = set(args.datasets or []) - set(config["datasets"])
    if unknown:
        parser.error(f"unknown dataset(s) {sorted(unknown)}; {args.config} has {sorted(config['datasets'])}")
    datasets = args.datasets or list(config["datasets"])
    jobs = max(1, args.jobs or int(config.get("jobs", 1)))
    JOBS["threads"] = args.threads
    if not args.report_only:
        start = time.perf_counter()
        tune = config["tuning_dataset"]
        if args.until == "teachers":
            for dataset in datasets:
                print(f"stage 1: {dataset}'s teachers, per teacher seed", flush=True)
                for t in seeds_of(config, dataset)[0]:
                    teacher_run(config, dataset, t)
        else:
            print(f"stage 2: tuning on {tune}'s validation split (its first teachers first)", flush=True)
            settings = tuning.tune(config)
        if args.until == "final":  # first teacher seeds first, so that every dataset has results early
            JOBS["n"] = jobs  # (the tuning's runs, one after another, had every core)
            print(f"stages 1 and 3, {JOBS['n']} kedro run(s) at once: per dataset and teacher seed, its teachers "
                  "(unless every run that needs them is recorded), every method over student seeds, then the test "
                  "split", flush=True)
            final_runs(config, datasets, settings)
        print(f"benchmark runs took {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    results_doc.write_document(config, list(config["datasets"]), args.out)


if __name__ == "__main__":
    main()
