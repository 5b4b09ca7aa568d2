"""Figures of a training run and a trained network (matplotlib, optional).

Every function returns a detached ``matplotlib.figure.Figure`` (no pyplot);
save it with :func:`chainrule.plots.save_figure` or embed it in the report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ._mpl import new_figure
from .stats import UnitStats, confusion_counts, labels_of

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..network import Network
    from ..training import History

__all__ = [
    "confusion_figure",
    "gradient_figure",
    "learning_curves",
    "misclassified_figure",
    "residual_figure",
    "weights_figure",
]

TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#d62728"


def _finite(values: Sequence[float]) -> bool:
    return any(v is not None and math.isfinite(v) for v in values)


def learning_curves(history: History, standardised: bool = False) -> Figure:
    """Loss, accuracy (classifiers) and learning rate per epoch.

    Parameters
    ----------
    history : chainrule.History
        One entry per epoch; validation curves are drawn when recorded.

    Returns
    -------
    Figure
        Panels: loss, accuracy (only when recorded), learning rate η.  Each
        curve has one point per epoch.
    """
    if len(history) == 0:
        raise ValueError("the history is empty: train for at least one epoch first")
    has_acc = _finite(history.train_accuracy) or _finite(history.val_accuracy)
    n_panels = 3 if has_acc else 2
    fig = new_figure(4.0 * n_panels, 3.2)
    axes = fig.subplots(1, n_panels)
    epochs = np.asarray(history.epoch)
    style = _line_style(len(history))

    ax = axes[0]
    ax.plot(epochs, history.train_loss, style, ms=3, color=TRAIN_COLOR, label="training")
    if _finite(history.val_loss):
        ax.plot(epochs, history.val_loss, style, ms=3, color=VAL_COLOR, label="validation")
    # A regressor trained on a standardised target: its loss is in standardised units.
    std = " (standardised target)" if standardised else ""
    ax.set(title=f"Loss (mean cost E){std}", xlabel="epoch", ylabel=f"loss{std}")
    ax.legend(frameon=False)

    if has_acc:
        ax = axes[1]
        ax.plot(
            epochs,
            100 * np.asarray(history.train_accuracy),
            style,
            ms=3,
            color=TRAIN_COLOR,
            label="training",
        )
        if _finite(history.val_accuracy):
            ax.plot(
                epochs,
                100 * np.asarray(history.val_accuracy),
                style,
                ms=3,
                color=VAL_COLOR,
                label="validation",
            )
        ax.set(title="Accuracy", xlabel="epoch", ylabel="accuracy (%)")
        ax.legend(frameon=False, loc="lower right")

    ax = axes[-1]
    ax.plot(epochs, history.learning_rate, style, ms=3, color="#2ca02c")
    ax.set(title="Learning rate η", xlabel="epoch", ylabel="η")
    lr = np.asarray(history.learning_rate, dtype=float)
    if lr.size and np.all(lr > 0) and lr.max() / lr.min() > 20:
        ax.set_yscale("log")
    elif lr.size and np.all(np.isfinite(lr)):
        # From zero, so a constant η reads as a flat line, not a zoomed-in wobble.
        ax.set_ylim(0, 1.15 * float(lr.max()) or 1.0)
    for a in axes:
        a.grid(alpha=0.3)
        _integer_epochs(a)
    return fig


def gradient_figure(
    history: History,
    sizes: Sequence[int] | None = None,
    unit_stats: Sequence[UnitStats] | None = None,
) -> Figure:
    """Per-layer gradient norms over the epochs, and saturated or dead units.

    The left panel is the picture of Nielsen's chapter 5: on a log scale, the
    earlier layers' ``‖∂E/∂W^l‖`` sit orders of magnitude below the later
    layers' when gradients vanish.

    Parameters
    ----------
    history : chainrule.History
        ``history.grad_norms[e][l-2]`` is layer ``l``'s norm in epoch ``e``.
    sizes : sequence of int, optional
        The network's layer sizes, for the legend (``W^2 (64→30)``).
    unit_stats : sequence of UnitStats, optional
        From :func:`chainrule.plots.unit_stats`; adds a second panel.

    Returns
    -------
    Figure
        One panel (norms), or two with ``unit_stats``.
    """
    if len(history) == 0:
        raise ValueError("the history is empty: train for at least one epoch first")
    norms = np.asarray(history.grad_norms, dtype=float)
    if norms.ndim != 2 or norms.shape[0] != len(history):
        raise ValueError(
            f"history.grad_norms must have one row per epoch ({len(history)}), "
            f"got shape {norms.shape}"
        )
    n_panels = 2 if unit_stats else 1
    fig = new_figure(5.2 * n_panels, 3.4)
    axes = np.atleast_1d(fig.subplots(1, n_panels))
    ax = axes[0]
    epochs = np.asarray(history.epoch)
    style = _line_style(len(history))
    colors = _layer_colors(norms.shape[1])
    for k in range(norms.shape[1]):
        l = k + 2
        label = f"$W^{{{l}}}$"
        if sizes is not None:
            label += f" ({sizes[l - 2]}→{sizes[l - 1]})"
        # Non-positive norms cannot be drawn on a log axis; they are left as gaps.
        y = np.where(np.isfinite(norms[:, k]) & (norms[:, k] > 0), norms[:, k], np.nan)
        ax.plot(epochs, y, style, ms=3, color=colors[k], label=label)
    if np.any(np.isfinite(norms) & (norms > 0)):
        ax.set_yscale("log")
    ax.set(title="Gradient norm per layer ‖∂E/∂W‖", xlabel="epoch", ylabel="norm (log scale)")
    ax.legend(frameon=False, fontsize="small")
    ax.grid(alpha=0.3, which="both")
    _integer_epochs(ax)

    if unit_stats:
        ax = axes[1]
        layers = [s.layer for s in unit_stats]
        values = [0.0 if math.isnan(s.fraction) else 100 * s.fraction for s in unit_stats]
        bar_colors = [
            "#ff7f0e" if s.kind == "saturated" else "#7f7f7f" if s.kind == "dead" else "#dddddd"
            for s in unit_stats
        ]
        x = np.arange(len(layers))
        ax.bar(x, values, color=bar_colors, width=0.6)
        # Room for at least three bars, centred, so one hidden layer is not a wall of orange.
        pad = max(0.0, (3 - len(x)) / 2)
        ax.set_xlim(-0.6 - pad, len(x) - 0.4 + pad)
        names = {"saturated": "saturated", "dead": "dead", "none": "n/a"}
        ax.set_xticks(
            x,
            [f"layer {s.layer}\n{s.activation}\n{names[s.kind]}" for s in unit_stats],
            fontsize="small",
        )
        for xi, v, s in zip(x, values, unit_stats, strict=True):
            text = "n/a" if s.kind == "none" else f"{v:.1f}%"
            ax.annotate(
                text,
                (xi, v),
                ha="center",
                va="bottom",
                fontsize="small",
                xytext=(0, 2),
                textcoords="offset points",
            )
        ax.set_ylim(0, max(10.0, max(values) * 1.2))
        ax.set(title="Saturated activations / dead units", ylabel="%")
        ax.grid(alpha=0.3, axis="y")
    return fig


def weights_figure(net: Network, image_shape: tuple[int, int], max_units: int = 64) -> Figure:
    """The first layer's weights ``W^2``, one image per hidden unit.

    Row ``i`` of ``W^2`` (shape ``(N_2, N_1)``) is what unit ``i`` looks for in
    the input; reshaped to the image shape it shows the strokes it responds to.
    Red is positive, blue negative, on a scale symmetric about zero.

    Parameters
    ----------
    net : chainrule.Network
    image_shape : (height, width)
        ``height * width`` must equal ``N_1``.
    max_units : int, default 64
        Draw at most this many units (the first ones).

    Returns
    -------
    Figure
        One axes with an ``AxesImage`` of shape ``image_shape`` per unit drawn.
    """
    W = np.asarray(net.weights[0], dtype=float)
    h, w = image_shape
    if h * w != W.shape[1]:
        raise ValueError(f"image shape {h}×{w} does not match the {W.shape[1]} inputs of W^2")
    n = min(W.shape[0], max_units)
    cols = min(n, 10)
    rows = math.ceil(n / cols)
    fig = new_figure(1.0 * cols + 0.6, 1.05 * rows + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i >= n:
            continue
        row = W[i]
        lim = float(np.max(np.abs(row))) or 1.0
        ax.imshow(row.reshape(h, w), cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(f"unit {i + 1}", fontsize=7, pad=2)
    shown = f"first {n} of {W.shape[0]}" if n < W.shape[0] else f"all {n}"
    fig.suptitle(f"First-layer weights $W^2$ as {h}×{w} images ({shown} units)")
    return fig


def misclassified_figure(
    net: Network,
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    image_shape: tuple[int, int],
    class_names: Sequence[str] | None = None,
    images: npt.ArrayLike | None = None,
    max_examples: int = 24,
) -> Figure:
    """A grid of misclassified test examples with their true and predicted labels.

    Parameters
    ----------
    net : chainrule.Network
        A classifier.
    X : array-like of shape (n, N_1)
        The inputs the network sees (preprocessed).
    y : array-like of shape (n,) or (n, N_L)
        True labels or one-hot targets.
    image_shape : (height, width)
    class_names : sequence of str, optional
    images : array-like of shape (n, N_1), optional
        What to draw for each row (e.g. the raw pixels before scaling);
        defaults to ``X``.
    max_examples : int, default 24

    Returns
    -------
    Figure
        One axes per misclassified example drawn (up to ``max_examples``),
        titled ``true → predicted``; a single axes with a note when none is wrong.
    """
    X_arr = np.asarray(X)
    truth = labels_of(y)
    pred = np.asarray(net.predict(X_arr)).reshape(-1)
    wrong = np.flatnonzero(pred != truth)
    pictures = X_arr if images is None else np.asarray(images)
    names = list(class_names) if class_names else None

    def name(k: int) -> str:
        return names[k] if names and 0 <= k < len(names) else str(k)

    n = min(len(wrong), max_examples)
    if n == 0:
        fig = new_figure(4.0, 1.2)
        ax = fig.subplots()
        ax.set_axis_off()
        ax.text(
            0.5, 0.5, f"No misclassified examples among {len(truth)}.", ha="center", va="center"
        )
        return fig
    cols = min(n, 8)
    rows = math.ceil(n / cols)
    fig = new_figure(1.25 * cols + 0.4, 1.45 * rows + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k >= n:
            continue
        i = wrong[k]
        # A thin frame instead of no axes: white pixels at the edge stay visibly inside.
        ax.set_axis_on()
        ax.set_xticks([])
        ax.set_yticks([])
        ax.imshow(
            np.asarray(pictures[i], dtype=float).reshape(image_shape),
            cmap="gray_r",
            interpolation="nearest",
        )
        ax.set_title(
            f"true {name(truth[i])}\npred {name(pred[i])}", fontsize=8, pad=2, color="#b00000"
        )
    fig.suptitle(
        f"Misclassified: {len(wrong)} of {len(truth)} test examples"
        + (f" (first {n} shown)" if n < len(wrong) else "")
    )
    return fig


#: The confusion figure shows at most this many classes (and "other").
FIGURE_CLASSES = 30


def confusion_figure(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, class_names: Sequence[str]
) -> Figure:
    """The confusion matrix: rows are true classes, columns predicted, cells counts.

    Past :data:`FIGURE_CLASSES` classes it shows the most frequent true classes
    (by rows) and one "other" row and column for every other class, and says so in
    the title; the accuracy in the title is over all rows.

    Returns
    -------
    Figure
        One axes whose image is the ``(k, k)`` count matrix (at most 31 × 31).
    """
    t, p = np.asarray(labels_of(y_true)), np.asarray(labels_of(y_pred))
    accuracy = float(np.mean(t == p)) if len(t) else float("nan")
    shown = ""
    if len(class_names) > FIGURE_CLASSES:
        support = np.bincount(t, minlength=len(class_names))
        keep = np.sort(np.argsort(-support, kind="stable")[:FIGURE_CLASSES])
        index = np.full(len(class_names), FIGURE_CLASSES)  # every other class: "other"
        index[keep] = np.arange(FIGURE_CLASSES)
        t, p = index[t], index[p]
        shown = f", the {FIGURE_CLASSES} most frequent of {len(class_names)} classes"
        class_names = [*(class_names[i] for i in keep), "other"]
    k = len(class_names)
    counts = confusion_counts(t, p, k)
    size = min(9.0, 1.6 + 0.45 * k)
    fig = new_figure(size + 0.8, size)
    ax = fig.subplots()
    ax.imshow(counts, cmap="Blues", interpolation="nearest")
    threshold = counts.max() / 2 if counts.size else 0
    if k <= 30:
        for i in range(k):
            for j in range(k):
                if counts[i, j]:
                    ax.text(
                        j,
                        i,
                        str(counts[i, j]),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if counts[i, j] > threshold else "black",
                    )
    ticks = np.arange(k)
    labels = [str(c) for c in class_names]
    ax.set_xticks(ticks, labels, rotation=90 if max(map(len, labels)) > 3 else 0)
    ax.set_yticks(ticks, labels)
    ax.set(
        xlabel="predicted class",
        ylabel="true class",
        title=f"Confusion matrix (accuracy {100 * accuracy:.1f}%{shown})",
    )
    return fig


def residual_figure(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, units: str = "") -> Figure:
    """Residuals ``y − ŷ`` against the prediction ``ŷ``, one panel per output.

    ``units`` (e.g. ``"the units of 'price'"``) is shown on the axes.

    Returns
    -------
    Figure
        One axes per output column (at most 4).
    """
    t = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    t = t.reshape(len(t), -1)
    p = p.reshape(len(p), -1)
    if t.shape != p.shape:
        raise ValueError(f"targets {t.shape} and predictions {p.shape} differ in shape")
    k = min(t.shape[1], 4)
    fig = new_figure(4.2 * k, 3.4)
    axes = np.atleast_1d(fig.subplots(1, k))
    for j, ax in enumerate(axes):
        r = t[:, j] - p[:, j]
        ax.scatter(p[:, j], r, s=10, alpha=0.6, color=TRAIN_COLOR)
        ax.axhline(0.0, color="black", lw=0.8)
        rmse = float(np.sqrt(np.mean(r**2)))
        title = f"Residuals (RMSE {rmse:.3g})" if k == 1 else f"Output {j + 1} (RMSE {rmse:.3g})"
        where = f"\n(in {units})" if units else ""
        ax.set(title=title, xlabel=f"predicted ŷ{where}", ylabel=f"residual y − ŷ{where}")
        ax.grid(alpha=0.3)
    return fig


def _line_style(n_epochs: int) -> str:
    # A marker per epoch helps read a short run and clutters a long one.
    return "o-" if n_epochs <= 30 else "-"


def _integer_epochs(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _layer_colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.85 * k / max(1, n - 1)) for k in range(n)]
