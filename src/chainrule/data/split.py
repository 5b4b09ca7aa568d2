"""Seeded, optionally stratified, train/test splits."""

from __future__ import annotations

import numpy as np

__all__ = ["split_indices", "train_test_split"]


def train_test_split(
    X: np.ndarray,
    y: np.ndarray,
    *,
    test_fraction: float = 0.2,
    seed: int | None = 0,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split rows into training and test parts.

    Parameters
    ----------
    X : ndarray of shape (n, n_features)
    y : ndarray of shape (n,) or (n, k)
    test_fraction : float, default 0.2
        Fraction of rows in the test part, in (0, 1).
    seed : int, optional
    stratify : bool, default True
        For 1-D integer labels, keep each class's share equal in both parts.

    Returns
    -------
    X_train, X_test, y_train, y_test
    """
    train, _, test = split_indices(y, test_fraction=test_fraction, seed=seed, stratify=stratify)
    return X[train], X[test], y[train], y[test]


def split_indices(
    y: np.ndarray,
    *,
    val_fraction: float = 0.0,
    test_fraction: float = 0.2,
    seed: int | np.random.Generator | None = 0,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of a seeded train/validation/test split.

    Returning indices rather than arrays lets the caller take each part of ``X``
    once (one copy of the data set, not one per split step).

    Parameters
    ----------
    y : ndarray of shape (n,) or (n, k)
        Targets; 1-D integer labels are stratified (each class keeps its share
        in every part) when ``stratify`` is true.
    val_fraction, test_fraction : float
        Fractions of the rows for validation and test (each may be 0); together
        below 1.
    seed : int or numpy.random.Generator, optional
        A generator is used (and advanced) as it is.
    stratify : bool, default True

    Returns
    -------
    train, val, test : ndarray of int64
        Sorted, disjoint, covering every row.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    if not 0.0 <= val_fraction < 1.0 or val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction must be in [0, 1) with val_fraction + test_fraction "
            f"< 1, got {val_fraction} and {test_fraction}"
        )
    n = len(y)
    rng = np.random.default_rng(seed)
    if stratify and y.ndim == 1 and y.dtype.kind in "iu":
        groups = [np.flatnonzero(y == cls) for cls in _classes(y)]
    else:
        groups = [np.arange(n)]
    parts: list[list[np.ndarray]] = [[], [], []]
    for members in groups:
        members = rng.permutation(members)
        n_test = round(len(members) * test_fraction)
        n_val = round(len(members) * val_fraction)
        parts[2].append(members[:n_test])
        parts[1].append(members[n_test : n_test + n_val])
        parts[0].append(members[n_test + n_val :])
    train, val, test = (_sorted_rows(np.concatenate(p), n) for p in parts)
    if len(train) == 0 or (test_fraction > 0 and len(test) == 0):
        raise ValueError(f"{n} rows are too few to split into training and test parts")
    return train, val, test


def _classes(y: np.ndarray) -> np.ndarray:
    """``np.unique(y)`` of integer labels; by counting when they are few and
    non-negative (a million labels: one pass, no sort)."""
    if len(y) and 0 <= int(y.min()) and int(y.max()) < max(1 << 16, len(y)):
        return np.flatnonzero(np.bincount(y)).astype(y.dtype)
    return np.unique(y)


def _sorted_rows(rows: np.ndarray, n: int) -> np.ndarray:
    """``np.sort(rows)`` as int64, for distinct row indices below ``n``: marked in a mask
    and read back in order (one pass, no sort)."""
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return np.flatnonzero(mask).astype(np.int64, copy=False)
