"""Quoted code is real code.

docs/derivation.md's code pointers name code that exists, and its quotes are in that code;
every line of array code quoted in README.md, docs/architecture.md or a module docstring
(an assignment to an indexed name, such as eq. 9's ``delta[l] = …``) appears in the package.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "derivation.md"
# `path.py:Name` or `path.py:Class.method`, optionally followed by → `quoted code` items.
POINTER = re.compile(r"`((?:src|tests)/[\w/]+\.py):([A-Za-z_][\w.]*)`")
QUOTE = re.compile(r"→\s*`([^`]+)`")


@cache
def _definitions(path: Path) -> dict[str, str]:
    """Qualified name → source text, for every function and class in a file."""
    source = path.read_text()
    tree = ast.parse(source)
    found: dict[str, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                found[name] = ast.get_source_segment(source, child) or ""
                visit(child, name + ".")

    visit(tree, "")
    return found


def _pointers() -> list[tuple[str, str, list[str]]]:
    """(path, name, quotes) for each pointer; quotes are the → `code` items before the next one.

    Paragraphs are joined first so that a quote on the line after its pointer counts.
    """
    text = " ".join(DOC.read_text().split("\n"))
    matches = list(POINTER.finditer(text))
    out = []
    for m, nxt in zip(matches, [*matches[1:], None], strict=True):
        tail = text[m.end() : nxt.start() if nxt else len(text)]
        out.append((m.group(1), m.group(2), QUOTE.findall(tail)))
    return out


POINTERS = _pointers()


def test_the_doc_walks_equations_1_to_15_in_order():
    text = DOC.read_text()
    positions = [text.index(f"**Eq. {n}**") for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14)]
    assert positions == sorted(positions)
    assert "**eq. 11**" in text and "**eq. 15**" in text
    assert len(POINTERS) > 40


@pytest.mark.parametrize(
    ("path", "name", "quotes"), POINTERS, ids=[f"{p}:{n}" for p, n, _ in POINTERS]
)
def test_code_pointer_exists_and_quotes_are_in_it(path, name, quotes):
    file = ROOT / path
    assert file.is_file(), f"docs/derivation.md points to missing file {path}"
    defs = _definitions(file)
    assert name in defs, f"docs/derivation.md: {path} has no function or class {name!r}"
    for quote in quotes:
        assert quote in defs[name], (
            f"docs/derivation.md quotes `{quote}` from {path}:{name}, but it is not there: "
            "update the page"
        )


def test_the_checker_catches_a_wrong_pointer(tmp_path):
    """The parser itself: a renamed function would be reported."""
    src = tmp_path / "m.py"
    src.write_text("class A:\n    def f(self):\n        return 1\n")
    defs = _definitions(src)
    assert "A.f" in defs and "return 1" in defs["A.f"]
    assert "A.g" not in defs
    m = POINTER.search("see `src/chainrule/x.py:Engine.backward` → `dl *= s`")
    assert m and m.group(2) == "Engine.backward"


# --------------------------------------------------------------------------- quoted lines

SPAN = re.compile(r"``([^`]+)``|`([^`]+)`")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
PACKAGE = ROOT / "src" / "chainrule"


def _is_array_statement(text: str) -> bool:
    """True for a quote that is one Python assignment to an indexed name (``x[i] = …``)."""
    try:
        tree = ast.parse(text.strip())
    except SyntaxError:
        return False
    if len(tree.body) != 1 or not isinstance(tree.body[0], (ast.Assign, ast.AugAssign)):
        return False
    stmt = tree.body[0]
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    return any(isinstance(t, ast.Subscript) for t in targets)


def _quoted_statements() -> list[tuple[str, str]]:
    """(where, quote) for every array statement quoted in the README, architecture, docstrings."""
    texts = {name: (ROOT / name).read_text() for name in ("README.md", "docs/architecture.md")}
    for path in sorted(PACKAGE.rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text()))
        if doc:
            texts[str(path.relative_to(ROOT))] = doc
    found = []
    for where, text in texts.items():
        for m in SPAN.finditer(FENCE.sub("", text)):
            quote = m.group(1) or m.group(2)
            if _is_array_statement(quote):
                found.append((where, quote))
    return found


@cache
def _package_code() -> str:
    """The package's source without its docstrings, whitespace-normalised."""
    parts = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (
                isinstance(body, list)
                and body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                body[0].value.value = ""
        parts.append(ast.unparse(tree))
    return " ".join(" ".join(parts).split())


QUOTED = _quoted_statements()


def test_the_eq9_line_is_among_the_checked_quotes():
    where = {w for w, q in QUOTED if q.startswith("delta[l] = ")}
    assert {"README.md", "docs/architecture.md", "src/chainrule/engine.py"} <= where


@pytest.mark.parametrize(("where", "quote"), QUOTED, ids=[f"{w}:{q[:30]}" for w, q in QUOTED])
def test_quoted_array_statement_is_in_the_code(where, quote):
    code = " ".join(ast.unparse(ast.parse(quote.strip())).split())
    assert code in _package_code(), f"{where} quotes `{quote}`, which is not in src/chainrule"


def test_the_quote_checker_catches_a_line_that_is_not_code():
    assert _is_array_statement("delta[l] = (delta[l+1] @ W[l+1]) * dsigma(z[l])")
    code = " ".join(
        ast.unparse(ast.parse("delta[l] = (delta[l+1] @ W[l+1]) * dsigma(z[l])")).split()
    )
    assert code not in _package_code()
    assert not _is_array_statement("z^l = W^l a^{l-1} + b^l")
    assert not _is_array_statement("epochs=1")


# --------------------------------------------------------------------------- part 1: the lesson

WORKED = re.compile(r"^<!-- worked-example:.*?-->\n```text\n(.*?)^```", re.S | re.M)


def _explain_json(*args: str) -> dict:
    import contextlib
    import io
    import json

    from chainrule.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["explain", *args, "--format", "json"]) == 0
    return json.loads(buf.getvalue())


def test_the_page_cites_the_paper_and_points_nowhere_outside_the_repository():
    text = DOC.read_text()
    assert "Carolyn Johnston, *How I think about the" in text and "(2020)" in text
    assert "shared/seed" not in text and "seed/backprop-derivation" not in text
    errata = text[text.index("## Errata") : text.index("## A worked example")]
    assert "δ^l_j · a^{l−1}_i" in errata and "b^{l+1}" in errata and "1 × N_l" in errata


def test_the_worked_example_is_explains_output():
    """Every number of the 2-3-2 example is `chainrule explain --sizes 2,3,2`'s, to 4 digits."""
    block = WORKED.search(DOC.read_text())
    assert block, "docs/derivation.md has no worked-example block"
    doc = _explain_json("--sizes", "2,3,2")
    steps = {s["name"]: s for s in doc["steps"]}
    lines = [ln for ln in block.group(1).splitlines() if ln.strip()]
    assert len(lines) >= 14
    for line in lines:
        name, _, values = line.partition(" = ")
        assert name in steps, f"worked example: {name!r} is not a step of explain"
        rows = [[v.strip() for v in row.split(",")] for row in values.strip("[] ").split(";")]
        got = np.array(steps[name]["values"], dtype=float)
        got = got.reshape(len(rows), -1)
        want = [[f"{float(v) + 0.0:.4g}" for v in row] for row in got.tolist()]
        assert rows == want, f"worked example, {name}: the page has {rows}, explain {want}"


def test_the_python_snippet_builds_explains_network():
    """The page's snippet and `chainrule explain` (same defaults) give the same δ^2."""
    snippet = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert snippet
    scope: dict = {}
    exec(snippet.group(1), scope)
    doc = _explain_json()
    delta2 = next(s for s in doc["steps"] if s["name"] == "δ^2")["values"]
    np.testing.assert_array_equal(scope["trace"]["δ^2"].value, np.array(delta2))
    np.testing.assert_array_equal(scope["trace"].x, np.array(doc["example"]["x"]))
