"""Evaluation metrics for ``chainrule evaluate``: classification and regression.

Plain NumPy, no scikit-learn, so the definitions are visible: for class ``k``,
precision = TP / (TP + FP), recall = TP / (TP + FN), F1 their harmonic mean.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "DENSE_CONFUSION_CLASSES",
    "classification_metrics",
    "confusion_matrix",
    "regression_metrics",
    "top_confusions",
]

#: Up to this many classes the full confusion matrix is computed (k² counts);
#: beyond, only its diagonal, margins and most frequent confusions (O(n + k)).
DENSE_CONFUSION_CLASSES = 1000


def confusion_matrix(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, n_classes: int) -> np.ndarray:
    """Counts ``M[i, j]`` of rows of true class ``i`` predicted as ``j``, shape (k, k)."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def top_confusions(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, n_classes: int, count: int = 20
) -> list[tuple[int, int, int]]:
    """The ``count`` most frequent mistakes as ``(true, predicted, rows)``, most first
    (ties by true then predicted class), without forming the confusion matrix."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    wrong = t != p
    pairs, rows = np.unique(t[wrong] * n_classes + p[wrong], return_counts=True)
    order = np.lexsort((pairs, -rows))[:count]
    return [(int(pairs[i] // n_classes), int(pairs[i] % n_classes), int(rows[i])) for i in order]


def classification_metrics(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, n_classes: int
) -> dict[str, np.ndarray | float | None]:
    """Accuracy, per-class precision, recall, F1 and support, and the confusion matrix.

    A ratio whose denominator is zero (a class never predicted, or absent) is 0,
    as in scikit-learn's ``zero_division=0``.

    Returns
    -------
    dict
        ``accuracy`` (float), ``precision``, ``recall``, ``f1`` (float arrays of
        shape (k,)), ``support`` (int array (k,)), ``correct`` (int), ``confusion``
        ((k, k), or None past :data:`DENSE_CONFUSION_CLASSES` classes: 10,000
        classes would be 800 MB of counts; see :func:`top_confusions`).
    """
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    k = n_classes
    m = confusion_matrix(t, p, k) if k <= DENSE_CONFUSION_CLASSES else None
    tp = np.bincount(t[t == p], minlength=k).astype(np.float64)
    predicted, support = np.bincount(p, minlength=k), np.bincount(t, minlength=k)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(tp), where=both > 0)
    total = len(t)
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support,
        "correct": int(tp.sum()),
        "confusion": m,
    }


def regression_metrics(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> dict[str, float]:
    """Mean squared error, mean absolute error and R² = 1 − SS_res / SS_tot.

    Multi-output targets are averaged over outputs.  Constant targets (SS_tot = 0)
    give R² = 1 when predicted exactly and 0 otherwise, instead of dividing by zero.
    """
    t = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)  # type: ignore[arg-type]
    p = np.asarray(y_pred, dtype=np.float64).reshape(t.shape)
    err = p - t
    ss_res = (err**2).sum(axis=0)
    ss_tot = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    r2 = np.where(
        ss_tot > 0,
        1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0),
        np.where(ss_res == 0, 1.0, 0.0),
    )
    return {"mse": float((err**2).mean()), "mae": float(np.abs(err).mean()), "r2": float(r2.mean())}
