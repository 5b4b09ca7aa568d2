"""Seeded, optionally stratified, train/test splits."""

from __future__ import annotations

import numpy as np

__all__ = ["train_test_split"]


def train_test_split(
    X: np.ndarray, y: np.ndarray, *, test_fraction: float = 0.2, seed: int | None = 0,
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
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n = X.shape[0]
    rng = np.random.default_rng(seed)
    if stratify and y.ndim == 1 and y.dtype.kind in "iu":
        test_idx = []
        for cls in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == cls))
            test_idx.append(members[: round(len(members) * test_fraction)])
        test = np.sort(np.concatenate(test_idx))
    else:
        test = np.sort(rng.permutation(n)[: round(n * test_fraction)])
    mask = np.zeros(n, dtype=bool)
    mask[test] = True
    return X[~mask], X[mask], y[~mask], y[mask]
