"""Figures of a network and its training run, and the self-contained HTML report.

matplotlib is the optional extra ``chainrule[plot]``: importing this package
does not import it; each figure function does, and raises
:class:`MissingMatplotlib` (an ``ImportError`` whose message names
``pip install chainrule[plot]``) when it is missing.  The core library
(``import chainrule``) never imports this package.

Figures (each returns a ``matplotlib.figure.Figure``):

* :func:`learning_curves` — loss, accuracy and learning rate per epoch;
* :func:`gradient_figure` — per-layer gradient norms (log scale) and saturated /
  dead units (:func:`unit_stats`);
* :func:`weights_figure`, :func:`misclassified_figure` — for image inputs;
* :func:`confusion_figure`, :func:`residual_figure`;
* :func:`network_diagram` (seed Figure 1), :func:`layer_figure` (seed Figure 2),
  :func:`backprop_figure` (the forward and backward passes of one example).

:func:`build_report` puts them all into one HTML string; :func:`write_report`
writes it to a file.
"""

from __future__ import annotations

from ._mpl import MissingMatplotlib, require_matplotlib, save_figure, to_bytes
from .diagram import backprop_figure, format_value, layer_figure, network_diagram
from .figures import (
    confusion_figure,
    gradient_figure,
    learning_curves,
    misclassified_figure,
    residual_figure,
    weights_figure,
)
from .report import build_report, write_report
from .select import FIGURES, figure_for
from .stats import UnitStats, confusion_counts, image_shape_for, unit_stats

__all__ = [
    "FIGURES",
    "MissingMatplotlib",
    "UnitStats",
    "backprop_figure",
    "build_report",
    "confusion_counts",
    "confusion_figure",
    "figure_for",
    "format_value",
    "gradient_figure",
    "image_shape_for",
    "layer_figure",
    "learning_curves",
    "misclassified_figure",
    "network_diagram",
    "require_matplotlib",
    "residual_figure",
    "save_figure",
    "to_bytes",
    "unit_stats",
    "weights_figure",
    "write_report",
]
