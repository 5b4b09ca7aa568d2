"""Many classes in the metrics, ``chainrule evaluate`` and the confusion figure.

A 10,000-class model used to print a 10,000 × 10,000 confusion matrix (700 MB of
text) and build its 800 MB count matrix; past a few dozen classes the matrix is
summarised by its largest mistakes instead, and the metrics are computed from
bincounts.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule.metrics as metrics
from chainrule.cli import main


def _labels(k=40, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.7, t, rng.integers(0, k, n))
    return t, p


def test_metrics_without_the_dense_matrix_are_the_same(monkeypatch):
    t, p = _labels()
    dense = metrics.classification_metrics(t, p, 40)
    monkeypatch.setattr(metrics, "DENSE_CONFUSION_CLASSES", 10)
    sparse = metrics.classification_metrics(t, p, 40)
    assert sparse["confusion"] is None and dense["confusion"].shape == (40, 40)
    for key in ("precision", "recall", "f1", "support"):
        np.testing.assert_array_equal(sparse[key], dense[key])
    assert sparse["accuracy"] == dense["accuracy"]
    assert sparse["correct"] == int(np.trace(dense["confusion"]))


def test_top_confusions_are_the_largest_off_diagonal_cells():
    t, p = _labels()
    m = metrics.confusion_matrix(t, p, 40)
    off = m.copy()
    np.fill_diagonal(off, 0)
    top = metrics.top_confusions(t, p, 40, count=15)
    assert [rows for _, _, rows in top] == sorted(off.ravel(), reverse=True)[:15]
    assert all(off[i, j] == rows and i != j for i, j, rows in top)


def test_evaluate_summarises_the_confusions_of_many_classes(tmp_path, capsys):
    rng = np.random.default_rng(0)
    k = 40
    centres = rng.normal(scale=4.0, size=(k, 3))
    y = np.repeat(np.arange(k), 15)
    X = centres[y] + rng.normal(size=(len(y), 3))
    np.savez(tmp_path / "many.npz", X=X, y=y)
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "many.npz"),
                "--task",
                "classification",
                "--epochs",
                "5",
                "--quiet",
                "--save",
                str(tmp_path / "m.npz"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "m.npz"), "--data", str(tmp_path / "many.npz")]) == 0
    out = capsys.readouterr().out
    assert "confusion matrix: 40 classes, too many to print; the 20 most frequent" in out
    assert max(len(line) for line in out.splitlines()) < 150  # no 40-column matrix (280+)
    assert sum(line.startswith("  ") and " → " in line for line in out.splitlines()) == 20


def test_the_confusion_figure_shows_the_most_frequent_classes_and_other():
    pytest.importorskip("matplotlib")
    from chainrule.plots import confusion_figure

    t, p = _labels(k=40)
    t[:300] = 7  # class 7 is the most frequent
    fig = confusion_figure(t, p, [f"c{i}" for i in range(40)])
    ax = fig.axes[0]
    labels = [tick.get_text() for tick in ax.get_xticklabels()]
    assert len(labels) == 31 and labels[-1] == "other" and "c7" in labels
    assert "the 30 most frequent of 40 classes" in ax.get_title()
    assert f"accuracy {100 * np.mean(t == p):.1f}%" in ax.get_title()


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_unit_stats_in_blocks_of_rows_are_the_whole_pass_stats(activation, monkeypatch):
    import chainrule
    from chainrule import blocks
    from chainrule.plots.stats import unit_stats

    rng = np.random.default_rng(0)
    X = rng.normal(scale=3.0, size=(700, 4))
    net = chainrule.Network(
        [4, 9, 6, 3],
        activation=activation,
        output_activation="sigmoid",
        cost="quadratic",
        seed=0,
        init="normal",
    )
    whole = unit_stats(net, X)
    monkeypatch.setattr(blocks, "FORWARD_BLOCK_VALUES", 10)  # 256-row blocks
    assert unit_stats(net, X) == whole
    assert any(s.fraction > 0 for s in whole)  # the check compares something
