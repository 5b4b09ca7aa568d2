"""Class targets kept as labels: one-hot rows are made per batch, never for the whole set.

A classifier's targets are one-hot rows ``λ`` (eq. 5 needs them per batch).  For
many classes the whole matrix is the biggest thing in a run — 30,000 rows ×
10,000 classes is 2.4 GB in float64, as labels 240 kB — so ``Network.fit`` keeps
the labels when the matrix would hold at least :data:`LABELS_FROM` values
(:func:`keeps_labels`), and the loop asks :class:`OneHotLabels` for the rows of
each batch, block or subset.  The epoch's loss and accuracy are then summed batch
by batch instead of from epoch-sized ``z^L``, ``a^L`` buffers (``training.loop``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..backend import NUMPY_OPS, Ops, ops_of

__all__ = ["LABELS_FROM", "OneHotLabels", "keeps_labels"]

#: A one-hot target matrix of at least this many values (n × classes) is kept as labels.
LABELS_FROM = 1 << 24


def keeps_labels(n: int, n_classes: int) -> bool:
    """True when ``n`` rows of ``n_classes`` one-hot targets are kept as labels."""
    return n_classes > 1 and n * n_classes >= LABELS_FROM


class OneHotLabels:
    """The one-hot matrix ``(n, K)`` of class ``labels`` without storing it.

    Parameters
    ----------
    labels : int64 array of shape (n,), in the network's namespace
    width : int
        ``K``, the network's outputs.
    like : array
        An array of the network's dtype and device (a weight matrix): the one-hot
        rows are made like it.
    """

    def __init__(self, labels: Any, width: int, like: Any) -> None:
        self.labels, self.width, self.like = labels, width, like
        self.shape = (int(labels.shape[0]), width)
        self.dtype = like.dtype
        self.ops: Ops = ops_of(labels)

    def __len__(self) -> int:
        return self.shape[0]

    def rows_into(self, idx: slice | npt.NDArray[np.intp], out: Any) -> Any:
        """Write the one-hot rows ``idx`` (a slice or NumPy indices) into ``out`` (m, K)."""
        return self.ops.one_hot(self._at(idx), out)

    def _at(self, idx: slice | npt.NDArray[np.intp]) -> Any:
        """The labels of rows ``idx`` (a slice, or NumPy indices gathered in the namespace)."""
        if isinstance(idx, slice) or self.ops is NUMPY_OPS:
            return self.labels[idx]
        return self.ops.take_rows(self.labels, idx)

    def __getitem__(self, key: Any) -> Any:
        """Dense one-hot rows for ``Y[lo:hi]`` / ``Y[lo:hi, ...]`` (a block of rows)."""
        rows = key[0] if isinstance(key, tuple) else key
        if not isinstance(rows, slice) or (isinstance(key, tuple) and key[1:] != (Ellipsis,)):
            raise TypeError("OneHotLabels gives blocks of rows: Y[lo:hi] or Y[lo:hi, ...]")
        start, stop, _ = rows.indices(self.shape[0])
        out = self.ops.empty((max(0, stop - start), self.width), self.like)
        return self.rows_into(slice(start, stop), out)

    def take(self, idx: npt.NDArray[np.intp]) -> OneHotLabels:
        """The rows ``idx`` (NumPy indices), still as labels."""
        return OneHotLabels(self._at(idx), self.width, self.like)

    def to(self, ops: Ops, like: Any) -> OneHotLabels:
        """The same labels in namespace ``ops`` on ``like``'s device, made like ``like``."""
        lab = self.labels if ops is self.ops else ops.asarray(np.asarray(self.labels), like)
        return OneHotLabels(lab, self.width, like)
