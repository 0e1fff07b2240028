"""Every dataset that writes an output writes it atomically: a write that fails midway (a full disk,
simulated by the operating system's file-size limit) leaves the previous output whole and no
half-written file or temporary behind, for our own datasets and the kedro-datasets tables alike."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from s2kd.datasets import (
    CSVDataset,
    JSONDataset,
    NetCDFDataset,
    NpzDataset,
    ParquetDataset,
    TextFileDataset,
    TorchModelDataset,
)
from tests.helpers import REPO

# Run in a child process: RLIMIT_FSIZE makes every write past the limit fail with EFBIG (SIGXFSZ
# ignored), in Python and C writers alike (pyarrow, HDF5, torch's zip writer), as a full disk would.
CHILD = textwrap.dedent(r"""
    import json, resource, signal, sys
    from pathlib import Path
    import numpy as np, pandas as pd, torch, xarray as xr
    from s2kd.datasets import (CSVDataset, JSONDataset, NetCDFDataset, NpzDataset, ParquetDataset, TextFileDataset,
                               TorchModelDataset)

    root, names = Path(sys.argv[1]), sys.argv[2].split(",")
    LIMIT = 256 * 1024
    def model(n):
        weights = {"w": torch.arange(n, dtype=torch.float32)}
        return {"kind": "student", "config": {"d": 4}, "state_dict": weights, "meta": {}}
    def table(n):
        return pd.DataFrame({"a": np.arange(n, dtype=float), "b": np.random.default_rng(0).normal(size=n)})
    def grid(n):
        return xr.Dataset({"series": (("time", "x"), np.random.default_rng(0).normal(size=(n, 64)).astype("float32"))})
    cases = {
        "parquet": (ParquetDataset(filepath=str(root / "t.parquet")), table(10), table(200_000)),
        "csv": (CSVDataset(filepath=str(root / "t.csv"), save_args={"index": False}), table(10), table(200_000)),
        "json": (JSONDataset(filepath=str(root / "s.json")), {"n": 1}, {"n": list(range(200_000))}),
        "netcdf": (NetCDFDataset(filepath=str(root / "s.nc")), grid(4), grid(20_000)),
        "npz": (NpzDataset(filepath=str(root / "e.npz")), {"x": np.zeros(4)}, {"x": np.zeros(200_000)}),
        "text": (TextFileDataset(filepath=str(root / "r.html")), "<p>old</p>", "x" * 2_000_000),
        "torch": (TorchModelDataset(filepath=str(root / "m.pt")), model(4), model(200_000)),
    }
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    out = {}
    for name in names:
        ds, small, big = cases[name]
        ds.save(small)
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, hard))
        try:
            ds.save(big)
            error = None
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        out[name] = error
        print(json.dumps(out), flush=True)
""")


def _child(tmp_path, root, names):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return subprocess.run([sys.executable, str(script), str(root), ",".join(names)], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def test_a_write_that_fails_midway_leaves_the_previous_output_whole(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    done = _child(tmp_path, root, ["parquet", "csv", "json", "npz", "text", "torch"])
    assert done.returncode == 0, done.stderr[-3000:]
    errors = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(errors) == 6 and all(errors.values()), f"every oversized write must fail under the limit: {errors}"
    # HDF5 (netCDF) may bring the whole process down after a failed write (a segfault in h5netcdf's
    # close): the file on disk must still be the previous one
    netcdf = _child(tmp_path, root, ["netcdf"])
    assert netcdf.returncode in (0, -11), netcdf.stderr[-3000:]
    if netcdf.returncode == 0:
        assert json.loads(netcdf.stdout.strip().splitlines()[-1])["netcdf"], "the oversized netCDF write must fail"
    # the previous outputs are whole and load as they were
    assert len(ParquetDataset(filepath=str(root / "t.parquet")).load()) == 10
    assert len(CSVDataset(filepath=str(root / "t.csv")).load()) == 10
    assert JSONDataset(filepath=str(root / "s.json")).load() == {"n": 1}
    assert NetCDFDataset(filepath=str(root / "s.nc")).load().sizes["time"] == 4
    assert NpzDataset(filepath=str(root / "e.npz")).load()["x"].shape == (4,)
    assert TextFileDataset(filepath=str(root / "r.html")).load() == "<p>old</p>"
    assert TorchModelDataset(filepath=str(root / "m.pt")).load()["state_dict"]["w"].numel() == 4
    # and nothing else is left: no temporary file, no half-written one
    names = sorted(p.name for p in root.iterdir() if not p.name.startswith(".s.nc.tmp-"))
    assert names == sorted(["t.parquet", "t.csv", "s.json", "s.nc", "e.npz", "r.html", "m.pt"]), names
    # a crashed process can leave only its hidden temporary, which the next write of the same file removes
    NetCDFDataset(filepath=str(root / "s.nc")).save(xr.Dataset({"series": ("time", np.arange(3.0))}))
    assert not list(root.glob(".*")) and NetCDFDataset(filepath=str(root / "s.nc")).load().sizes["time"] == 3


@pytest.mark.parametrize("kind", ["parquet", "csv", "json"])
def test_versioned_tables_are_written_atomically_and_round_trip(tmp_path, kind, monkeypatch):
    from kedro.io import Version

    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    make = {
        "parquet": lambda v: ParquetDataset(filepath=str(tmp_path / "t.parquet"), version=v),
        "csv": lambda v: CSVDataset(filepath=str(tmp_path / "t.csv"), version=v, save_args={"index": False}),
        "json": lambda v: JSONDataset(filepath=str(tmp_path / "t.json"), version=v),
    }[kind]
    data = frame.to_dict("list") if kind == "json" else frame
    make(Version(None, "2026-01-01T00.00.00.000Z")).save(data)
    # a failure inside the writer (here: the serialiser raising midway) leaves no version folder entry
    writer = {"parquet": (pd.DataFrame, "to_parquet"), "csv": (pd.DataFrame, "to_csv"),
              "json": (sys.modules["kedro_datasets.json.json_dataset"].json, "dump")}[kind]

    def half_then_fail(*args, **kwargs):
        handle = kwargs.get("path_or_buf") or (args[1] if len(args) > 1 else args[0])
        if hasattr(handle, "write"):
            handle.write(b"PAR1" if kind == "parquet" else "partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(*writer, half_then_fail)
    with pytest.raises(Exception, match="No space left"):
        make(Version(None, "2026-01-02T00.00.00.000Z")).save(data)
    monkeypatch.undo()
    loaded = make(Version(None, None)).load()
    assert (loaded == data) if kind == "json" else loaded.equals(frame)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == [f"t.{kind}/2026-01-01T00.00.00.000Z/t.{kind}"], files


def test_the_catalog_writes_every_table_through_the_atomic_classes(repo):
    from tests.helpers import load_conf

    catalog = load_conf(None)["catalog"]
    for name, entry in catalog.items():
        kind = entry["type"]
        if kind.startswith(("pandas.", "json.")):
            pytest.fail(f"catalog entry {name} uses {kind}, which writes in place: use s2kd.datasets.* instead")
    assert np.all([catalog[n]["type"].startswith("s2kd.datasets.") for n in ("sample_index", "efficiency",
                                                                             "normalisation_stats")])
