"""The documentation site builds with ``mkdocs build --strict`` (issue 22)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_page_is_in_the_nav() -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def pages(nav: object) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, list):
            return [p for item in nav for p in pages(item)]
        if isinstance(nav, dict):
            return [p for value in nav.values() for p in pages(value)]
        return []

    listed = set(pages(config["nav"]))
    on_disk = {
        str(p.relative_to(ROOT / "docs"))
        for p in (ROOT / "docs").rglob("*.md")
        if "notebooks" not in p.parts
    }
    assert on_disk == listed, (on_disk - listed, listed - on_disk)
    assert config["theme"]["name"] == "material"
    assert any("mkdocstrings" in p for p in config["plugins"] if isinstance(p, dict))


def test_mkdocs_build_strict(tmp_path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("material")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "chainrule" / "index.html").read_text()
    # mkdocstrings rendered the numpydoc docstrings: Network's parameters as a table.
    assert "A fully connected feed-forward network" in api
    assert "output_activation" in api and "Parameters" in api
    export = (tmp_path / "site" / "api" / "export" / "index.html").read_text()
    assert "network_to_onnx" in export and "from_torch" in export
