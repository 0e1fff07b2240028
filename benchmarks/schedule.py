"""Stages 1 and 3 of :mod:`results`: the teacher runs and the final runs, scheduled over ``jobs`` workers.

A final run records itself (:mod:`records`); a teacher run leaves a marker. A run whose teachers another worker is
training lets the next runs go first, and a later teacher seed waits only for the first seed's data, so no core
sits idle while other work could go. Helpers (parameters, markers, the ``kedro run`` with its clock) live in
:mod:`results`; this module is imported by it and by :mod:`tuning` (the tuning needs its dataset's teachers).
"""

from __future__ import annotations

import collections
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import results  # benchmarks/results.py: the helpers, looked up at call time (the tests replace some)

#: one teacher run per (dataset, teacher seed) at a time; a later seed also waits for the first seed's run, whose
#: data it copies, but not for the other later seeds (NCEP's seeds 1 and 2 train at once)
TEACHER_LOCKS: dict[tuple[str, int], threading.Lock] = collections.defaultdict(threading.Lock)


#: told whenever teachers or a final run finish, so that a worker waiting for work (:func:`final_runs`) looks again
SCHEDULE = threading.Condition()


def teacher_run(config: dict[str, Any], dataset: str, teacher_seed: int) -> dict[str, Any]:
    """Stage 1 for one teacher seed: ``[ingest,narrate,]train_teacher``."""
    first = results.seeds_of(config, dataset)[0][0]
    try:
        if teacher_seed != first:
            with TEACHER_LOCKS[(dataset, first)]:  # its data: the first seed's run makes it
                pass
        with TEACHER_LOCKS[(dataset, teacher_seed)]:
            return _teacher_run(config, dataset, teacher_seed)
    finally:
        with SCHEDULE:
            SCHEDULE.notify_all()


def _teacher_run(config: dict[str, Any], dataset: str, teacher_seed: int) -> dict[str, Any]:
    teachers, students = results.seeds_of(config, dataset)
    params = results.teacher_params(config, dataset, teacher_seed, students[0])
    name = params["dataset"]
    done = results.finished(name, params, "teachers")
    if done is not None:
        print(f"  {name}: teachers finished before ({done['seconds']:.0f} s)", flush=True)
        return done
    source = results.teacher_params(config, dataset, teachers[0], students[0])
    # the first teacher seed's run makes the data; a later one copies it, or makes it again when that run is
    # not here (its final runs were recorded on another machine)
    first = teacher_seed == teachers[0] or results.finished(source["dataset"], source, "teachers") is None
    if not first:
        results.copy_shared(source["dataset"], name, results.DATA)
    names = ["ingest", "narrate", "train_teacher"] if first else ["train_teacher"]
    return launch(config, dataset, "teachers", names, params)


def final_run(config: dict[str, Any], dataset: str, teacher_seed: int, student_seed: int,
              settings: dict[str, Any]) -> dict[str, Any]:
    """Stage 3 for one (teacher seed, student seed): every method's student, then the test split."""
    teachers, students = results.seeds_of(config, dataset)
    import records  # benchmarks/records.py

    params = results.run_params(config, dataset, teacher_seed, student_seed, settings)
    name = params["dataset"]
    done = records.recorded(name, params)
    if done is not None:
        print(f"  {name}: recorded before ({done['seconds']:.0f} s)", flush=True)
        return done
    teacher_run(config, dataset, teacher_seed)
    if student_seed != students[0]:
        results.copy_shared(results.run_name(dataset, teacher_seed, students[0]), name)  # data and frozen teachers
    marker = results.finished(name, params)
    if marker is None:
        names = ["distill", "ablations" if teacher_seed in results.ablation_seeds(config, dataset) else "evaluate"]
        marker = launch(config, dataset, "final", names, params)
    teacher = results.teacher_params(config, dataset, teacher_seed, students[0])
    teacher_marker = results.finished(teacher["dataset"], teacher, "teachers")
    path = records.write_record(config["mlflow_experiment"], marker,
                                teacher_marker["seconds"] if teacher_marker else None)
    print(f"  {name}: recorded in {path.relative_to(results.ROOT)} (commit it)", flush=True)
    return marker


def final_runs(config: dict[str, Any], datasets: list[str], settings: dict[str, Any]) -> None:
    """Stage 3 (with stage 1 where needed) of every dataset, teacher seed and student seed, ``results.JOBS`` at
    a time, in :func:`run_order` except that a run whose teachers another run is training waits its turn while
    the next ones go; a failed run stops nothing else, and the command then exits with their list."""
    runs = run_order(config, datasets)
    pending, running, errors = list(runs), set(), {}

    def teachers_done(dataset: str, t: int) -> bool:
        params = results.teacher_params(config, dataset, t, results.seeds_of(config, dataset)[1][0])
        return results.finished(params["dataset"], params, "teachers") is not None

    def waits(run: tuple[str, int, int]) -> bool:
        """Would wait for teachers that another worker is (or is about to be) training: its own teacher seed's
        or the first seed's, whose data a later seed copies."""
        dataset, seeds = run[0], {run[1], results.seeds_of(config, run[0])[0][0]}
        return any(TEACHER_LOCKS[(dataset, t)].locked() for t in seeds) or any(
            r[0] == dataset and r[1] in seeds and not teachers_done(dataset, r[1]) for r in running)

    def take() -> tuple[str, int, int] | None:
        """The first pending run that would not wait for another worker's teachers: a worker does not sit
        idle while a later dataset's teachers or runs could go."""
        with SCHEDULE:
            while pending:
                ready = next((run for run in pending if not waits(run)), None)
                if ready is not None:
                    pending.remove(ready)
                    running.add(ready)
                    return ready
                SCHEDULE.wait(timeout=60)
            return None

    def worker() -> None:
        while (run := take()) is not None:
            try:
                final_run(config, *run, settings)
            except Exception as error:  # noqa: BLE001  (listed below; the other runs go on)
                errors[run] = error
            with SCHEDULE:
                running.discard(run)
                SCHEDULE.notify_all()

    with ThreadPoolExecutor(max_workers=results.JOBS["n"]) as pool:
        for _ in range(results.JOBS["n"]):
            pool.submit(worker)
    failed = [(run, errors[run]) for run in runs if run in errors]
    for (dataset, t, s), error in failed:
        print(f"  {results.run_name(dataset, t, s)} failed: {error}", flush=True)
    if failed:
        raise SystemExit(f"{len(failed)} of {len(runs)} final runs failed (above); run the command again to "
                         "resume them")


def run_order(config: dict[str, Any], datasets: list[str]) -> list[tuple[str, int, int]]:
    """Every final run ``(dataset, teacher seed, student seed)``: by the teacher seed's place in its dataset's
    list, then dataset (in ``datasets``' order), then student seed."""
    runs = [(i, d, dataset, t, s) for d, dataset in enumerate(datasets)
            for i, t in enumerate(results.seeds_of(config, dataset)[0]) for s in results.seeds_of(config, dataset)[1]]
    return [(dataset, t, s) for *_, dataset, t, s in sorted(runs, key=lambda run: run[:2])]


def launch(config: dict[str, Any], dataset: str, stage: str, names: list[str], params: dict[str, Any]) -> dict:
    """One ``kedro run`` of ``names`` for a stage of run ``params["dataset"]``, logged; its marker."""
    name = params["dataset"]
    cmd = results.kedro_command(config["datasets"][dataset].get("env"), names, params)
    file = "benchmark.log" if stage == "final" else f"benchmark_{stage}.log"
    log = results.ROOT / "data" / "08_reporting" / name / file
    print(f"  {name}: {','.join(names)} ... (log: {log.relative_to(results.ROOT)})", flush=True)
    seconds, attempts = results.kedro(cmd, log, config["mlflow_experiment"], results.digest(params))
    print(f"  {name}: {stage} done in {seconds:.0f} s ({attempts} attempt(s))", flush=True)
    return results.write_marker(name, stage, params, seconds=seconds, attempts=attempts, pipelines=names,
                        command=" ".join(cmd[1:]))
