"""Input validation with one-line messages that say what was expected and what came."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["as_inputs", "as_targets", "first_nonfinite"]


def first_nonfinite(arr: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first NaN or inf in ``arr``, or None if all values are finite.

    The common case (all finite) allocates nothing of the array's size: a sum is
    finite whenever every term is (a NaN or inf always reaches the sum), so one
    reduction settles it.  Only when the sum is not finite (a bad value, or an
    overflow of huge finite values) are the rows scanned, in blocks of about
    64k values, for the exact index.
    """
    if arr.dtype.kind not in "fc" or arr.size == 0:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(arr, axis=None)
    if np.isfinite(total):
        return None
    flat = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(-1, 1)
    step = max(1, (1 << 16) // max(1, flat.shape[1]))
    for lo in range(0, flat.shape[0], step):
        bad = ~np.isfinite(flat[lo : lo + step])
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            index = (lo + row) * flat.shape[1] + col
            return tuple(int(i) for i in np.unravel_index(index, arr.shape))
    return None


def _where(idx: tuple[int, ...]) -> str:
    if len(idx) == 2:
        return f"row {idx[0]}, column {idx[1]}"
    return f"index {idx[0]}" if len(idx) == 1 else f"index {idx}"


def as_inputs(
    X: npt.ArrayLike, n_inputs: int, dtype: np.dtype, *, name: str = "X"
) -> tuple[np.ndarray, bool]:
    """Validate inputs and return ``(X2d, was_1d)`` with ``X2d`` of shape ``(n, n_inputs)``.

    A single example of shape ``(n_inputs,)`` is accepted and reported by
    ``was_1d`` so callers can return a 1-D result.  The array is converted to
    ``dtype`` (the network's), without a copy when it already matches.

    Raises
    ------
    ValueError
        For a wrong number of dimensions or columns, an empty array, a
        non-numeric array, or a NaN/inf (naming its row and column).
    """
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise ValueError(f"{name} could not be read as a numeric array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got an array of dtype {arr.dtype}")
    was_1d = arr.ndim == 1
    if was_1d:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must have shape (n, {n_inputs}) or ({n_inputs},), got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: expected at least one row of {n_inputs} values")
    if arr.shape[1] != n_inputs:
        raise ValueError(
            f"{name} has {arr.shape[1]} columns, expected {n_inputs} (the network's input size N_1)"
        )
    arr = np.ascontiguousarray(arr, dtype=dtype)
    bad = first_nonfinite(arr)
    if bad is not None:
        raise ValueError(f"{name} contains {arr[bad]} at {_where(bad)}: values must be finite")
    return arr, was_1d


def as_targets(
    Y: npt.ArrayLike, n: int, n_outputs: int, dtype: np.dtype, *, keep_labels: bool = False
) -> np.ndarray:
    """Validate targets for ``n`` examples and return an ``(n, n_outputs)`` matrix.

    A 1-D array of integer class indices is one-hot encoded when
    ``n_outputs > 1`` (with ``keep_labels``, returned as checked ``int64``
    labels of shape ``(n,)`` instead); with a single output a 1-D array is
    taken as that output's target values.

    Raises
    ------
    ValueError
        For a wrong shape or length, labels out of range or not integral, or a NaN/inf.
    """
    try:
        arr = np.asarray(Y)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Y could not be read as a numeric array: {exc}") from None
    if arr.dtype.kind in "USO" and any(isinstance(v, (str, bytes)) for v in arr.flat):
        example = str(next(v for v in arr.flat if isinstance(v, (str, bytes))))[:40]
        raise ValueError(
            f"Y holds text labels (e.g. {example!r}), but Network.fit takes integer class "
            f"indices 0..K-1 or target rows: encode them with "
            f"chainrule.data.encode_labels(y) (→ indices, class names), or use "
            f"chainrule.sklearn.MLPClassifier, which takes labels of any kind"
        )
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"Y must be numeric, got an array of dtype {arr.dtype}")
    if arr.ndim == 0 or arr.shape[0] != n:
        got = "a scalar" if arr.ndim == 0 else f"{arr.shape[0]} rows"
        raise ValueError(f"Y must have {n} rows (one per row of X), got {got}")
    bad = first_nonfinite(arr) if arr.dtype.kind == "f" else None
    if bad is not None:
        raise ValueError(f"Y contains {arr[bad]} at {_where(bad)}: values must be finite")
    if arr.ndim == 1 and n_outputs == 1:
        arr = arr[:, None]
    if arr.ndim == 1:
        if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
            i = int(np.argmax(arr != np.round(arr)))
            raise ValueError(
                f"Y is 1-D, so it must hold integer class labels, got {arr[i]} at index {i}"
            )
        labels = arr.astype(np.int64, copy=False)
        if labels.min() < 0 or labels.max() >= n_outputs:  # (two reductions; no mask unless bad)
            i = int(np.argmax((labels < 0) | (labels >= n_outputs)))
            raise ValueError(
                f"class label {labels[i]} at index {i} is out of range: "
                f"expected 0..{n_outputs - 1} (the network has {n_outputs} outputs)"
            )
        if keep_labels:
            return labels
        # Row i is 1 where column == labels[i]: one broadcast comparison written as 0/1
        # in the network's dtype. A scatter by (arange(n), labels) needed an int64 arange
        # of n beside the labels (with the int64 copy above, 1.7x the one-hot's size of
        # temporaries for 3 classes): they set a run's peak memory on big tables.
        onehot = np.empty((n, n_outputs), dtype=dtype)
        np.equal(labels[:, None], np.arange(n_outputs), out=onehot, casting="unsafe")
        return onehot
    if arr.ndim != 2 or arr.shape[1] != n_outputs:
        raise ValueError(
            f"Y must have shape ({n}, {n_outputs}) or be {n} integer class labels, "
            f"got shape {arr.shape}"
        )
    return np.ascontiguousarray(arr, dtype=dtype)
