"""notebooks/: both run top to bottom on the tiny chain's outputs, show their tables and figures, and are
kept in git without outputs (so a diff shows code, and nothing stale pretends to be a result)."""

from __future__ import annotations

import shutil

import nbformat
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from nbclient import NotebookClient

from tests.helpers import TINY_BUDGET, TINY_DATA, TINY_EVALUATE

NOTEBOOKS = ("compare_runs.ipynb", "explore_data.ipynb")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_committed_without_outputs(repo, name):
    nb = nbformat.read(repo / "notebooks" / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code), (
        f"notebooks/{name} has outputs: clear them (Jupyter: Edit > Clear Outputs of All Cells) before committing")


def _outputs(nb, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if kind in (o.get("data") or {}) or o.get("output_type") == kind]


def test_both_notebooks_run_on_the_store_and_catalog_a_default_run_leaves(project, repo):
    shutil.copytree(repo / "notebooks", project / "notebooks")
    params = {"ingest": {"synthetic": TINY_DATA}, "train_teacher": TINY_BUDGET, "distill": TINY_BUDGET,
              "trainer": {"enable_progress_bar": False}, "evaluate": TINY_EVALUATE}
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=params) as session:
        session.run()  # the default pipeline, as `kedro run`
    ran = {}
    for name in NOTEBOOKS:
        nb = nbformat.read(project / "notebooks" / name, as_version=4)
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(project / "notebooks")}}).execute()  # raises on error
        ran[name] = nb
    compare = ran["compare_runs.ipynb"]
    html = "".join(o["data"]["text/html"] for o in _outputs(compare, "text/html"))
    # the method table: every core method, its change against the plain student
    for method in ("student", "output_kd", "feature_kd", "sdkd", "s2kd", "s2kd_forecast"):
        assert f"<td>{method}</td>" in html or f">{method}<" in html, method
    assert "test_mse vs student %" in html
    assert len(_outputs(compare, "image/png")) >= 3  # per-lead curves, the weights, one run's curves
    explore = ran["explore_data.ipynb"]
    text = "".join("".join(o.get("text", "")) for o in _outputs(explore, "stream"))
    assert "narrator 'diagnostic'" in text and "mode 'hindsight'" in text
    assert len(_outputs(explore, "image/png")) >= 4  # the forecast panels, spectra, lead curves, the series
    assert "<table" in "".join(o["data"]["text/html"] for o in _outputs(explore, "text/html"))
