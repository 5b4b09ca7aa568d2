"""Seeded, optionally stratified, train/test splits."""

from __future__ import annotations

import numpy as np

__all__ = ["split_indices", "split_parts", "train_test_split"]


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
    # One draw, in one place: split_parts holds it as a byte per row.
    part = split_parts(
        y, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, stratify=stratify
    )
    train, val, test = (np.flatnonzero(part == k).astype(np.int64) for k in range(3))
    return train, val, test


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    if not 0.0 <= val_fraction < 1.0 or val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction must be in [0, 1) with val_fraction + test_fraction "
            f"< 1, got {val_fraction} and {test_fraction}"
        )


def split_parts(
    y: np.ndarray,
    *,
    val_fraction: float = 0.0,
    test_fraction: float = 0.2,
    seed: int | np.random.Generator | None = 0,
    stratify: bool = True,
) -> np.ndarray:
    """:func:`split_indices` as one byte per row: which part each row is in.

    The same split, drawn from the same generator in the same order, held in ``n``
    bytes instead of ``n`` int64 indices and their sorted copies: one class's indices
    at a time are permuted (an MPI rank that knows every row's target draws the whole
    file's split this way and keeps only its rows' parts, docs/distributed.md).

    Parameters
    ----------
    y : ndarray of shape (n,) or (n, k)
        Targets, as for :func:`split_indices`.
    val_fraction, test_fraction, seed, stratify
        As for :func:`split_indices`.

    Returns
    -------
    part : ndarray of uint8, shape (n,)
        0 for a training row, 1 for a validation row, 2 for a test row;
        ``np.flatnonzero(part == k)`` is :func:`split_indices`' ``k``-th array.
    """
    _check_fractions(val_fraction, test_fraction)
    n = len(y)
    rng = np.random.default_rng(seed)
    part = np.zeros(n, dtype=np.uint8)
    stratified = stratify and y.ndim == 1 and y.dtype.kind in "iu"
    n_train = n_test = 0
    for cls in _classes(y) if stratified else [None]:
        members = rng.permutation(np.flatnonzero(y == cls) if cls is not None else n)
        k_test = round(len(members) * test_fraction)
        k_val = round(len(members) * val_fraction)
        part[members[:k_test]] = 2
        part[members[k_test : k_test + k_val]] = 1
        n_test += k_test
        n_train += len(members) - k_test - k_val
        del members
    if n_train == 0 or (test_fraction > 0 and n_test == 0):
        raise ValueError(f"{n} rows are too few to split into training and test parts")
    return part


def _classes(y: np.ndarray) -> np.ndarray:
    """``np.unique(y)`` of integer labels; by counting when they are few and
    non-negative (a million labels: one pass, no sort)."""
    if len(y) and 0 <= int(y.min()) and int(y.max()) < max(1 << 16, len(y)):
        if y.dtype.itemsize < np.dtype(np.intp).itemsize:  # (an MPI rank's one-byte classes)
            # In blocks: ``bincount`` casts its input to intp, 8 bytes a label.
            step, top = 1 << 16, int(y.max()) + 1
            blocks = (y[i : i + step] for i in range(0, len(y), step))
            counts = sum(np.bincount(part, minlength=top) for part in blocks)
            return np.flatnonzero(counts).astype(y.dtype)
        return np.flatnonzero(np.bincount(y)).astype(y.dtype)
    return np.unique(y)
