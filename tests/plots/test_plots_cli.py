"""``chainrule train --report``, ``chainrule report`` and ``chainrule plot`` on a model file."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from chainrule.cli import main


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A digits classifier trained for 3 epochs, saved, with the report of its training."""
    folder = tmp_path_factory.mktemp("model")
    path, report = folder / "digits.npz", folder / "train.html"
    assert (
        main(
            [
                "train",
                "--epochs",
                "3",
                "--hidden",
                "12",
                "--quiet",
                "--save",
                str(path),
                "--report",
                str(report),
            ]
        )
        == 0
    )
    return path, report


def _cards(html: str) -> dict[str, str]:
    return {
        k: v for v, k in re.findall(r"<div class='v'>([^<]*)</div><div class='k'>([^<]*)", html)
    }


@pytest.mark.slow
def test_train_writes_the_report(model_file):
    html = model_file[1].read_text(encoding="utf-8")
    assert "chainrule training report: digits" in html
    assert len(re.findall(r"<img ", html)) == 6
    # The run's settings are in the table.
    for row in (
        "<th>epochs</th><td class='num'>3</td>",
        "<th>batch size</th>",
        "<th>learning rate</th>",
        "<th>optimizer</th><td class='num'>sgd</td>",
        "<th>seed</th>",
        "64 → 12 → 10",
        "<th>data</th><td class='num'>digits</td>",
    ):
        assert row in html


@pytest.mark.slow
def test_report_of_a_saved_model_matches_the_training_report(model_file, tmp_path, capsys):
    path, train_report = model_file
    out = tmp_path / "model.html"
    assert main(["report", str(path), "-o", str(out)]) == 0
    assert f"report: {out}" in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    # The seed and fractions saved in the model rebuild the same test split: same numbers.
    assert _cards(html) == _cards(train_report.read_text(encoding="utf-8"))
    assert len(re.findall(r"<img ", html)) == 6
    assert "<th>model file</th>" in html and "digits (test split, 359 rows)" in html


@pytest.mark.parametrize(
    "what", ["curves", "gradients", "diagram", "weights", "confusion", "misclassified"]
)
def test_plot_writes_each_figure(model_file, tmp_path, what):
    suffix = ".svg" if what in ("diagram", "curves") else ".png"
    out = tmp_path / f"{what}{suffix}"
    assert main(["plot", str(model_file[0]), "--what", what, "-o", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in data


def test_plot_on_a_data_file(model_file, tmp_path, monkeypatch):
    from sklearn.datasets import load_digits

    from chainrule.plots import select

    digits = load_digits()
    csv = tmp_path / "some.csv"
    np.savetxt(csv, np.c_[digits.data[:150], digits.target[:150]], delimiter=",", fmt="%g")
    drawn = {}
    real = select.confusion_figure

    def spy(y_true, y_pred, class_names):
        drawn["n"] = len(y_true)
        return real(y_true, y_pred, class_names)

    monkeypatch.setattr(select, "confusion_figure", spy)
    out = tmp_path / "c.png"
    assert (
        main(
            ["plot", str(model_file[0]), "--data", str(csv), "--what", "confusion", "-o", str(out)]
        )
        == 0
    )
    assert drawn["n"] == 150  # every row of the file, not the saved test split


def test_plot_and_report_errors_are_one_line(model_file, tmp_path, capsys):
    path = str(model_file[0])
    cases = [
        (
            ["plot", path, "--what", "residuals", "-o", str(tmp_path / "r.png")],
            "the residuals figure is for regressors",
        ),
        (
            ["plot", path, "--what", "curves", "-o", str(tmp_path / "c.jpg")],
            "must end in .png or .svg",
        ),
        (["report", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "r.html")], "missing.npz"),
        (["report", path, "-o", str(tmp_path / "no" / "r.html")], "does not exist"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_regressor_residuals_from_a_model_file(tmp_path):
    path = tmp_path / "diabetes.npz"
    assert (
        main(["train", "--data", "diabetes", "--epochs", "2", "--quiet", "--save", str(path)]) == 0
    )
    out = tmp_path / "r.png"
    assert main(["plot", str(path), "--what", "residuals", "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
