"""What ``benchmarks/chaos.py`` checks after a kill and after a trial: torn files, differing outputs, paid
requests, the MLflow store. Kept apart from the harness that starts and kills the runs."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: columns and keys that measure the run (time, memory, latency), name its MLflow runs or its cache use
VOLATILE = re.compile(r"(seconds|_s$|latency|memory|peak|mlflow|run_id|cached|cache_hits|requests|estimated_cost|"
                      r"wall|duration|started|finished|timestamp|created|_ms$|per_s$|throughput|speed-up|"
                      r"epochs_trained_now)", re.I)
#: a versioned dataset's file: ``<name>/<version>/<name>``; the latest version is compared
VERSIONED = re.compile(r"^(.+)/(\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d\.\d{3}Z)/([^/]+)$")
#: files whose content is a measurement, a log or a working file, not a result
SKIP = re.compile(r"(\.log$|\.tmp|/checkpoints/|/teacher_targets/|\.png$|\.html$|\.ckpt$)")


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


#: a temporary of an atomic write (``.name.tmp-<pid>``, the narrative cache's ``.<key>.<random>.tmp``)
TEMPORARY = re.compile(r"^\..*\.tmp(-\d+)?$")


def _load(path: Path) -> None:
    """Read ``path`` whole the way its kind is read (raises on a torn or corrupt file)."""
    suffix = path.suffix
    if suffix == ".parquet":
        pd.read_parquet(path)
    elif suffix == ".csv":
        pd.read_csv(path)
    elif suffix == ".json":
        json.loads(path.read_bytes())
    elif suffix in (".pt", ".pth", ".ckpt"):
        import torch

        torch.load(path, map_location="cpu", weights_only=False)
    elif suffix in (".npz", ".npy"):
        loaded = np.load(path, allow_pickle=False)
        for key in loaded.files if suffix == ".npz" else ():  # an .npz member is read when asked for
            loaded[key]
    elif suffix == ".nc":
        import xarray as xr

        with xr.open_dataset(path, engine="h5netcdf") as ds:
            ds.load()
    elif suffix == ".png":
        from PIL import Image

        with Image.open(path) as image:
            image.load()
    elif suffix == ".onnx":
        import onnx

        onnx.load(str(path))


def torn_files(root: Path) -> list[str]:
    """Files under ``root`` (not temporaries, not inside a zarr store) that cannot be read whole: what a kill
    may never leave behind. Text files (Markdown, HTML, logs) cannot be told torn and are not read."""
    torn = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or TEMPORARY.match(path.name) or ".zarr/" in rel:
            continue
        try:
            _load(path)
        except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
            torn.append(f"{rel} ({type(exc).__name__})")
    return torn


def cache_texts(root: Path) -> set[str]:
    """The narratives whole in the narrative caches under ``root`` (a record is durable once it reads)."""
    texts = set()
    for path in root.rglob("narrative_cache/??/*.json"):
        try:
            texts.add(json.loads(path.read_bytes())["text"])
        except (ValueError, KeyError, TypeError):
            continue
    return texts


def request_key(body: dict[str, Any]) -> str:
    """What a request asks (its whole body: prompt, images, model, settings): the same key twice = paid twice."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def chaos_answer(body: dict[str, Any]) -> str:
    """The test server's answer: a function of the request alone, and distinct per request, so that a record
    in the cache says which request it answered."""
    from tests.narrators.fake_openai import prompt_of

    return f"Narrative {request_key(body)[:12]} for {prompt_of(body)[:30]}"


def paid_twice(bodies: list[list[dict[str, Any]]], saved: list[set[str]]) -> tuple[int, int]:
    """Requests paid again, from the request bodies of each attempt of a trial and the answers durable in the
    cache at the end of each killed attempt. Returns ``(paid again, paid again although the answer had been
    saved)``: the first counts answers lost in flight (asked, answered, not yet written when the process
    died: no client can keep those), the second is a fault."""
    asked: set[str] = set()
    again = again_saved = 0
    durable: set[str] = set()
    for i, attempt in enumerate(bodies):
        for body in attempt:
            key = request_key(body)
            if key in asked:
                again += 1
                again_saved += chaos_answer(body) in durable
            asked.add(key)
        if i < len(saved):
            durable |= saved[i]
    return again, again_saved


def mlflow_state(root: Path) -> dict[str, Any]:
    """The project's MLflow store: runs left ``RUNNING``, models logged by more than one finished run, orphan
    artifact folders (of no run in the store), logged models left ``PENDING``, runs holding more than one
    finished logged model, and registered models with more than one version."""
    import mlflow
    from mlflow.entities import LoggedModelStatus

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    client = mlflow.tracking.MlflowClient()
    runs = mlflow.search_runs(search_all_experiments=True, max_results=100000)
    empty = {"running": 0, "duplicate_models": [], "orphan_artifacts": [], "pending_models": [],
             "duplicate_logged_models": [], "duplicate_versions": [], "runs": 0}
    if runs.empty:
        return empty
    finished = runs[runs["status"] == "FINISHED"]
    models = finished["tags.model"].dropna() if "tags.model" in finished else pd.Series(dtype=str)
    known = set(runs["run_id"])
    orphans = []
    experiments = mlflow.search_experiments()
    for experiment in experiments:
        location = experiment.artifact_location.removeprefix("file://")
        folder = Path(location) if Path(location).is_absolute() else root / location
        if folder.is_dir():
            orphans += [p.name for p in folder.iterdir() if p.is_dir() and len(p.name) == 32 and p.name not in known]
    logged = mlflow.search_logged_models([e.experiment_id for e in experiments], output_format="list")
    ready = pd.Series([m.source_run_id for m in logged if m.status == LoggedModelStatus.READY], dtype=str)
    versions = pd.Series([v.name for v in client.search_model_versions(max_results=10000)], dtype=str)
    return {**empty, "running": int((runs["status"] == "RUNNING").sum()),
            "duplicate_models": sorted(models[models.duplicated()].unique()), "orphan_artifacts": sorted(orphans),
            "pending_models": sorted(m.model_id for m in logged if m.status == LoggedModelStatus.PENDING),
            "duplicate_logged_models": sorted(ready[ready.duplicated()].unique()),
            "duplicate_versions": sorted(versions[versions.duplicated()].unique()), "runs": len(runs)}
