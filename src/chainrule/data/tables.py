"""Tables as people have them: text columns one-hot encoded, missing cells handled.

:class:`TableEncoding` is fitted on the training split of a :class:`Dataset` read
from a CSV file and turns its raw columns into the numbers the scaler and the
network see:

* a **numeric** column passes through (``True``/``False`` were read as 1/0);
* a **category** (text) column becomes one 0/1 column per category seen in the
  training split; a category never seen there encodes as all zeros (with a
  warning), or is an error when asked to be strict;
* a **missing** cell is filled with the training split's median (numbers) or most
  frequent category (text) when the model was trained with ``--missing impute``;
  otherwise it is refused, naming the rows.

The encoding is plain JSON (:meth:`TableEncoding.to_json`), stored in the model
file's metadata, so predictions apply exactly what training learned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .datasets import Dataset

__all__ = ["MISSING_POLICIES", "ColumnEncoding", "TableEncoding", "missing_rows", "subset"]

#: What ``--missing`` may say: refuse, leave the rows out (training only), or fill in.
MISSING_POLICIES = ("error", "drop", "impute")


def _cells(data: Dataset, j: int) -> np.ndarray:
    """Column ``j`` of ``data`` as text; ``""`` where missing."""
    from .files import _numbers_as_text

    if j in data.text:
        return data.text[j]
    return _numbers_as_text(data.X[:, j])


def _missing_mask(data: Dataset, j: int) -> np.ndarray:
    if j in data.text:
        return data.text[j] == ""
    return np.isnan(data.X[:, j])


def missing_rows(data: Dataset) -> tuple[np.ndarray, dict[str, int]]:
    """Rows with a missing feature cell, and the number of missing cells per column.

    Returns
    -------
    mask : ndarray of bool, shape (n,)
    counts : dict
        Column name → missing cells, only for columns that have some.
    """
    mask = np.zeros(len(data.X), dtype=bool)
    counts: dict[str, int] = {}
    for j in range(data.X.shape[1]):
        col = _missing_mask(data, j)
        if col.any():
            mask |= col
            counts[_name(data, j)] = int(col.sum())
    return mask, counts


def _name(data: Dataset, j: int) -> str:
    return data.feature_names[j] if j < len(data.feature_names) else f"x{j}"


def describe_missing(counts: dict[str, int]) -> str:
    """``'sex' (11), 'bill_length_mm' (2)`` for a message."""
    shown = ", ".join(f"{name!r} ({n})" for name, n in list(counts.items())[:6])
    return shown + (f" and {len(counts) - 6} more columns" if len(counts) > 6 else "")


def rows_text(data: Dataset, rows: np.ndarray, limit: int = 5) -> str:
    """``line 5, line 9 and 3 more`` for row indices of ``data``."""
    shown = ", ".join(data.where(int(i)) for i in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def subset(data: Dataset, keep: np.ndarray) -> Dataset:
    """The rows ``keep`` (a boolean mask or indices) of ``data``, text columns included."""
    return Dataset(
        X=data.X[keep], y=data.y[keep] if data.y.size else data.y, task=data.task,
        name=data.name, class_names=data.class_names, image_shape=data.image_shape,
        feature_names=data.feature_names, target_name=data.target_name,
        lines=None if data.lines is None else data.lines[keep],
        text={j: cells[keep] for j, cells in data.text.items()},
        ignored_columns=data.ignored_columns)


@dataclass
class ColumnEncoding:
    """How one raw column becomes network inputs.

    Attributes
    ----------
    name : str
    kind : {"number", "category"}
    categories : list of str
        For a category column: the categories of the training split, sorted; one
        0/1 input each.
    fill : float or str or None
        The value a missing cell takes (median or most frequent in the training
        split), or None when missing cells are refused.
    """

    name: str
    kind: str = "number"
    categories: list[str] = field(default_factory=list)
    fill: float | str | None = None

    @property
    def width(self) -> int:
        """Network inputs this column becomes."""
        return len(self.categories) if self.kind == "category" else 1


@dataclass
class TableEncoding:
    """Raw table columns → numeric inputs: one-hot categories and filled missing cells.

    Attributes
    ----------
    columns : list of ColumnEncoding
        One per raw feature column, in the model's order.
    missing : {"error", "drop", "impute"}
        How training treated missing cells (``impute``: each column has a ``fill``).
    """

    columns: list[ColumnEncoding]
    missing: str = "error"

    # ------------------------------------------------------------------ fitting

    @classmethod
    def fit(cls, data: Dataset, rows: np.ndarray, missing: str = "error") -> TableEncoding:
        """Learn categories and fill values from the rows ``rows`` (the training split)."""
        if missing not in MISSING_POLICIES:
            raise ValueError(f"missing must be one of {', '.join(MISSING_POLICIES)}, "
                             f"got {missing!r}")
        columns = []
        for j in range(data.X.shape[1]):
            name = _name(data, j)
            if j in data.text:
                cells = data.text[j][rows]
                present = cells[cells != ""]
                values, counts = np.unique(present, return_counts=True)
                # The most frequent category; ties go to the first in sorted order.
                fill: float | str | None = str(values[np.argmax(counts)]) if len(values) else ""
                columns.append(ColumnEncoding(name, "category", [str(v) for v in values],
                                              fill if missing == "impute" else None))
            else:
                col = data.X[rows, j]
                present_n = col[~np.isnan(col)]
                fill = float(np.median(present_n)) if len(present_n) else 0.0
                columns.append(ColumnEncoding(name, "number", [],
                                              fill if missing == "impute" else None))
        return cls(columns, missing)

    @property
    def needed(self) -> bool:
        """Whether it does anything: a category column or a fill value."""
        return any(c.kind == "category" or c.fill is not None for c in self.columns)

    @property
    def n_inputs(self) -> int:
        """The number of network inputs (columns after one-hot encoding)."""
        return sum(c.width for c in self.columns)

    def output_names(self) -> list[str]:
        """One name per network input: ``island=Biscoe`` for a category's column."""
        names: list[str] = []
        for c in self.columns:
            names += [f"{c.name}={v}" for v in c.categories] if c.kind == "category" \
                else [c.name]
        return names

    # ------------------------------------------------------------------ applying

    def transform(self, data: Dataset, *, strict: bool = False
                  ) -> tuple[np.ndarray, list[str]]:
        """Encode ``data`` (its columns in this encoding's order).

        Returns
        -------
        X : ndarray of shape (n, n_inputs), float64
        warnings : list of str
            One line per column with categories never seen in training (each
            encoded as all zeros).

        Raises
        ------
        ValueError
            For missing cells without a fill value (naming rows and columns), a
            text cell in a numeric column, or (``strict``) an unseen category.
        """
        n = len(data.X)
        if data.X.shape[1] != len(self.columns):
            raise ValueError(f"{data.name}: has {data.X.shape[1]} feature columns, the model "
                             f"needs {len(self.columns)}")
        self._refuse_missing(data)
        out = np.zeros((n, self.n_inputs), dtype=np.float64)
        warnings: list[str] = []
        k = 0
        for j, c in enumerate(self.columns):
            if c.kind == "number":
                if j in data.text:
                    _refuse_text(data, j, c.name)
                col = data.X[:, j]
                out[:, k] = np.where(np.isnan(col), c.fill if c.fill is not None else 0.0, col)
                k += 1
                continue
            cells = _cells(data, j)
            if c.fill is not None:
                cells = np.where(cells == "", c.fill, cells)
            index = {v: i for i, v in enumerate(c.categories)}
            codes = np.array([index.get(v, -1) for v in cells.tolist()], dtype=np.int64)
            unseen = np.flatnonzero(codes < 0)
            if len(unseen):
                values = list(dict.fromkeys(cells[unseen].tolist()))
                listed = ", ".join(repr(v[:30]) for v in values[:3]) + \
                    (f" and {len(values) - 3} more" if len(values) > 3 else "")
                text = (f"{data.name}: column {c.name!r}: {len(unseen)} rows have categories "
                        f"never seen in training ({listed}; first at "
                        f"{data.where(int(unseen[0]))})")
                if strict:
                    raise ValueError(text + "; without --strict they encode as all zeros")
                warnings.append(text + ": encoded as all zeros")
            seen = codes >= 0
            out[np.flatnonzero(seen), k + codes[seen]] = 1.0
            k += c.width
        return out, warnings

    def _refuse_missing(self, data: Dataset) -> None:
        mask = np.zeros(len(data.X), dtype=bool)
        counts: dict[str, int] = {}
        for j, c in enumerate(self.columns):
            if c.fill is None:
                col = _missing_mask(data, j)
                if col.any():
                    mask |= col
                    counts[c.name] = int(col.sum())
        if counts:
            rows = np.flatnonzero(mask)
            raise ValueError(
                f"{data.name}: {len(rows)} rows have missing values ({rows_text(data, rows)}; "
                f"columns {describe_missing(counts)}), which this model cannot fill: it was "
                f"trained with --missing {self.missing}; fill them in, or retrain with "
                f"--missing impute")

    # ------------------------------------------------------------------ model files

    def to_json(self) -> dict[str, Any]:
        """Plain values for the model file's metadata."""
        return {"missing": self.missing,
                "columns": [{"name": c.name, "kind": c.kind, "categories": list(c.categories),
                             "fill": c.fill} for c in self.columns]}

    @classmethod
    def from_json(cls, doc: Any) -> TableEncoding:
        """Rebuild from :meth:`to_json` output; ValueError if it is malformed."""
        if not isinstance(doc, dict) or not isinstance(doc.get("columns"), list):
            raise ValueError("the table encoding is not an object with a 'columns' list")
        missing = doc.get("missing", "error")
        if missing not in MISSING_POLICIES:
            raise ValueError(f"the table encoding has an unknown missing policy {missing!r}")
        columns = []
        for spec in doc["columns"]:
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) \
                    or spec.get("kind") not in ("number", "category"):
                raise ValueError(f"bad column in the table encoding: {spec!r}"[:120])
            cats = spec.get("categories") or []
            fill = spec.get("fill")
            if not isinstance(cats, list) or not all(isinstance(v, str) for v in cats):
                raise ValueError(f"column {spec['name']!r}: categories must be strings")
            if spec["kind"] == "category" and not cats:
                raise ValueError(f"column {spec['name']!r}: a category column without "
                                 f"categories")
            ok_fill = fill is None or (isinstance(fill, str) if spec["kind"] == "category"
                                       else isinstance(fill, (int, float))
                                       and not isinstance(fill, bool))
            if not ok_fill:
                raise ValueError(f"column {spec['name']!r}: bad fill value {fill!r}")
            columns.append(ColumnEncoding(spec["name"], spec["kind"], list(cats),
                                          None if fill is None else
                                          (fill if isinstance(fill, str) else float(fill))))
        return cls(columns, missing)

    def describe(self) -> list[str]:
        """One line per column that is encoded or filled (for ``chainrule info``)."""
        lines = []
        for c in self.columns:
            fill = "" if c.fill is None else (f"; missing → {c.fill!r}" if isinstance(c.fill, str)
                                              else f"; missing → {c.fill:g} (median)")
            if c.kind == "category":
                cats = ", ".join(c.categories[:8]) + (f", … ({len(c.categories)} in all)"
                                                      if len(c.categories) > 8 else "")
                if isinstance(c.fill, str):
                    fill = f"; missing → {c.fill!r} (most frequent)"
                lines.append(f"{c.name}: one-hot over {len(c.categories)} categories "
                             f"({cats}){fill}")
            elif fill:
                lines.append(f"{c.name}: number{fill}")
        return lines


def _refuse_text(data: Dataset, j: int, name: str) -> None:
    from .files import _is_number

    cells = data.text[j]
    for i, cell in enumerate(cells.tolist()):
        if cell and not _is_number(cell) and cell.lower() not in ("true", "false"):
            raise ValueError(f"{data.name}: {data.where(i)}, column {name!r}: {cell[:40]!r} is "
                             f"not a number (the model's column {name!r} is numeric)")
