"""The notebooks under docs/notebooks/ run from top to bottom (nbclient; issue 22).

Each is executed in a fresh kernel with the working tree's ``src/`` first on its path;
any failing cell fails the test.  They are stored without outputs.  The MNIST
notebook trains only when ``CHAINRULE_MNIST_DIR`` names a folder with the IDX files
(otherwise its cells report that and do nothing).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "docs" / "notebooks"
OURS = ["seed-2-3-2.ipynb", "csv-to-onnx.ipynb", "mnist.ipynb"]
NEEDS = {"csv-to-onnx.ipynb": ["onnx", "onnxruntime", "matplotlib"]}


def test_notebooks_are_stored_without_outputs() -> None:
    nbformat = pytest.importorskip("nbformat")
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("name", OURS)
def test_notebook_runs(name, monkeypatch, tmp_path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    for module in NEEDS.get(name, []):
        pytest.importorskip(module)
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join([str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("CHAINRULE_NOTEBOOK_OUT", str(tmp_path))  # the CSV notebook's files
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    text = "\n".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
    )
    if name == "mnist.ipynb" and not os.environ.get("CHAINRULE_MNIST_DIR"):
        assert "skipping the training" in text
    if name == "mnist.ipynb" and os.environ.get("CHAINRULE_MNIST_DIR"):
        assert "test accuracy: 0.98" in text or "test accuracy: 0.99" in text
    if name == "seed-2-3-2.ipynb":
        assert "max |backprop − central difference| for W^3" in text
    if name == "csv-to-onnx.ipynb":
        assert "max difference:" in text
