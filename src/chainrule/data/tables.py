"""Tables as people have them: text columns one-hot encoded, missing cells handled.

:class:`TableEncoding` is fitted on the training split of a :class:`Dataset` read
from a CSV file and turns its raw columns into the numbers the scaler and the
network see:

* a **numeric** column passes through (``True``/``False`` were read as 1/0);
* a **category** (text) column becomes one 0/1 column per category seen in the
  training split; a category never seen there encodes as all zeros (with a
  warning), or is an error when asked to be strict;
* a **text** (free text) column becomes one 0/1 column per word of its vocabulary
  (the frequent words of the training split, :func:`chainrule.data.roles.frequent_words`):
  1 when the cell holds the word;
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
from .text_column import TextColumn

__all__ = ["MISSING_POLICIES", "ColumnEncoding", "TableEncoding", "missing_rows", "subset"]

#: Rows of the encoded matrix written at a time (all columns into a block in cache).
_ROW_BLOCK = 4096

#: What ``--missing`` may say: refuse, leave the rows out (training only), or fill in.
MISSING_POLICIES = ("error", "drop", "impute")


def _cells(data: Dataset, j: int) -> TextColumn:
    """Column ``j`` of ``data`` as a :class:`TextColumn`; ``""`` where missing (defined
    in ``roles``)."""
    from .roles import _cells as cells

    return TextColumn.from_cells(cells(data, j))


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
        X=data.X[keep],
        y=data.y[keep] if data.y.size else data.y,
        task=data.task,
        name=data.name,
        class_names=data.class_names,
        image_shape=data.image_shape,
        feature_names=data.feature_names,
        target_name=data.target_name,
        lines=None if data.lines is None else data.lines[keep],
        text={j: cells.take(keep) for j, cells in data.text.items()},
        ignored_columns=data.ignored_columns,
        dropped=data.dropped,
    )


@dataclass
class ColumnEncoding:
    """How one raw column becomes network inputs.

    Attributes
    ----------
    name : str
    kind : {"number", "category", "date", "words"}
    categories : list of str
        For a category column: the categories of the training split, sorted; one
        0/1 input each.
    fill : float or str or None
        The value a missing cell takes (median or most frequent in the training
        split; for a date, the median date as ISO 8601 text), or None when missing
        cells are refused.  ``""`` for a category column whose training values are
        all different (none is the most frequent): a missing cell is all zeros.
    derived : list of str
        For a date column: the features it becomes (``year``, ``month_sin``, …; see
        :func:`chainrule.data.roles.date_features`).
    parse : {None, "thousands", "decimal"}
        For a number column written as text: ``1,037.25`` or ``3,5``.
    words : list of str
        For a text column (kind ``"words"``): its vocabulary, one 0/1 input per word,
        1 when the cell holds it (:func:`chainrule.data.roles.words_of` splits cells);
        ``fill`` is ``""`` (a missing cell holds no word) or None (refused).
    """

    name: str
    kind: str = "number"
    categories: list[str] = field(default_factory=list)
    fill: float | str | None = None
    derived: list[str] = field(default_factory=list)
    parse: str | None = None
    words: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        """Network inputs this column becomes."""
        if self.kind == "category":
            return len(self.categories)
        if self.kind == "words":
            return len(self.words)
        return len(self.derived) if self.kind == "date" else 1


@dataclass
class TableEncoding:
    """Raw table columns → numeric inputs: one-hot categories and filled missing cells.

    Attributes
    ----------
    columns : list of ColumnEncoding
        One per raw feature column, in the model's order.
    missing : {"error", "drop", "impute"}
        How training treated missing cells (``impute``: each column has a ``fill``).
    roles : list of ColumnRole
        Every column of the training table but the target, with its role and why
        (excluded columns included); empty for models saved before roles existed.
    id_column : str or None
        The ``--id-column``: carried to ``predict``'s output as its first column.
    """

    columns: list[ColumnEncoding]
    missing: str = "error"
    roles: list[Any] = field(default_factory=list)
    id_column: str | None = None

    # ------------------------------------------------------------------ fitting

    @classmethod
    def fit(
        cls, data: Dataset, rows: np.ndarray, missing: str = "error", roles: list[Any] | None = None
    ) -> TableEncoding:
        """Learn categories and fill values from the rows ``rows`` (the training split).

        ``roles`` (one :class:`~chainrule.data.roles.ColumnRole` per column of ``data``,
        none excluded) says which columns are categories, dates or numbers written with
        separators; without it, text columns are categories and the others numbers.
        """
        from .roles import DATE_FEATURES, HOUR_FEATURES, frequent_words, parse_dates

        if missing not in MISSING_POLICIES:
            raise ValueError(
                f"missing must be one of {', '.join(MISSING_POLICIES)}, got {missing!r}"
            )
        columns = []
        for j in range(data.X.shape[1]):
            name = _name(data, j)
            role = roles[j] if roles is not None else None
            if role is not None and role.role == "date":
                stamps = parse_dates(_cells(data, j))
                seen = stamps[rows][~np.isnat(stamps[rows])]
                timed = bool(len(seen)) and bool(
                    (seen - seen.astype("datetime64[D]")).astype(np.int64).any()
                )
                median = (
                    np.sort(seen)[len(seen) // 2]
                    if len(seen)
                    else np.datetime64("2000-01-01T00:00:00")
                )
                columns.append(
                    ColumnEncoding(
                        name,
                        "date",
                        [],
                        str(median) if missing == "impute" else None,
                        list(DATE_FEATURES) + (list(HOUR_FEATURES) if timed else []),
                    )
                )
                continue
            if role is not None and role.role == "text":
                vocab = (
                    role.words if role.words is not None else frequent_words(_cells(data, j)[rows])
                )
                columns.append(
                    ColumnEncoding(
                        name, "words", fill="" if missing == "impute" else None, words=list(vocab)
                    )
                )
                continue
            if role is not None and role.role == "numeric" and role.parse:
                values = self_parse(data, j, role.parse)
                present_n = values[rows][~np.isnan(values[rows])]
                fill_p = float(np.median(present_n)) if len(present_n) else 0.0
                columns.append(
                    ColumnEncoding(
                        name,
                        "number",
                        [],
                        fill_p if missing == "impute" else None,
                        parse=role.parse,
                    )
                )
                continue
            if j in data.text or (role is not None and role.role == "categorical"):
                values, counts = _cells(data, j).take(rows).present()
                # The most frequent category; ties go to the first in sorted order.  When
                # every value is seen once there is no most frequent one: "" (a missing
                # cell encodes as all zeros, like a category never seen in training).
                fill: float | str | None = (
                    str(values[np.argmax(counts)])
                    if len(values) and (counts.max() > 1 or len(values) == 1)
                    else ""
                )
                columns.append(
                    ColumnEncoding(
                        name,
                        "category",
                        [str(v) for v in values],
                        fill if missing == "impute" else None,
                    )
                )
            else:
                fill = None  # the median only where it is used (a partition per column)
                if missing == "impute":
                    col = data.X[rows, j]
                    present_n = col[~np.isnan(col)]
                    fill = float(np.median(present_n)) if len(present_n) else 0.0
                columns.append(ColumnEncoding(name, "number", [], fill))
        return cls(columns, missing)

    @property
    def needed(self) -> bool:
        """Whether it does anything: a category column or a fill value."""
        return any(
            c.kind in ("category", "date", "words") or c.fill is not None or c.parse
            for c in self.columns
        )

    @property
    def n_inputs(self) -> int:
        """The number of network inputs (columns after one-hot encoding)."""
        return sum(c.width for c in self.columns)

    def output_names(self) -> list[str]:
        """One name per network input: ``island=Biscoe`` for a category's column,
        ``day:month_sin`` for a date's feature."""
        names: list[str] = []
        for c in self.columns:
            names += (
                [f"{c.name}={v}" for v in c.categories]
                if c.kind == "category"
                else [f"{c.name}:{d}" for d in c.derived]
                if c.kind == "date"
                else [f"{c.name}[{w}]" for w in c.words]
                if c.kind == "words"
                else [c.name]
            )
        return names

    def one_hot_inputs(self) -> np.ndarray:
        """Which network inputs are one-hot (or word) 0/1 columns (bool, shape
        (n_inputs,)): they enter the network as they are, never scaled."""
        return np.array(
            [c.kind in ("category", "words") for c in self.columns for _ in range(c.width)],
            dtype=bool,
        )

    # ------------------------------------------------------------------ applying

    def transform(self, data: Dataset, *, strict: bool = False) -> tuple[np.ndarray, list[str]]:
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
            raise ValueError(
                f"{data.name}: has {data.X.shape[1]} feature columns, the model "
                f"needs {len(self.columns)}"
            )
        self._refuse_missing(data)
        warnings: list[str] = []
        # Each column's rows first (numbers, codes, per-value tables), then the matrix
        # written a block of rows at a time, every column into the block while it is in
        # cache (column by column, each write would walk the whole matrix).
        parts: list[tuple[str, int, Any, Any]] = []
        k = 0
        for j, c in enumerate(self.columns):
            if c.kind == "date":
                parts.append(("rows", k, self._dates(data, j, c), None))
                k += c.width
                continue
            if c.kind == "words":
                table, codes = _word_table(_cells(data, j), c.words)
                parts.append(("table", k, table, codes))
                k += c.width
                continue
            if c.kind == "number":
                fill = c.fill if c.fill is not None else 0.0
                if c.parse is not None and j in data.text:
                    parts.append(("number", k, self_parse(data, j, c.parse), fill))
                    k += 1
                    continue
                if j in data.text:
                    _refuse_text(data, j, c.name)
                parts.append(("number", k, data.X[:, j], fill))
                k += 1
                continue
            cells = _cells(data, j)
            # Each distinct cell looked up once, the codes spread to the rows.
            distinct = cells.values
            if c.fill:
                distinct = np.where(distinct == "", c.fill, distinct)
            index = {v: i for i, v in enumerate(c.categories)}
            per_value = np.array([index.get(v, -1) for v in distinct.tolist()], dtype=np.int64)
            # A missing cell with the fill "" (no most frequent value) is all zeros, quietly.
            unseen = np.flatnonzero(
                cells.per_value((per_value < 0) & ((distinct != "") | (c.fill is None)))
            )
            if len(unseen):
                values = list(dict.fromkeys(distinct[cells.codes[unseen]].tolist()))
                listed = ", ".join(repr(v[:30]) for v in values[:3]) + (
                    f" and {len(values) - 3} more" if len(values) > 3 else ""
                )
                text = (
                    f"{data.name}: column {c.name!r}: {len(unseen)} rows have categories "
                    f"never seen in training ({listed}; first at "
                    f"{data.where(int(unseen[0]))})"
                )
                if strict:
                    raise ValueError(text + "; without --strict they encode as all zeros")
                warnings.append(text + ": encoded as all zeros")
            parts.append(("category", k, cells.per_value(per_value), None))
            k += c.width
        out = np.zeros((n, self.n_inputs), dtype=np.float64)
        for lo in range(0, n, _ROW_BLOCK):
            block = out[lo : lo + _ROW_BLOCK]
            rows = slice(lo, lo + len(block))
            for kind, at, values, extra in parts:
                if kind == "number":
                    col = values[rows]
                    block[:, at] = np.where(np.isnan(col), extra, col)
                elif kind == "category":
                    codes = values[rows]
                    seen = codes >= 0
                    block[np.flatnonzero(seen), at + codes[seen]] = 1.0
                elif kind == "table":
                    block[:, at : at + values.shape[1]] = values[extra[rows]]
                else:
                    block[:, at : at + values.shape[1]] = values[rows]
        return out, warnings

    @staticmethod
    def _dates(data: Dataset, j: int, c: ColumnEncoding) -> np.ndarray:
        from .roles import date_features, parse_dates

        cells = _cells(data, j)
        if c.fill is not None:
            cells = cells.filled(str(c.fill))
        try:
            stamps = parse_dates(cells)
        except ValueError as exc:
            raise ValueError(
                f"{data.name}: {data.where(exc.args[1])}, column {c.name!r}: "
                f"{exc.args[0]} (the model's column {c.name!r} holds dates)"
            ) from None
        return date_features(stamps, c.derived)

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
                f"--missing impute"
            )

    # ------------------------------------------------------------------ model files

    def to_json(self) -> dict[str, Any]:
        """Plain values for the model file's metadata."""
        return {
            "missing": self.missing,
            "columns": [
                {
                    "name": c.name,
                    "kind": c.kind,
                    "categories": list(c.categories),
                    "fill": c.fill,
                    **({"derived": list(c.derived)} if c.kind == "date" else {}),
                    **({"parse": c.parse} if c.parse else {}),
                    **({"words": list(c.words)} if c.kind == "words" else {}),
                }
                for c in self.columns
            ],
            **({"roles": [r.to_json() for r in self.roles]} if self.roles else {}),
            **({"id_column": self.id_column} if self.id_column else {}),
        }

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
            if (
                not isinstance(spec, dict)
                or not isinstance(spec.get("name"), str)
                or spec.get("kind") not in ("number", "category", "date", "words")
            ):
                raise ValueError(f"bad column in the table encoding: {spec!r}"[:120])
            cats = spec.get("categories") or []
            fill = spec.get("fill")
            if not isinstance(cats, list) or not all(isinstance(v, str) for v in cats):
                raise ValueError(f"column {spec['name']!r}: categories must be strings")
            if spec["kind"] == "category" and not cats:
                raise ValueError(f"column {spec['name']!r}: a category column without categories")
            ok_fill = fill is None or (
                fill == ""
                if spec["kind"] == "words"
                else isinstance(fill, str)
                if spec["kind"] != "number"
                else isinstance(fill, (int, float)) and not isinstance(fill, bool)
            )
            derived = spec.get("derived") or []
            parse = spec.get("parse")
            from .roles import DATE_FEATURES, HOUR_FEATURES, bad_words

            words = spec.get("words") or []
            if spec["kind"] == "words" and bad_words(words):
                raise ValueError(
                    f"column {spec['name']!r}: bad words in the vocabulary ({bad_words(words)})"
                )
            if spec["kind"] == "date" and (
                not isinstance(derived, list)
                or not derived
                or not set(derived) <= set(DATE_FEATURES) | set(HOUR_FEATURES)
            ):
                raise ValueError(f"column {spec['name']!r}: bad date features {derived!r}")
            if parse not in (None, "thousands", "decimal"):
                raise ValueError(f"column {spec['name']!r}: unknown parse {parse!r}")
            if not ok_fill:
                raise ValueError(f"column {spec['name']!r}: bad fill value {fill!r}")
            columns.append(
                ColumnEncoding(
                    spec["name"],
                    spec["kind"],
                    list(cats),
                    None if fill is None else (fill if isinstance(fill, str) else float(fill)),
                    [str(d) for d in derived],
                    parse,
                    list(words) if spec["kind"] == "words" else [],
                )
            )
        names = [c.name for c in columns]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"the table encoding names column {twice[0]!r} more than once")
        from .roles import ColumnRole

        roles_doc = doc.get("roles") or []
        if not isinstance(roles_doc, list):
            raise ValueError("the table encoding's roles are not a list")
        id_column = doc.get("id_column")
        if id_column is not None and not isinstance(id_column, str):
            raise ValueError(f"bad id column {id_column!r}")
        return cls(columns, missing, [ColumnRole.from_json(r) for r in roles_doc], id_column)

    def describe(self) -> list[str]:
        """One line per column that is encoded or filled (for ``chainrule info``)."""
        lines = []
        for c in self.columns:
            fill = (
                ""
                if c.fill is None
                else (
                    f"; missing → {c.fill!r}"
                    if isinstance(c.fill, str)
                    else f"; missing → {c.fill:g} (median)"
                )
            )
            if c.kind == "category":
                cats = ", ".join(c.categories[:8]) + (
                    f", … ({len(c.categories)} in all)" if len(c.categories) > 8 else ""
                )
                if c.fill == "":  # every training value seen once: none more frequent
                    fill = "; missing → all zeros (no value is more frequent than another)"
                elif isinstance(c.fill, str):
                    fill = f"; missing → {c.fill!r} (most frequent)"
                lines.append(
                    f"{c.name}: one-hot over {len(c.categories)} categories ({cats}){fill}"
                )
            elif c.kind == "words":
                shown = ", ".join(c.words[:8]) + (
                    f", … ({len(c.words)} in all)" if len(c.words) > 8 else ""
                )
                fill = "" if c.fill is None else "; missing → no words"
                lines.append(f"{c.name}: words → {len(c.words)} 0/1 inputs ({shown}){fill}")
            elif c.kind == "date":
                fill = "" if c.fill is None else f"; missing → {c.fill} (median)"
                lines.append(f"{c.name}: date → {', '.join(c.derived)}{fill}")
            elif fill or c.parse:
                how = {
                    "thousands": " (thousands separators)",
                    "decimal": " (decimal comma)",
                    None: "",
                }[c.parse]
                lines.append(f"{c.name}: number{how}{fill}")
        return lines


def word_inputs(cells: np.ndarray | TextColumn, words: list[str]) -> np.ndarray:
    """Text cells (shape (n,), ``""`` where missing) → 0/1 of shape (n, len(words)):
    1 where the cell holds the word (each distinct cell is split once)."""
    table, codes = _word_table(cells, words)
    return table[codes]


def _word_table(cells: np.ndarray | TextColumn, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`word_inputs` per distinct cell: ``(table, codes)``, the 0/1 rows of shape
    (k, len(words)) and each row's index into them (shape (n,))."""
    from .roles import words_of

    index = {w: i for i, w in enumerate(words)}
    column = TextColumn.from_cells(cells)
    per_value = np.zeros((len(column.values), len(words)), dtype=np.float64)
    for v, value in enumerate(column.values.tolist()):
        for word in words_of(value):
            i = index.get(word)
            if i is not None:
                per_value[v, i] = 1.0
    return per_value, column.codes


def self_parse(data: Dataset, j: int, parse: str) -> np.ndarray:
    """A text column of numbers written with separators as floats (NaN where missing)."""
    from .roles import parse_numbers

    if j not in data.text:
        return data.X[:, j]
    try:
        return parse_numbers(data.text[j], parse)
    except ValueError as exc:
        raise ValueError(
            f"{data.name}: {data.where(exc.args[1])}, column {_name(data, j)!r}: {exc.args[0]}"
        ) from None


def _refuse_text(data: Dataset, j: int, name: str) -> None:
    from .files import _is_number

    cells = data.text[j]
    used = cells.counts() > 0
    words = cells.map(
        lambda v: bool(v) and not _is_number(v) and v.lower() not in ("true", "false"), bool
    )
    i = cells.first_row(words & used)
    if i is not None:
        raise ValueError(
            f"{data.name}: {data.where(i)}, column {name!r}: {cells[i][:40]!r} is "
            f"not a number (the model's column {name!r} is numeric)"
        )
