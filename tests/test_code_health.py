"""The code stays one home per concept: ruff clean, modules under 400 lines, no import cycle among the
project's modules, no block of six lines copied between modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict

from tests.helpers import REPO

SRC = REPO / "src"
MODULES = {".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__"): p
           for p in sorted(SRC.rglob("*.py"))}
WINDOW = 6


def test_ruff_is_clean():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks", "tools"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_no_module_exceeds_400_lines():
    """The library's modules, and the benchmark and tool scripts beside it."""
    scripts = {str(p.relative_to(REPO)): p for folder in ("benchmarks", "tools") for p in (REPO / folder).rglob("*.py")}
    long = {name: n for name, path in {**MODULES, **scripts}.items() if (n := len(path.read_text().splitlines())) > 400}
    assert not long, long


def _imports(name: str) -> set[str]:
    """The project modules ``name`` imports (anywhere in it), each as the module its import names."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return {m for m in found if m in MODULES and m != name}


def test_no_import_cycle_among_project_modules():
    graph = {name: _imports(name) for name in MODULES}
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def _code_lines(path) -> list[tuple[int, str]]:
    """Lines of code (no blanks, comments, docstrings or imports), stripped, with their numbers."""
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            skip |= set(range(node.lineno, node.end_lineno + 1))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            skip |= set(range(node.lineno, node.end_lineno + 1))
    out = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if text and not text.startswith("#") and number not in skip and len(text) > 3:
            out.append((number, text))
    return out


def test_no_block_of_six_lines_is_repeated_across_modules():
    seen: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for name, path in MODULES.items():
        lines = _code_lines(path)
        for i in range(len(lines) - WINDOW + 1):
            block = tuple(text for _, text in lines[i : i + WINDOW])
            seen[block].append(f"{name}:{lines[i][0]}")
    repeated = {block: where for block, where in seen.items() if len({w.split(":")[0] for w in where}) > 1}
    assert not repeated, "\n\n".join(f"{where}:\n" + "\n".join(block) for block, where in list(repeated.items())[:5])
