"""Figures from a short real training run, checked for what they show."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.image import AxesImage
from matplotlib.patches import Circle
from sklearn.metrics import confusion_matrix

import chainrule
from chainrule import plots
from chainrule.training import History
from plot_fixtures import EPOCHS, HIDDEN, digits_run, regression_run


def _images(fig) -> list[AxesImage]:
    return [im for ax in fig.axes for im in ax.get_images()]


def _circles(fig, prefix: str) -> list[Circle]:
    return [
        p
        for ax in fig.axes
        for p in ax.patches
        if isinstance(p, Circle) and (p.get_gid() or "").startswith(prefix)
    ]


def _texts(fig) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts)


# ---------------------------------------------------------------------- learning curves


def test_learning_curves_have_one_point_per_epoch():
    run = digits_run()
    h = run.net.history
    fig = plots.learning_curves(h)
    loss_ax, acc_ax, lr_ax = fig.axes
    assert len(fig.axes) == 3
    for ax, n_lines in ((loss_ax, 2), (acc_ax, 2), (lr_ax, 1)):
        lines = ax.get_lines()
        assert len(lines) == n_lines
        for line in lines:
            assert len(line.get_xdata()) == EPOCHS
            assert list(line.get_xdata()) == h.epoch
    train_loss, val_loss = loss_ax.get_lines()
    np.testing.assert_allclose(train_loss.get_ydata(), h.train_loss)
    np.testing.assert_allclose(val_loss.get_ydata(), h.val_loss)
    np.testing.assert_allclose(acc_ax.get_lines()[1].get_ydata(), 100 * np.array(h.val_accuracy))
    np.testing.assert_allclose(lr_ax.get_lines()[0].get_ydata(), h.learning_rate)


def test_learning_curves_of_a_regressor_have_no_accuracy_panel():
    fig = plots.learning_curves(regression_run().net.history)
    assert [ax.get_title() for ax in fig.axes] == ["Loss (mean cost E)", "Learning rate η"]
    assert all(len(line.get_xdata()) == 3 for ax in fig.axes for line in ax.get_lines())


def test_learning_curves_without_validation_draw_training_only():
    h = History()
    for e in range(1, 4):
        h.append(
            epoch=e,
            train_loss=1.0 / e,
            train_accuracy=0.5,
            val_loss=math.nan,
            val_accuracy=math.nan,
            learning_rate=0.1,
            grad_norms=[0.1],
            seconds=0.0,
        )
    fig = plots.learning_curves(h)
    assert [len(ax.get_lines()) for ax in fig.axes] == [1, 1, 1]


def test_empty_history_is_a_clear_error():
    with pytest.raises(ValueError, match="history is empty"):
        plots.learning_curves(History())


# ---------------------------------------------------------------------- gradients and units


def test_gradient_figure_has_one_log_curve_per_layer_and_unit_bars():
    run = digits_run()
    stats = plots.unit_stats(run.net, run.X_test)
    fig = plots.gradient_figure(run.net.history, run.net.sizes, stats)
    norms_ax, units_ax = fig.axes
    assert norms_ax.get_yscale() == "log"
    lines = norms_ax.get_lines()
    assert len(lines) == len(run.net.sizes) - 1
    for k, line in enumerate(lines):
        assert len(line.get_ydata()) == EPOCHS
        np.testing.assert_allclose(line.get_ydata(), [g[k] for g in run.net.history.grad_norms])
    assert "64→16" in lines[0].get_label()
    # Softmax + log-likelihood: only the hidden layer is reported (see unit_stats).
    assert len(stats) == 1 and stats[0].layer == 2 and stats[0].kind == "saturated"
    bars = units_ax.patches
    assert len(bars) == 1
    assert bars[0].get_height() == pytest.approx(100 * stats[0].fraction)


def test_unit_stats_sees_saturated_sigmoids_and_dead_relus():
    X = np.random.default_rng(0).normal(size=(50, 4))
    sig = chainrule.Network([4, 6, 2], activation="sigmoid", seed=0)
    sig.weights[0][:] = 0.0
    sig.biases[0][:3] = 10.0  # a = σ(10) > 0.95: saturated
    sig.biases[0][3:] = 0.0  # a = 0.5: not
    stats = plots.unit_stats(sig, X)
    assert [s.layer for s in stats] == [2, 3]  # quadratic cost: the output layer too
    assert stats[0].fraction == pytest.approx(0.5)

    relu = chainrule.Network(
        [4, 5, 5, 2], activation="relu", output_activation="softmax", cost="log_likelihood", seed=0
    )
    relu.weights[0][:2] = 0.0
    relu.biases[0][:2] = -1.0  # z = -1 always: dead
    relu.biases[0][2:] = 100.0  # always active
    stats = plots.unit_stats(relu, X)
    assert [(s.layer, s.kind) for s in stats] == [(2, "dead"), (3, "dead")]
    assert stats[0].fraction == pytest.approx(2 / 5)

    ident = chainrule.Network([4, 3, 2], activation="identity", seed=0)
    assert math.isnan(plots.unit_stats(ident, X)[0].fraction)


# ---------------------------------------------------------------------- image inputs


def test_image_shape_is_inferred_for_square_inputs():
    assert plots.image_shape_for(64) == (8, 8)
    assert plots.image_shape_for(784) == (28, 28)
    assert plots.image_shape_for(10) is None
    assert plots.image_shape_for(4) is None


def test_weights_figure_draws_each_hidden_unit_as_an_8x8_image():
    net = digits_run().net
    fig = plots.weights_figure(net, (8, 8))
    images = _images(fig)
    assert len(images) == HIDDEN
    for i, im in enumerate(images):
        assert im.get_array().shape == (8, 8)
        np.testing.assert_allclose(im.get_array(), net.weights[0][i].reshape(8, 8))
    assert len(_images(plots.weights_figure(net, (8, 8), max_units=5))) == 5
    with pytest.raises(ValueError, match="does not match the 64 inputs"):
        plots.weights_figure(net, (7, 7))


def test_misclassified_grid_shows_wrong_predictions_with_labels():
    run = digits_run()
    pred = run.net.predict(run.X_test)
    wrong = np.flatnonzero(pred != run.y_test)
    assert 0 < len(wrong)
    fig = plots.misclassified_figure(
        run.net,
        run.X_test,
        run.y_test,
        (8, 8),
        run.class_names,
        images=run.raw_test,
        max_examples=6,
    )
    images = _images(fig)
    assert len(images) == min(6, len(wrong))
    titled = [ax for ax in fig.axes if ax.get_images()]
    for k, ax in enumerate(titled):
        i = wrong[k]
        assert ax.get_title() == f"true {run.y_test[i]}\npred {pred[i]}"
        np.testing.assert_allclose(ax.get_images()[0].get_array(), run.raw_test[i].reshape(8, 8))
    assert f"{len(wrong)} of {len(run.y_test)}" in fig.get_suptitle()


def test_misclassified_grid_says_so_when_nothing_is_wrong():
    run = digits_run()
    pred = run.net.predict(run.X_test)
    right = pred == run.y_test
    fig = plots.misclassified_figure(run.net, run.X_test[right], run.y_test[right], (8, 8))
    assert not _images(fig)
    assert "No misclassified examples" in _texts(fig)


# ---------------------------------------------------------------------- outcomes


def test_confusion_matrix_counts_match_scikit_learn():
    run = digits_run()
    pred = run.net.predict(run.X_test)
    fig = plots.confusion_figure(run.y_test, pred, run.class_names)
    (im,) = _images(fig)
    np.testing.assert_array_equal(im.get_array(), confusion_matrix(run.y_test, pred))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == run.class_names


def test_residual_plot_has_one_point_per_test_row():
    run = regression_run()
    pred = run.net.predict(run.X_test)
    fig = plots.residual_figure(run.y_test, pred)
    (ax,) = fig.axes
    (points,) = ax.collections
    offsets = points.get_offsets()
    assert offsets.shape == (len(run.y_test), 2)
    np.testing.assert_allclose(offsets[:, 1], (run.y_test - pred)[:, 0])


# ---------------------------------------------------------------------- the network itself


def test_network_diagram_summarises_wide_layers():
    fig = plots.network_diagram(digits_run().net)  # [64, 16, 10], max 10 drawn per layer
    assert [len(_circles(fig, f"unit-{l}-")) for l in (1, 2, 3)] == [5, 5, 10]
    assert {c.get_gid() for c in _circles(fig, "unit-1-")} == {
        "unit-1-1",
        "unit-1-2",
        "unit-1-3",
        "unit-1-63",
        "unit-1-64",
    }
    assert len(_circles(fig, "bias-")) == 2  # a "1" node feeding layers 2 and 3
    text = _texts(fig)
    assert "64 units" in text and "16 units" in text and "10 units" not in text
    assert len(_circles(plots.network_diagram([64, 16, 10], max_units=6), "unit-3-")) == 5
    assert "⋮" in text and "σ = sigmoid" in text and "σ = softmax" in text


def test_network_diagram_of_the_seeds_figure_1_network():
    fig = plots.network_diagram([3, 4, 2])
    assert [len(_circles(fig, f"unit-{l}-")) for l in (1, 2, 3)] == [3, 4, 2]
    assert len(_circles(fig, "bias-")) == 2
    assert "⋮" not in _texts(fig)
    # Every unit of one layer joins every unit of the next, plus the bias edges.
    assert len(fig.axes[0].get_lines()) == 3 * 4 + 4 * 2 + 4 + 2


def test_layer_figure_writes_the_actual_values(tmp_path):
    net = chainrule.Network([3, 4, 2], activation="sigmoid", seed=1)
    net.biases[1][:] = [0.125, -0.5]
    x = np.array([0.5, -1.0, 2.0])
    path = tmp_path / "layer.svg"
    fig = plots.layer_figure(net, x, 3, path)
    assert path.read_text().lstrip().startswith("<?xml")
    assert len(_circles(fig, "sigma-")) == 4
    assert len(_circles(fig, "sum-")) == 2
    assert len(_circles(fig, "bias")) == 1
    text = _texts(fig)
    fwd = net.forward(x[None, :])
    fmt = plots.format_value
    for v in [
        *net.weights[1].ravel(),
        *net.biases[1],
        *fwd.z[2][0],
        *fwd.a[2][0],
        *fwd.z[3][0],
        *fwd.a[3][0],
    ]:
        assert fmt(v) in text
    assert "0.125" in text and "-0.5" in text
    # z^3 is W^3 a^2 + b^3 (eq. 1): the numbers on the figure add up.
    np.testing.assert_allclose(fwd.z[3][0], net.weights[1] @ fwd.a[2][0] + net.biases[1])


def test_layer_figure_rejects_bad_layers_and_wide_ones():
    net = chainrule.Network([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match="between 2 and 3"):
        plots.layer_figure(net, np.zeros(3), 1)
    with pytest.raises(ValueError, match="at most 8 units"):
        plots.layer_figure(chainrule.Network([3, 9, 2], seed=0), np.zeros(3), 2)
    with pytest.raises(ValueError, match="one example"):
        plots.layer_figure(net, np.zeros((2, 3)), 2)


def test_figures_save_as_png_and_svg(tmp_path):
    fig = plots.network_diagram([3, 4, 2])
    png = plots.save_figure(fig, tmp_path / "d.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    svg = plots.save_figure(fig, tmp_path / "d.svg").read_text()
    assert "<svg" in svg
    # Reproducible: the same figure gives the same bytes (no date, fixed ids).
    assert plots.to_bytes(plots.network_diagram([3, 4, 2]), "svg") == svg.encode()
    with pytest.raises(ValueError, match=r"must end in \.png or \.svg"):
        plots.save_figure(fig, tmp_path / "d.jpg")


# ---------------------------------------------------------------------- one figure by name


def test_figure_for_builds_each_named_figure():
    run = digits_run()
    expected_axes = {"curves": 3, "gradients": 2, "diagram": 1, "weights": HIDDEN, "confusion": 1}
    for what, n_axes in expected_axes.items():
        fig = plots.figure_for(what, run.net, run.X_test, run.y_test, run.class_names)
        assert len([ax for ax in fig.axes if ax.has_data() or ax.get_images()]) == n_axes, what
    fig = plots.figure_for("gradients", run.net)  # no data: the norms panel only
    assert len(fig.axes) == 1
    fig = plots.figure_for("misclassified", run.net, run.X_test, run.y_test)
    assert len(_images(fig)) > 0


def test_figure_for_says_why_a_figure_does_not_apply():
    run, reg = digits_run(), regression_run()
    cases = [
        ("loss", run.net, "unknown figure 'loss'"),
        ("confusion", run.net, "needs data"),
        ("weights", reg.net, "square image inputs"),
        ("residuals", run.net, "for regressors"),
        ("curves", chainrule.Network([3, 4, 2]), "needs a training history"),
    ]
    for what, net, message in cases:
        X = run.X_test if what != "confusion" else None
        with pytest.raises(ValueError, match=message):
            plots.figure_for(what, net, X, run.y_test if X is not None else None)
    with pytest.raises(ValueError, match="for classifiers"):
        plots.figure_for("confusion", reg.net, reg.X_test, reg.y_test)
