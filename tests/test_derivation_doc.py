"""docs/derivation.md's code pointers name code that exists, and its quotes are in that code."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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
        tail = text[m.end(): nxt.start() if nxt else len(text)]
        out.append((m.group(1), m.group(2), QUOTE.findall(tail)))
    return out


POINTERS = _pointers()


def test_the_doc_walks_equations_1_to_15_in_order():
    text = DOC.read_text()
    positions = [text.index(f"**Eq. {n}**") for n in
                 (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14)]
    assert positions == sorted(positions)
    assert "**eq. 11**" in text and "**eq. 15**" in text
    assert len(POINTERS) > 40


@pytest.mark.parametrize(("path", "name", "quotes"), POINTERS,
                         ids=[f"{p}:{n}" for p, n, _ in POINTERS])
def test_code_pointer_exists_and_quotes_are_in_it(path, name, quotes):
    file = ROOT / path
    assert file.is_file(), f"docs/derivation.md points to missing file {path}"
    defs = _definitions(file)
    assert name in defs, f"docs/derivation.md: {path} has no function or class {name!r}"
    for quote in quotes:
        assert quote in defs[name], (
            f"docs/derivation.md quotes `{quote}` from {path}:{name}, but it is not there: "
            "update the page")


def test_the_checker_catches_a_wrong_pointer(tmp_path):
    """The parser itself: a renamed function would be reported."""
    src = tmp_path / "m.py"
    src.write_text("class A:\n    def f(self):\n        return 1\n")
    defs = _definitions(src)
    assert "A.f" in defs and "return 1" in defs["A.f"]
    assert "A.g" not in defs
    m = POINTER.search("see `src/chainrule/x.py:Engine.backward` → `dl *= s`")
    assert m and m.group(2) == "Engine.backward"
