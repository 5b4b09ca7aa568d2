"""One figure by name, for ``chainrule plot --what NAME``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .diagram import network_diagram
from .figures import (
    confusion_figure,
    gradient_figure,
    learning_curves,
    misclassified_figure,
    residual_figure,
    weights_figure,
)
from .stats import image_shape_for, labels_of, unit_stats

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..network import Network

__all__ = ["FIGURES", "NEEDS_DATA", "figure_for"]

#: The names ``--what`` accepts, with what each shows.
FIGURES = {
    "curves": "loss, accuracy and learning rate per epoch",
    "gradients": "per-layer gradient norms (and saturated/dead units, given data)",
    "diagram": "the network in the style of the seed's Figure 1",
    "weights": "first-layer weights as images (square inputs)",
    "confusion": "confusion matrix on the data (classifiers)",
    "misclassified": "misclassified examples as images (square inputs, classifiers)",
    "residuals": "residuals against predictions on the data (regressors)",
    "boundary": "the decision boundary with the data points (classifiers with 2 features; "
    "--animate: over epochs, as a GIF)",
}
#: Figures that need data to evaluate the network on.
NEEDS_DATA = frozenset({"confusion", "misclassified", "residuals", "boundary"})


def figure_for(
    what: str,
    network: Network,
    X: npt.ArrayLike | None = None,
    y: npt.ArrayLike | None = None,
    class_names: Sequence[str] | None = None,
    image_shape: tuple[int, int] | None = None,
    images: npt.ArrayLike | None = None,
    to_units: Callable[[np.ndarray], np.ndarray] | None = None,
    units: str = "",
) -> Figure:
    """Build the figure ``what`` (one of :data:`FIGURES`) for a trained network.

    Parameters
    ----------
    what : str
    network : chainrule.Network
        Its ``history`` supplies the curves and gradient norms.
    X, y : array-like, optional
        Preprocessed inputs ``(n, N_1)`` and labels/targets, for the figures in
        :data:`NEEDS_DATA` (and the units panel of "gradients").
    class_names : sequence of str, optional
    image_shape : (height, width), optional
        Defaults to ``s × s`` when ``N_1 = s²``.
    images : array-like of shape (n, N_1), optional
        What to draw for misclassified rows (e.g. raw pixels).
    to_units : callable, optional
        Maps outputs and targets back to the target's units (a standardised
        regression target), for the residuals; ``units`` names those units.

    Raises
    ------
    ValueError
        A one-line reason when the figure does not apply (unknown name, no
        history, no data, not a classifier, inputs that are not images).
    """
    if what not in FIGURES:
        raise ValueError(f"unknown figure {what!r}: expected one of {', '.join(FIGURES)}")
    if what in NEEDS_DATA and (X is None or y is None):
        raise ValueError(f"the {what} figure needs data to evaluate the network on")
    shape = image_shape or image_shape_for(network.sizes[0])
    if what in ("weights", "misclassified") and shape is None:
        raise ValueError(
            f"the {what} figure needs square image inputs; this network has "
            f"{network.sizes[0]} inputs, not a perfect square"
        )
    if what in ("confusion", "misclassified") and not network.is_classifier:
        raise ValueError(
            f"the {what} figure is for classifiers; this network's output is "
            f"{network.output_activation.name} (try residuals)"
        )
    if what == "residuals" and network.is_classifier:
        raise ValueError("the residuals figure is for regressors; for a classifier try confusion")
    if what in ("curves", "gradients") and len(network.history) == 0:
        raise ValueError(f"the {what} figure needs a training history, and this network has none")
    if what == "curves":
        return learning_curves(network.history, standardised=to_units is not None)
    if what == "gradients":
        stats = unit_stats(network, X) if X is not None else None
        return gradient_figure(network.history, network.sizes, stats)
    if what == "diagram":
        return network_diagram(network)
    if what == "boundary":  # in the network's input units (chainrule plot: the data's own)
        from .boundary import boundary_figure

        return boundary_figure(network, np.asarray(X), np.asarray(y), class_names=class_names)
    if what == "weights":
        return weights_figure(network, shape)  # type: ignore[arg-type]
    X_arr = np.asarray(X)
    if what == "confusion":
        names = (
            list(class_names) if class_names else [str(k) for k in range(max(2, network.sizes[-1]))]
        )
        return confusion_figure(labels_of(y), network.predict(X_arr), names)  # type: ignore[arg-type]
    if what == "misclassified":
        return misclassified_figure(
            network,
            X_arr,
            y,  # type: ignore[arg-type]
            shape,  # type: ignore[arg-type]
            class_names,
            images=images,
        )
    y_arr = np.asarray(y, dtype=float).reshape(len(X_arr), -1)
    pred = np.asarray(network.predict(X_arr), dtype=float).reshape(len(X_arr), -1)
    if to_units is not None:  # residuals in the target's units, not standardised ones
        y_arr, pred = to_units(y_arr), to_units(pred)
    return residual_figure(y_arr, pred, units=units)
