"""Preprocessing fitted on the training split and applied everywhere else.

Every scaler has a ``kind`` (its name in model files and on the command line),
``fit``/``transform``, and ``params()``/``from_params`` so that a fitted scaler
travels inside a model file as plain arrays (see :mod:`chainrule.io`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from .tables import TableEncoding

__all__ = [
    "SCALERS",
    "MinMaxScaler",
    "NoScaling",
    "Preprocessing",
    "Scaler",
    "Standardizer",
    "make_scaler",
    "one_hot",
]


class Scaler:
    """Base class of the feature scalers."""

    kind: ClassVar[str] = "scaler"
    #: Names of the fitted arrays, each of shape (n_features,).
    param_names: ClassVar[tuple[str, ...]] = ()

    def fit(self, X: npt.ArrayLike) -> Scaler:
        raise NotImplementedError

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        raise NotImplementedError

    def fit_transform(self, X: npt.ArrayLike) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    @property
    def n_features(self) -> int | None:
        """The number of features it was fitted on (None if unfitted or feature-free)."""
        arrays = [getattr(self, n) for n in self.param_names]
        return None if not arrays or arrays[0] is None else len(arrays[0])

    def params(self) -> dict[str, np.ndarray]:
        """The fitted arrays by name (for model files)."""
        out = {}
        for name in self.param_names:
            value = getattr(self, name)
            if value is None:
                raise ValueError(f"{type(self).__name__} is not fitted: call fit first")
            out[name] = np.asarray(value, dtype=np.float64)
        return out

    def _fitted(self) -> tuple[np.ndarray, ...]:
        values = tuple(getattr(self, n) for n in self.param_names)
        if any(v is None for v in values):
            raise ValueError(f"{type(self).__name__} is not fitted: call fit first")
        return values

    @staticmethod
    def _out_dtype(arr: np.ndarray) -> np.dtype:
        return arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)


@dataclass
class Standardizer(Scaler):
    """Scale each feature to zero mean and unit variance: ``(x − mean) / scale``.

    Features that are constant in the training data (scale 0) are only centred,
    so they do not turn into NaN.

    Attributes
    ----------
    mean : ndarray of shape (n_features,)
    scale : ndarray of shape (n_features,)
    """

    kind: ClassVar[str] = "standard"
    param_names: ClassVar[tuple[str, ...]] = ("mean", "scale")

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
        mean, scale = self._fitted()
        arr = np.asarray(X)
        return ((arr - mean) / scale).astype(self._out_dtype(arr), copy=False)


@dataclass
class MinMaxScaler(Scaler):
    """Scale each feature to [0, 1] on the training data: ``(x − low) / range``.

    Constant features (range 0) are only shifted to 0.

    Attributes
    ----------
    low : ndarray of shape (n_features,)
    range : ndarray of shape (n_features,)
    """

    kind: ClassVar[str] = "minmax"
    param_names: ClassVar[tuple[str, ...]] = ("low", "range")

    low: np.ndarray | None = None
    range: np.ndarray | None = None

    def fit(self, X: npt.ArrayLike) -> MinMaxScaler:
        """Learn ``low`` and ``range`` from ``X`` of shape (n, n_features)."""
        arr = np.asarray(X, dtype=np.float64)
        self.low = arr.min(axis=0)
        width = arr.max(axis=0) - self.low
        self.range = np.where(width > 0, width, 1.0)
        return self

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        """Apply the fitted scaling; keeps a floating input's dtype."""
        low, width = self._fitted()
        arr = np.asarray(X)
        return ((arr - low) / width).astype(self._out_dtype(arr), copy=False)


@dataclass
class NoScaling(Scaler):
    """Leave the features as they are (floats)."""

    kind: ClassVar[str] = "none"

    def fit(self, X: npt.ArrayLike) -> NoScaling:
        return self

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        arr = np.asarray(X)
        return arr.astype(self._out_dtype(arr), copy=False)


#: Scalers by ``kind``.
SCALERS: dict[str, type[Scaler]] = {c.kind: c for c in (Standardizer, MinMaxScaler, NoScaling)}


def make_scaler(kind: str, params: dict[str, np.ndarray] | None = None) -> Scaler:
    """A scaler by kind, unfitted, or fitted from ``params()`` output.

    Raises
    ------
    ValueError
        For an unknown kind, or params that are missing or not 1-D and of equal length.
    """
    try:
        cls = SCALERS[kind]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown scaling {kind!r}: expected one of {', '.join(SCALERS)}"
        ) from None
    scaler = cls()
    if params is None:
        return scaler
    arrays = []
    for name in cls.param_names:
        if name not in params:
            raise ValueError(f"{kind} scaling is missing its {name!r} array")
        arr = np.asarray(params[name])
        if arr.ndim != 1 or arr.dtype.kind != "f" or not np.all(np.isfinite(arr)):
            raise ValueError(f"{kind} scaling: {name!r} must be a 1-D array of finite floats")
        arrays.append(arr)
    if len({len(a) for a in arrays}) > 1:
        raise ValueError(f"{kind} scaling: its arrays differ in length")
    for name, arr in zip(cls.param_names, arrays, strict=True):
        setattr(scaler, name, arr)
    return scaler


def one_hot(labels: npt.ArrayLike, n_classes: int, dtype: npt.DTypeLike = np.float64) -> np.ndarray:
    """One-hot rows: ``out[i, labels[i]] = 1``, shape ``(n, n_classes)``.

    ``Network.fit`` accepts integer labels and does this itself; this is for
    code that wants the target matrix ``λ`` explicitly.
    """
    y = np.asarray(labels)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-D integer array, got {y.dtype} of shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    out = np.zeros((len(y), n_classes), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


@dataclass
class Preprocessing:
    """Everything fitted on the training split that a model needs for raw data.

    Attributes
    ----------
    features : Scaler
        Applied to raw features before the network (``transform``).
    target : Standardizer or None
        For regression: the targets were standardised for training, so network
        outputs are mapped back by ``inverse_target``.
    encoding : TableEncoding or None
        For a table with text columns or filled-in missing cells: applied to the
        raw columns before ``features`` (see :mod:`chainrule.data.tables`).
    """

    features: Scaler
    target: Standardizer | None = None
    encoding: TableEncoding | None = None

    @classmethod
    def wrap(cls, value: Preprocessing | Scaler | None) -> Preprocessing | None:
        """Accept a bare scaler where a ``Preprocessing`` is expected."""
        if value is None or isinstance(value, Preprocessing):
            return value
        if isinstance(value, Scaler):
            return cls(features=value)
        raise TypeError(
            f"preprocessing must be a Scaler or Preprocessing, got {type(value).__name__}"
        )

    @property
    def n_features(self) -> int | None:
        return self.features.n_features

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        """Scale raw features ``(n, n_features)`` as in training."""
        return self.features.transform(X)

    def transform_target(self, y: npt.ArrayLike) -> np.ndarray:
        """Scale raw regression targets ``(n,)`` or ``(n, k)`` as in training."""
        arr = np.asarray(y, dtype=np.float64)
        if self.target is None:
            return arr
        return self.target.transform(arr[:, None] if arr.ndim == 1 else arr)

    def inverse_target(self, out: np.ndarray) -> np.ndarray:
        """Network outputs ``(n, k)`` back in the target's units."""
        if self.target is None:
            return out
        mean, scale = self.target._fitted()
        return (out * scale + mean).astype(out.dtype, copy=False)
