"""The exercise notebooks (docs/notebooks/exercise-*.ipynb) run, and their solutions check.

Each notebook is executed top to bottom with nbclient (skipped cleanly without nbclient,
nbformat or ipykernel); every solution is verified inside the notebook with
``chainrule.check`` or ``chainrule.gradcheck`` assertions, so a wrong solution — or a
library change that breaks a lesson — fails here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("exercise-*.ipynb"))


def test_there_are_four_exercises():
    names = [p.stem for p in NOTEBOOKS]
    assert len(names) == 4
    for topic in ("by-hand", "find-the-bug", "vanishing-gradients", "softmax"):
        assert any(topic in n for n in names), topic


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_exercise_is_stored_without_outputs_and_checks_its_solution(path):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code), (
        f"{path.name}: clear the outputs before committing"
    )
    source = "\n".join(c.source for c in code)
    assert "chainrule.check(" in source and "assert" in source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_exercise_runs_end_to_end(path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # The kernel imports this checkout's chainrule, as pytest does.
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join([str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
