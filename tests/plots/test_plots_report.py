"""The HTML report, ``chainrule train --report``, and matplotlib as an optional extra."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chainrule.cli import main

SRC = str(Path(__file__).resolve().parents[2] / "src")


# Run a snippet in a fresh interpreter that finds this checkout's chainrule.
def _python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


# A meta-path finder that makes `import matplotlib` fail, as on a machine without the extra.
NO_MATPLOTLIB = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
sys.meta_path.insert(0, _Block())
"""


def test_core_and_train_without_report_never_import_matplotlib():
    r = _python("""
        import sys
        import chainrule, chainrule.plots
        from chainrule.cli import main
        assert main(["train", "--epochs", "1", "--hidden", "8", "--quiet"]) == 0
        print("matplotlib" in sys.modules)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "False"


def test_missing_matplotlib_names_the_extra():
    r = _python(
        NO_MATPLOTLIB
        + """
import chainrule.plots as plots
try:
    plots.network_diagram([3, 4, 2])
except ImportError as exc:
    print("ERR", exc)
from chainrule.cli import main
sys.exit(main(["train", "--epochs", "1", "--report", "r.html"]))
"""
    )
    assert r.returncode == 2
    assert "ERR plots need matplotlib" in r.stdout and "pip install chainrule[plot]" in r.stdout
    err = r.stderr.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err == (
        "chainrule train: error: plots need matplotlib, which is not installed: "
        "pip install chainrule[plot]"
    )


pytest.importorskip("matplotlib")

from chainrule.plots import build_report  # noqa: E402
from plot_fixtures import digits_report, digits_run, regression_run  # noqa: E402


def _img_sources(html: str) -> list[str]:
    return re.findall(r"<img [^>]*src='([^']*)'", html)


@pytest.mark.slow
def test_report_embeds_every_figure_and_nothing_external():
    run = digits_run()
    html = digits_report()
    for heading in (
        "Settings and final metrics",
        "Learning curves",
        "Gradients and saturation",
        "The network",
        "Confusion matrix",
        "First-layer weights",
        "Misclassified examples",
    ):
        assert f"<h2>{heading}</h2>" in html
    sources = _img_sources(html)
    assert len(sources) == 6
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    # Nothing that would make a request: no URLs, no links to files beside it.
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    assert not re.search(r"(https?:)?//[a-z0-9]", text, re.I)
    assert "<link" not in text and "<script" not in text and "@import" not in text
    assert "url(" not in text
    accuracy = run.net.accuracy(run.X_test, run.y_test)
    assert f"{100 * accuracy:.2f}%" in html
    assert "64 → 16 → 10" in html and "<th>data</th><td class='num'>digits</td>" in html


def test_regression_report_has_residuals_and_no_image_figures():
    run = regression_run()
    html = build_report(run.net, None, run.X_test, run.y_test, None, None)
    assert "<h2>Residuals</h2>" in html and "Confusion matrix" not in html
    assert "First-layer weights" not in html and "accuracy" not in html.lower().split("<h2>")[1]
    assert len(_img_sources(html)) == 4  # curves, gradients, diagram, residuals


def test_report_checks_its_inputs():
    run = digits_run()
    with pytest.raises(ValueError, match=r"X_test must have shape \(n, 64\)"):
        build_report(run.net, None, run.X_test[:, :10], run.y_test, None, None)
    with pytest.raises(ValueError, match="y_test has 3 rows"):
        build_report(run.net, None, run.X_test, run.y_test[:3], None, None)


def test_train_report_into_a_missing_folder_fails_before_training(tmp_path, capsys):
    code = main(["train", "--epochs", "50", "--report", str(tmp_path / "no" / "r.html")])
    assert code == 2
    captured = capsys.readouterr()
    assert "epoch 1/" not in captured.out  # it did not train first
    assert "does not exist" in captured.err and captured.err.count("\n") == 1
