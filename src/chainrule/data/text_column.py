"""A table's text column as dictionary codes: one small integer per row and each
distinct cell once.

The table reader gives text columns in this form (Arrow's dictionary encoding), and the
roles, the encoding and the imputation work on the distinct values (their counts come
from the codes): no array of one string per row is made on the way from a file to the
network's inputs.  For code written against the earlier contract (an array of ``str``,
``""`` where missing) a :class:`TextColumn` still reads as one: ``numpy.asarray(col)``,
``col.tolist()``, ``col[i]``, ``col == ""`` and ``col[mask]`` behave as on that array.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["TextColumn"]


class TextColumn:
    """A text column of ``n`` rows: row ``i``'s cell is ``values[codes[i]]``.

    Parameters
    ----------
    codes : ndarray of int, shape (n,)
        Each row's index into ``values``.
    values : ndarray of str, shape (k,)
        The distinct cells, each once (in no particular order); ``""`` (a missing cell)
        among them when a row is missing.  Values no row takes may be present (after
        :meth:`take`, or the reader's slot for null cells).
    """

    __slots__ = ("codes", "values")

    def __init__(self, codes: np.ndarray, values: np.ndarray) -> None:
        self.codes = codes
        self.values = values

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_codes(cls, codes: np.ndarray, values: Sequence[str] | np.ndarray) -> TextColumn:
        """From codes into values that need not be distinct: when two are the same
        (say two spellings of a missing cell, both ``""``), they are merged and the
        codes remapped; else the codes are kept as they are."""
        array = np.asarray(values, dtype=str)
        if array.dtype.itemsize == 0:
            array = array.astype("<U1")
        if len(set(array.tolist())) == len(array):
            return cls(codes, array)
        distinct, inverse = np.unique(array, return_inverse=True)
        remap = inverse.reshape(-1).astype(np.int32)
        return cls(remap[codes], distinct)

    @classmethod
    def from_cells(cls, cells: Any) -> TextColumn:
        """From an array (or list) of ``str`` cells, ``""`` where missing."""
        if isinstance(cells, TextColumn):
            return cells
        arr = np.asarray(cells, dtype=str).reshape(-1)
        values, inverse = np.unique(arr, return_inverse=True)
        if values.dtype.itemsize == 0:
            values = values.astype("<U1")
        return cls(inverse.reshape(-1).astype(np.int32), values)

    @classmethod
    def concatenate(cls, parts: Sequence[TextColumn]) -> TextColumn:
        """The rows of ``parts``, one after the other."""
        if not parts:
            return cls(np.empty(0, np.int32), np.empty(0, "<U1"))
        offsets = np.cumsum([0] + [len(p.values) for p in parts[:-1]])
        codes = np.concatenate(
            [p.codes.astype(np.int64) + o for p, o in zip(parts, offsets, strict=True)]
        )
        return cls.from_codes(codes, np.concatenate([p.values for p in parts]))

    # ------------------------------------------------------------------ per value

    def counts(self) -> np.ndarray:
        """How many rows take each value: int64 of shape (k,)."""
        return np.bincount(self.codes, minlength=len(self.values)).astype(np.int64)

    def present(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct present (non-empty) cells that some row takes, sorted, and how
        often each occurs: ``numpy.unique(cells[cells != ""], return_counts=True)``."""
        counts = self.counts()
        keep = np.flatnonzero((counts > 0) & (self.values != ""))
        order = keep[np.argsort(self.values[keep], kind="stable")]
        return self.values[order], counts[order]

    def missing(self) -> np.ndarray:
        """Where the cell is missing (``""``): bool of shape (n,)."""
        return self.per_value(self.values == "")

    def per_value(self, table: np.ndarray) -> np.ndarray:
        """``table[codes]``: a result made once per distinct value (``table`` of shape
        (k, …)), spread to the rows."""
        return np.asarray(table)[self.codes]

    def map(self, fn: Callable[[str], Any], dtype: Any = object) -> np.ndarray:
        """``fn`` applied once per distinct value: an array of shape (k,)."""
        return np.array([fn(v) for v in self.values.tolist()], dtype=dtype)

    def first_row(self, which: np.ndarray) -> int | None:
        """The first row whose value is marked in ``which`` (bool of shape (k,)), or None."""
        if not which.any():
            return None
        rows = np.flatnonzero(which[self.codes])
        return int(rows[0]) if len(rows) else None

    def filled(self, fill: str) -> TextColumn:
        """The column with its missing cells (``""``) reading ``fill``."""
        return TextColumn.from_codes(self.codes, np.where(self.values == "", fill, self.values))

    def take(self, keep: Any) -> TextColumn:
        """The rows ``keep`` (a boolean mask, indices or a slice); the same values."""
        return TextColumn(self.codes[keep], self.values)

    # ------------------------------------------------------------------ as an array

    def cells(self) -> np.ndarray:
        """One ``str`` per row (``""`` where missing): shape (n,).  Costs a string per
        row; the methods above work on the distinct values instead."""
        return self.values[self.codes]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        cells = self.cells()
        return cells if dtype is None else cells.astype(dtype)

    def tolist(self) -> list[str]:
        return self.cells().tolist()

    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self) -> Iterator[str]:
        return iter(self.tolist())

    @property
    def shape(self) -> tuple[int]:
        return (len(self.codes),)

    @property
    def ndim(self) -> int:
        return 1

    @property
    def size(self) -> int:
        return len(self.codes)

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.values.dtype

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            return str(self.values[self.codes[key]])
        return self.take(key)

    def __eq__(self, other: object) -> Any:  # type: ignore[override]
        if isinstance(other, str):
            return self.per_value(self.values == other)
        return self.cells() == np.asarray(other)

    def __ne__(self, other: object) -> Any:  # type: ignore[override]
        if isinstance(other, str):
            return self.per_value(self.values != other)
        return self.cells() != np.asarray(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TextColumn({len(self.codes)} rows, {len(self.values)} values)"
