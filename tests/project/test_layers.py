"""The house: no import cycle among chainrule's modules, lazy imports included.

``TYPE_CHECKING`` imports aside, every ``import`` anywhere in a module (at the top or
inside a function) is an edge; the graph must have no cycle.  The layers themselves
(which package may import which) are the import-linter contract in pyproject.toml,
checked by ``lint-imports`` in .ci/run.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

#: Known edges waiting on another issue: io reads __version__ from the package root
#: (issue 22 gives the version a module of its own).
PENDING = {("chainrule.io", "chainrule")}


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for path in (SRC / "chainrule").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        package = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if package else parts)] = (path, package)
    return mods


def _imports(name: str, path: Path, package: bool, mods: dict) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    base = name.split(".") if package else name.split(".")[:-1]
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            stem = base[: len(base) - node.level + 1] if node.level else []
            target = ".".join(stem + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in mods else target)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m in mods and m != name and (name, m) not in PENDING}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_lazy_imports_included():
    mods = _modules()
    graph = {name: _imports(name, path, pkg, mods) for name, (path, pkg) in mods.items()}
    assert _cycles(graph) == []


def test_the_checker_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_model_and_the_trainer_do_not_import_upwards():
    mods = _modules()
    for low, high in [
        ("chainrule.network", "chainrule.io"),
        ("chainrule.training.trainer", "chainrule.network"),
        ("chainrule.memory", "chainrule.network"),
        ("chainrule.data.files", "chainrule.training"),
        ("chainrule.parallel.shard", "chainrule.training.distributed"),
    ]:
        if low in mods:
            assert not any(
                m == high or m.startswith(high + ".") for m in _imports(low, *mods[low], mods)
            ), (low, high)
