"""The release: one version, a LICENSE, and an ``import chainrule`` that stays light."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import chainrule

ROOT = Path(__file__).resolve().parents[2]
#: Imported when first used, never by ``import chainrule`` (issue 22: ≤ 100 ms over NumPy).
HEAVY = (
    "scipy",
    "sklearn",
    "pandas",
    "polars",
    "pyarrow",
    "matplotlib",
    "torch",
    "tqdm",
    "onnx",
    "onnxruntime",
    "skops",
)


def _python(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout


def test_the_version_is_written_in_one_place() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "chainrule._version.__version__"
    }
    assert chainrule.__version__.count(".") == 2
    hits = [
        p
        for p in (ROOT / "src").rglob("*.py")
        if f'"{chainrule.__version__}"' in p.read_text(encoding="utf-8")
    ]
    assert hits == [ROOT / "src" / "chainrule" / "_version.py"]


def test_the_cli_reports_that_version() -> None:
    out = _python("import sys; from chainrule.cli import main; sys.exit(main(['--version']))")
    assert out.strip() == f"chainrule {chainrule.__version__}"


def test_license_file_is_mit_as_pyproject_says() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "WITHOUT WARRANTY OF ANY KIND" in text
    assert "Typing :: Typed" in project["classifiers"]


def test_import_chainrule_imports_no_heavy_library() -> None:
    out = _python(f"import sys, chainrule; print([m for m in {HEAVY!r} if m in sys.modules])")
    assert out.strip() == "[]"


def test_sigmoid_imports_scipy_when_first_used() -> None:
    # The NumPy engine's sigmoid is SciPy's expit (no overflow), loaded on first use.
    out = _python(
        "import sys, numpy as np, chainrule\n"
        "before = 'scipy' in sys.modules\n"
        "net = chainrule.Network([2, 3, 1], seed=0)\n"
        "a = net.feedforward(np.array([[1e4, -1e4]]))\n"
        "print(before, 'scipy.special' in sys.modules, np.isfinite(a).all())"
    )
    assert out.split() == ["False", "True", "True"]
