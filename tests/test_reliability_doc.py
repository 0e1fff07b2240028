"""``docs/reliability.md`` stays true: at least 25 faults, each naming a test that exists (and so runs
in CI), parametrised cases included."""

from __future__ import annotations

import ast
import re

import pytest

from tests.helpers import REPO

ROW = re.compile(r"^\| (\d+) \|.*\| `(tests/[^`:]+\.py)::([A-Za-z0-9_]+)(?:\[([^\]]+)\])?` \|$")


def _rows():
    lines = (REPO / "docs/reliability.md").read_text().splitlines()
    table = [ln for ln in lines if re.match(r"^\| \d+ \|", ln)]
    return table, [ROW.match(ln) for ln in table]


def test_the_table_has_at_least_25_faults_each_naming_one_test():
    table, rows = _rows()
    bad = [ln for ln, m in zip(table, rows, strict=True) if m is None]
    assert not bad, f"rows without a test named as `tests/file.py::test_name`: {bad}"
    assert len(rows) >= 25
    assert [int(m.group(1)) for m in rows] == list(range(1, len(rows) + 1)), "rows are numbered 1..n"


@pytest.mark.parametrize("row", range(len(_rows()[1])))
def test_every_named_test_exists(row):
    m = _rows()[1][row]
    path, name, case = REPO / m.group(2), m.group(3), m.group(4)
    assert path.is_file(), f"row {m.group(1)}: {m.group(2)} does not exist"
    tree = ast.parse(path.read_text())
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert name in functions, f"row {m.group(1)}: no test {name} in {m.group(2)}"
    if case is not None:  # a parametrised case: its id must be among the literal parameters
        assert f'"{case}"' in path.read_text(), f"row {m.group(1)}: no case {case!r} for {name}"
