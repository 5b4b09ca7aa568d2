"""Bundled data sets (scikit-learn's, offline) and generated toy sets for teaching.

The generated sets (``xor``, ``spirals``, ``moons``, ``circles``) are drawn from a
seeded :class:`numpy.random.Generator`, so the same ``seed`` and ``n_samples``
always give the same points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .text_column import TextColumn

__all__ = ["DATASETS", "Dataset", "DatasetInfo", "load_dataset"]


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
    feature_names : list of str
        One name per column of ``X`` (``x0, x1, …`` when the source has none).
    target_name : str or None
        The name of the target column in the source, when it had one.
    lines : ndarray of int, optional
        For a text file: the line on which each row stands (for messages).
    text : dict of int to TextColumn
        Text (category) feature columns of a table by column of ``X``, as dictionary
        codes (:class:`~chainrule.data.TextColumn`: each distinct cell once, an integer
        per row; a cell reads ``""`` where missing); that column of ``X`` holds NaN.
        Arrays of ``str`` given here are turned into text columns.
        Numeric columns keep their numbers in ``X``, NaN where a cell is missing.
    ignored_columns : list of str
        Columns of the file that were not read (not among the requested features).
    dropped : ndarray of int
        Line (or row) numbers of the rows left out because their target was missing
        (``read_data_file(..., missing_target="drop")``).
    """

    X: np.ndarray
    y: np.ndarray
    task: str
    name: str
    class_names: list[str] = field(default_factory=list)
    image_shape: tuple[int, int] | None = None
    feature_names: list[str] = field(default_factory=list)
    target_name: str | None = None
    lines: np.ndarray | None = None
    text: dict[int, TextColumn] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    dropped: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def __post_init__(self) -> None:
        if not self.feature_names and self.X.ndim == 2:
            self.feature_names = [f"x{i}" for i in range(self.X.shape[1])]
        if any(not isinstance(c, TextColumn) for c in self.text.values()):
            self.text = {j: TextColumn.from_cells(c) for j, c in self.text.items()}

    def where(self, row: int) -> str:
        """Where row ``row`` (0-based) stands in its source: ``"line 7"`` or ``"row 6"``."""
        return f"line {int(self.lines[row])}" if self.lines is not None else f"row {row + 1}"

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.class_names)


def _sklearn(
    name: str, loader_name: str, task: str, image_shape: tuple[int, int] | None = None
) -> Callable[..., Dataset]:
    def load(n_samples: int | None = None, noise: float | None = None, seed: int = 0) -> Dataset:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)()
        if task == "classification":
            y = bunch.target.astype(np.int64)
            classes = [str(c) for c in bunch.target_names]
        else:
            y = bunch.target.astype(np.float64)
            classes = []
        return Dataset(
            X=bunch.data.astype(np.float64),
            y=y,
            task=task,
            name=name,
            class_names=classes,
            image_shape=image_shape,
            feature_names=[str(f) for f in getattr(bunch, "feature_names", [])],
            target_name="target",
        )

    return load


# ---------------------------------------------------------------------- generated sets


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Four Gaussian blobs at (±1, ±1); the class is 1 where exactly one coordinate is
    # negative — the classic problem a network without a hidden layer cannot solve.
    corners = rng.choice([-1.0, 1.0], size=(n, 2))
    y = (corners[:, 0] * corners[:, 1] < 0).astype(np.int64)
    return corners + rng.normal(scale=noise, size=(n, 2)), y


def _spirals(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Two interleaved spirals r = t (1.75 turns); the second is the first rotated by π.
    y = np.arange(n, dtype=np.int64) % 2
    t = np.sqrt(rng.uniform(0.0, 1.0, n)) * 3.5 * np.pi
    sign = np.where(y == 0, 1.0, -1.0)
    X = np.column_stack([sign * t * np.cos(t), sign * t * np.sin(t)]) / (3.5 * np.pi)
    return X + rng.normal(scale=noise, size=(n, 2)), y


def _moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # scikit-learn's two interleaving half circles.
    y = np.arange(n, dtype=np.int64) % 2
    t = rng.uniform(0.0, np.pi, n)
    X = np.where(
        y[:, None] == 0,
        np.column_stack([np.cos(t), np.sin(t)]),
        np.column_stack([1.0 - np.cos(t), 0.5 - np.sin(t)]),
    )
    return X + rng.normal(scale=noise, size=(n, 2)), y


def _circles(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # A circle of radius 1 around one of radius 0.5 (class 1).
    y = np.arange(n, dtype=np.int64) % 2
    t = rng.uniform(0.0, 2 * np.pi, n)
    r = np.where(y == 0, 1.0, 0.5)
    X = np.column_stack([r * np.cos(t), r * np.sin(t)])
    return X + rng.normal(scale=noise, size=(n, 2)), y


def _generated(
    name: str, make: Callable[..., tuple[np.ndarray, np.ndarray]], default_noise: float
) -> Callable[..., Dataset]:
    def load(n_samples: int | None = None, noise: float | None = None, seed: int = 0) -> Dataset:
        n = 400 if n_samples is None else int(n_samples)
        if n < 2:
            raise ValueError(f"{name}: n_samples must be at least 2, got {n}")
        sd = default_noise if noise is None else float(noise)
        if not (sd >= 0 and np.isfinite(sd)):
            raise ValueError(f"{name}: noise must be a non-negative number, got {sd}")
        # About ten float64 numbers a point while generating (X, y, angles, noise, …):
        # refused with the estimate before anything is allocated.
        from ..memory import check_fits

        check_fits(80 * n, f"{name} with {n} samples", "use fewer samples")
        X, y = make(n, sd, np.random.default_rng(seed))
        return Dataset(
            X=X,
            y=y,
            task="classification",
            name=name,
            class_names=["0", "1"],
            feature_names=["x0", "x1"],
            target_name="class",
        )

    return load


@dataclass(frozen=True)
class DatasetInfo:
    """A bundled data set: how to load it and what it is."""

    name: str
    task: str
    description: str
    load: Callable[..., Dataset]
    generated: bool = False


#: Every bundled data set by name.
DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo(
            "digits",
            "classification",
            "8x8 handwritten digits, pixels 0-16",
            _sklearn("digits", "load_digits", "classification", (8, 8)),
        ),
        DatasetInfo(
            "iris",
            "classification",
            "Fisher's iris flowers, 4 measurements",
            _sklearn("iris", "load_iris", "classification"),
        ),
        DatasetInfo(
            "wine",
            "classification",
            "chemical analysis of 3 wine cultivars",
            _sklearn("wine", "load_wine", "classification"),
        ),
        DatasetInfo(
            "breast_cancer",
            "classification",
            "Wisconsin breast cancer, 30 cell-nucleus features",
            _sklearn("breast_cancer", "load_breast_cancer", "classification"),
        ),
        DatasetInfo(
            "diabetes",
            "regression",
            "disease progression after one year, 10 baseline variables",
            _sklearn("diabetes", "load_diabetes", "regression"),
        ),
        DatasetInfo(
            "xor",
            "classification",
            "XOR: four noisy corners (generated)",
            _generated("xor", _xor, 0.2),
            generated=True,
        ),
        DatasetInfo(
            "spirals",
            "classification",
            "two interleaved spirals (generated)",
            _generated("spirals", _spirals, 0.02),
            generated=True,
        ),
        DatasetInfo(
            "moons",
            "classification",
            "two interleaving half moons (generated)",
            _generated("moons", _moons, 0.1),
            generated=True,
        ),
        DatasetInfo(
            "circles",
            "classification",
            "a circle inside a circle (generated)",
            _generated("circles", _circles, 0.05),
            generated=True,
        ),
    ]
}


def load_dataset(
    name: str, *, n_samples: int | None = None, noise: float | None = None, seed: int = 0
) -> Dataset:
    """Load a bundled data set by name (offline).

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`: ``digits`` (1,797 8×8 images, 10 classes),
        ``iris``, ``wine``, ``breast_cancer`` (classification), ``diabetes``
        (regression), or a generated 2-D set ``xor``, ``spirals``, ``moons``,
        ``circles`` (two classes).
    n_samples : int, optional
        Generated sets only: the number of points (default 400).
    noise : float, optional
        Generated sets only: the standard deviation of the Gaussian noise added.
    seed : int, default 0
        Generated sets only: the seed of the generator.

    Returns
    -------
    Dataset
    """
    try:
        info = DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown data set {name!r}: expected one of {', '.join(DATASETS)} or a data file"
        ) from None
    if not info.generated and (n_samples is not None or noise is not None):
        raise ValueError(
            f"{name} is a fixed data set: n_samples and noise apply only to the generated sets"
        )
    return info.load(n_samples=n_samples, noise=noise, seed=seed)
