"""Numbers behind the figures, computed with NumPy only (no matplotlib).

These are kept apart from the drawing so the report's tables and the tests can
use them without the optional plotting extra.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..blocks import forward_block_rows

__all__ = [
    "SATURATION_HIGH",
    "SATURATION_LOW",
    "UnitStats",
    "confusion_counts",
    "image_shape_for",
    "labels_of",
    "unit_stats",
]

#: A sigmoid unit whose output is below SATURATION_LOW or above SATURATION_HIGH
#: has σ'(z) = a(1 − a) < 0.0475: it passes back less than a fifth of the
#: gradient it would at z = 0, which is how learning slows down (Nielsen ch. 3, 5).
SATURATION_LOW = 0.05
SATURATION_HIGH = 0.95


@dataclass
class UnitStats:
    """How the units of one layer behave on a batch of inputs.

    Attributes
    ----------
    layer : int
        The seed's layer index ``l`` (2..L).
    activation : str
        Name of σ for the layer.
    kind : {"saturated", "dead", "none"}
        What ``fraction`` measures: saturated activations (sigmoid, tanh, softmax),
        dead units (ReLU, leaky ReLU: ``z ≤ 0`` for every input) or nothing
        (identity).
    fraction : float
        For "saturated": the fraction of (example, unit) activations in the flat
        tails of σ.  For "dead": the fraction of units never active on the batch.
        ``nan`` for "none".
    """

    layer: int
    activation: str
    kind: str
    fraction: float


def unit_stats(net, X: npt.ArrayLike, include_output: bool | None = None) -> list[UnitStats]:
    """Saturated sigmoid/tanh and dead ReLU units, per layer.

    Parameters
    ----------
    net : chainrule.Network
    X : array-like of shape (n, N_1)
        Inputs to feed forward (e.g. the test split).
    include_output : bool, optional
        Also report the output layer ``L``.  By default only with the quadratic
        cost: with cross-entropy on sigmoid or log-likelihood on softmax,
        ``δ^L = a − λ`` has no σ′ factor, so a saturated (confident) output does
        not slow learning, and it is what a well-trained classifier looks like.

    Returns
    -------
    list of UnitStats, one per hidden layer ``l = 2..L-1`` (and ``L``).
    """
    if include_output is None:
        include_output = net.cost.name == "quadratic"
    X = np.asarray(X)
    n = X.shape[0] if X.ndim == 2 else 1
    last = len(net.sizes) if include_output else len(net.sizes) - 1
    layers = range(2, last + 1)
    # Counted block by block of rows (a 10,000-class output layer on 10,000 rows would
    # otherwise hold 1.6 GB of z and a): tail counts, and which units stayed at z ≤ 0.
    tails = dict.fromkeys(layers, 0)
    silent = {l: np.ones(net.sizes[l - 1], dtype=bool) for l in layers}
    rows = forward_block_rows(net.sizes)
    for lo in range(0, n, rows):
        fwd = net.forward(X[lo : lo + rows] if X.ndim == 2 else X)
        for l in layers:
            a, z = fwd.a[l], fwd.z[l]
            act = net.activations[l - 2]  # what counts is the activation's own (functions)
            if act.saturated_outside is not None:
                low, high = act.saturated_outside
                tails[l] += int(np.count_nonzero((a < low) | (a > high)))
            elif act.dies:
                silent[l] &= np.all(z <= 0, axis=0)
    out = []
    for l in layers:
        act = net.activations[l - 2]
        name = act.name
        if act.saturated_outside is not None:
            kind, fraction = "saturated", tails[l] / (n * net.sizes[l - 1])
        elif act.dies:
            kind, fraction = "dead", float(np.mean(silent[l]))
        else:
            kind, fraction = "none", math.nan
        out.append(UnitStats(layer=l, activation=name, kind=kind, fraction=fraction))
    return out


def confusion_counts(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, n_classes: int) -> np.ndarray:
    """Counts ``C[i, j]`` of examples of true class ``i`` predicted as ``j``.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
    n_classes : int

    Returns
    -------
    ndarray of int64, shape (n_classes, n_classes)
    """
    t = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(y_pred, dtype=np.int64).ravel()
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (t, p), 1)
    return counts


def image_shape_for(n_features: int) -> tuple[int, int] | None:
    """``(s, s)`` when ``n_features = s²`` with ``s ≥ 4`` (8×8 digits, 28×28 MNIST), else None."""
    s = math.isqrt(n_features)
    return (s, s) if s >= 4 and s * s == n_features else None


def labels_of(y: npt.ArrayLike) -> np.ndarray:
    """Integer class labels from labels ``(n,)`` or one-hot targets ``(n, k)``."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] > 1:
        return np.argmax(arr, axis=1).astype(np.int64)
    return arr.reshape(-1).astype(np.int64)
