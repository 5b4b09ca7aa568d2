"""Class labels of any kind (text, numbers) as the integer indices ``Network.fit`` takes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["encode_labels"]


def encode_labels(labels: npt.ArrayLike) -> tuple[np.ndarray, list[str]]:
    """Map labels to class indices ``0..K-1`` and back.

    Parameters
    ----------
    labels : array-like of shape (n,)
        Any hashable labels: text (``"cat"``), numbers, booleans.

    Returns
    -------
    indices : ndarray of int64, shape (n,)
        ``class_names[indices[i]]`` is row ``i``'s label, as text.
    class_names : list of str
        The distinct labels, sorted (numbers by value), as text.

    Examples
    --------
    >>> encode_labels(["dog", "cat", "dog"])
    (array([1, 0, 1]), ['cat', 'dog'])
    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D (one per row), got shape {arr.shape}")
    names, indices = np.unique(arr, return_inverse=True)
    return indices.astype(np.int64).reshape(-1), [str(n) for n in names.tolist()]
