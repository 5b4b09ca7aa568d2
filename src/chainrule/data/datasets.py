"""Bundled data sets, loaded offline."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Dataset", "load_dataset"]


@dataclass
class Dataset:
    """A data set in memory.

    Attributes
    ----------
    X : ndarray of shape (n, n_features)
    y : ndarray of shape (n,) (class indices or values) or (n, n_targets)
    task : {"classification", "regression"}
    name : str
    class_names : list of str
        Names of the classes, index-aligned with the labels in ``y``.
    image_shape : tuple of int, optional
        ``(height, width)`` when each row is a flattened image.
    """

    X: np.ndarray
    y: np.ndarray
    task: str
    name: str
    class_names: list[str] = field(default_factory=list)
    image_shape: tuple[int, int] | None = None

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.class_names)


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return Dataset(
        X=bunch.data.astype(np.float64),
        y=bunch.target.astype(np.int64),
        task="classification",
        name="digits",
        class_names=[str(c) for c in bunch.target_names],
        image_shape=(8, 8),
    )


_LOADERS = {"digits": _digits}


def load_dataset(name: str) -> Dataset:
    """Load a bundled data set by name (offline).

    Parameters
    ----------
    name : str
        ``"digits"``: scikit-learn's 1,797 handwritten digits, 8×8 pixels with
        values 0–16, ten classes.
    """
    try:
        loader = _LOADERS[name]
    except KeyError:
        raise ValueError(
            f"unknown data set {name!r}: expected one of {', '.join(sorted(_LOADERS))}"
        ) from None
    return loader()
