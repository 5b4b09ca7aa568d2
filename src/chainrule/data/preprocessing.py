"""Preprocessing fitted on the training split and applied everywhere else."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Standardizer"]


@dataclass
class Standardizer:
    """Scale each feature to zero mean and unit variance: ``(x − mean) / scale``.

    Features that are constant in the training data (scale 0) are only centred,
    so they do not turn into NaN.

    Attributes
    ----------
    mean : ndarray of shape (n_features,)
    scale : ndarray of shape (n_features,)
    """

    mean: np.ndarray | None = None
    scale: np.ndarray | None = None

    def fit(self, X: npt.ArrayLike) -> Standardizer:
        """Learn ``mean`` and ``scale`` from ``X`` of shape (n, n_features)."""
        arr = np.asarray(X, dtype=np.float64)
        self.mean = arr.mean(axis=0)
        std = arr.std(axis=0)
        self.scale = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        """Apply the fitted scaling; keeps a floating input's dtype."""
        if self.mean is None or self.scale is None:
            raise ValueError("Standardizer is not fitted: call fit first")
        arr = np.asarray(X)
        dtype = arr.dtype if arr.dtype.kind == "f" else np.float64
        return ((arr - self.mean) / self.scale).astype(dtype, copy=False)

    def fit_transform(self, X: npt.ArrayLike) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)
