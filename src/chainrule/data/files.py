"""Data files: CSV, NumPy ``.npz``/``.npy`` and IDX, read once into a :class:`Dataset`.

The format is recognised from the file's first bytes (``PK`` zip → ``.npz``,
``\\x93NUMPY`` → ``.npy``, gzip or ``00 00`` magic → IDX), anything else is read as
CSV text.  Each file is read from disk exactly once; the parsers work on the bytes.

Every problem raises :class:`DataFileError` with a one-line message that names the
file and, where it applies, the line and column (1-based, as a text editor shows
them).
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import first_nonfinite
from .datasets import Dataset
from .idx import IDXError, parse_idx
from .text_column import TextColumn

__all__ = ["TASKS", "DataFileError", "read_bytes", "read_data_file"]

TASKS = ("classification", "regression")

#: Integer-valued numeric targets with at most this many distinct values are
#: taken as class labels when the task is not given.
MAX_AUTO_CLASSES = 20


#: What reading a damaged .npy/.npz can raise (zlib: a corrupt compressed member).
#: SyntaxError, TokenError: NumPy parses a .npy header with tokenize and ast.literal_eval.
_NUMPY_ERRORS = (
    ValueError,
    OSError,
    EOFError,
    zipfile.BadZipFile,
    KeyError,
    zlib.error,
    NotImplementedError,
    SyntaxError,
    tokenize.TokenError,
    OverflowError,
    MemoryError,
    TypeError,
)


class DataFileError(ValueError):
    """A data file that cannot be used; the message names the file and the place."""


def read_bytes(path: str | os.PathLike[str], what: str = "file") -> bytes:
    """The whole content of ``path``, or a :class:`DataFileError` saying why not.

    Read through :func:`chainrule.input_files.read_input_bytes`: missing files,
    directories, unreadable, empty and too large files (larger than the memory left)
    each get their own message; FIFOs, devices and sockets are refused without reading
    from them (or blocking on them).
    """
    from ..input_files import InputFileError, read_input_bytes

    try:
        return read_input_bytes(path, what)
    except InputFileError as exc:
        raise DataFileError(str(exc)) from None


def read_data_file(
    path: str | os.PathLike[str],
    *,
    target: str | int | None = None,
    has_target: bool | None = True,
    header: bool | None = None,
    task: str | None = None,
    class_names: list[str] | None = None,
    x_key: str = "X",
    y_key: str = "y",
    labels: str | os.PathLike[str] | None = None,
    n_features: int | None = None,
    target_hint: str | None = None,
    columns: list[str] | None = None,
    missing_target: str = "error",
    decimal: str = ".",
) -> Dataset:
    """Read a data file: features ``X`` and (optionally) a target ``y``.

    Parameters
    ----------
    path : path-like
        A CSV file, a ``.npz`` archive, a ``.npy`` array or an IDX file (raw or gzip).
    target : str or int, optional
        The target column of a CSV file or 2-D ``.npy`` array: a header name or a
        0-based index (negative counts from the end).  Default: the last column.
    has_target : bool or None, default True
        ``False``: every column is a feature (prediction data).  ``None``: decide
        from ``n_features`` — the data has a target exactly when it has one column
        more than ``n_features``.
    header : bool, optional
        Whether a CSV file's first line names the columns; detected when omitted
        (a header is a first line with a non-number where the second line has a
        number).
    task : {"classification", "regression"}, optional
        Default: classification for text labels or integer labels with at most
        20 distinct values, otherwise regression.
    class_names : list of str, optional
        Known class names (a model's): labels are mapped to their indices, and a
        label not among them is an error naming the first line where it occurs.
    x_key, y_key : str
        Array names in a ``.npz`` archive.
    labels : path-like, optional
        For an IDX image file: the IDX file of its labels.
    n_features : int, optional
        The expected number of feature columns (a model's input size); a
        different count is an error.
    target_hint : str, optional
        When ``target`` is not given: the target column's name in training; used
        if the header has it, else the last column is the target.
    columns : list of str, optional
        The feature columns to read by header name, in this order (a model's
        features): other columns are skipped (listed in ``ignored_columns``), a
        missing one is an error.  Used only when the file has a header line;
        headerless files and NumPy files are read by position.
    missing_target : {"error", "drop"}, default "error"
        A row whose target cell is missing: an error naming its line, or left out
        (``Dataset.dropped`` holds the line or row numbers of the rows left out).
    decimal : {".", ","}, default "."
        The decimal mark of numbers in a CSV file (``","``: ``3,5`` is 3.5; use a
        ``;`` or tab delimiter then).

    Returns
    -------
    Dataset
        ``X`` float64 of shape (n, n_features); ``y`` int64 class indices, float64
        values, or an empty array of shape (0,) when the data has no target.
        ``lines`` holds each row's line number in a CSV file.  A CSV file may have
        missing cells (NaN in ``X``) and text columns (``text``); see
        :class:`~chainrule.data.Dataset`.

    Raises
    ------
    DataFileError
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if missing_target not in ("error", "drop"):
        raise ValueError(f"missing_target must be 'error' or 'drop', got {missing_target!r}")
    p = Path(path)
    texts: dict[int, TextColumn] = {}
    ignored: list[str] = []
    names: list[str] = []
    fast = _read_fast(
        p, target, has_target, header, n_features, target_hint, columns, missing_target, decimal
    )
    raw = b"" if fast is not None else read_bytes(p, "data file")
    if fast is not None:
        X, y_raw, names, target_name, lines, texts, ignored = fast
    elif raw[:4] == b"PK\x03\x04":
        X, y_raw = _read_npz(p, raw, x_key, y_key, has_target, n_features)
        lines = None
        target_name = y_key if y_raw is not None else None
    elif raw[:6] == b"\x93NUMPY":
        X, y_raw, names, target_name = _read_npy(p, raw, target, has_target, n_features)
        lines = None
    elif raw[:2] == b"\x1f\x8b" or (raw[:2] == b"\x00\x00" and len(raw) >= 4):
        X, y_raw = _read_idx(p, raw, labels)
        lines, names, target_name = None, [], ("labels" if y_raw is not None else None)
    else:
        X, y_raw, names, target_name, lines, texts, ignored = _read_csv(
            p, raw, target, has_target, header, n_features, target_hint, columns, decimal
        )
    dropped = np.empty(0, dtype=np.int64)
    if y_raw is not None:
        gone = _missing_targets(y_raw)
        if gone.any():
            where = np.flatnonzero(gone)
            if missing_target == "error":
                i = int(where[0])
                cell = str(y_raw[i]).strip()
                what = "empty" if not cell else f"missing ({cell!r})"
                raise DataFileError(
                    f"{p}: {_where(i, lines)}, target {target_name!r}: the "
                    f"cell is {what}; every row needs a target value"
                    + (f" ({len(where)} rows have none)" if len(where) > 1 else "")
                )
            if len(where) == len(gone):
                raise DataFileError(f"{p}: every row's target {target_name!r} is missing")
            dropped = (lines[where] if lines is not None else where + 1).astype(np.int64)
            keep = ~gone
            decoded = _decoded(y_raw)
            X, y_raw = X[keep], y_raw[keep]
            if decoded is not None:
                remember_decoded(y_raw, decoded[0], decoded[1][keep])
            lines = None if lines is None else lines[keep]
            texts = {j: cells[keep] for j, cells in texts.items()}
    if n_features is not None and X.shape[1] != n_features:
        raise DataFileError(
            f"{p}: has {X.shape[1]} feature columns, expected {n_features} (the model's input size)"
        )
    # CSV rows are checked as read, tables read through pyarrow by column.
    bad = first_nonfinite(X) if lines is None and fast is None else None
    if bad is not None:
        row, col = bad
        raise DataFileError(
            f"{p}: {_where(row, lines)}, {_col(col, names)}: {X[row, col]} is not a finite number"
        )
    name = p.name
    # The read's temporaries, not held through training: handed back once the targets are
    # made too (their freed temporaries, ~24 MB for 1,000,000 rows, stay in glibc's heap).
    give_back = (
        TABLE_READERS["give_back"]
        if fast is not None and X.nbytes > 1 << 25 and "give_back" in TABLE_READERS
        else lambda: None
    )
    if y_raw is None:
        give_back()
        return Dataset(
            X=X,
            y=np.empty(0),
            task=task or "",
            name=name,
            class_names=list(class_names or []),
            feature_names=names,
            lines=lines,
            text=texts,
            ignored_columns=ignored,
        )
    y, task, found_names = _targets(p, y_raw, task, class_names, lines, target_name)
    del y_raw
    give_back()
    return Dataset(
        X=X,
        y=y,
        task=task,
        name=name,
        class_names=found_names,
        feature_names=names,
        target_name=target_name,
        lines=lines,
        text=texts,
        ignored_columns=ignored,
        dropped=dropped,
    )


#: Text cells that the table reader made from dictionary codes: ``id(cells)`` →
#: (a weak reference to them, their distinct values, each row's index into those), so
#: that the target's classes are not found again by sorting a million strings.  The
#: distinct values need not be sorted, nor unique, but each is some row's.
_DECODED: dict[int, tuple[Any, np.ndarray, np.ndarray]] = {}


def remember_decoded(cells: np.ndarray, distinct: np.ndarray, inverse: np.ndarray) -> None:
    """Note that ``cells == distinct[inverse]`` (both of shape ``(n,)``); distinct
    values no row takes are left out, as :func:`numpy.unique` would."""
    import weakref

    used = np.bincount(inverse, minlength=len(distinct)) > 0
    if not used.all():
        distinct, inverse = distinct[used], (np.cumsum(used) - 1)[inverse]
    key = id(cells)
    _DECODED[key] = (weakref.ref(cells, lambda _: _DECODED.pop(key, None)), distinct, inverse)


def _decoded(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(distinct, inverse)`` of cells noted by :func:`remember_decoded`, else None."""
    entry = _DECODED.get(id(cells))
    if entry is None or entry[0]() is not cells:
        return None
    return entry[1], entry[2]


def _missing_targets(y_raw: np.ndarray) -> np.ndarray:
    """Rows whose target cell is missing (a missing-value token, or NaN)."""
    if y_raw.dtype.kind == "f":
        return np.isnan(y_raw)
    if y_raw.dtype.kind in "US":
        # Each distinct label looked at once (a million rows, a few classes).
        distinct, which = _decoded(y_raw) or np.unique(y_raw, return_inverse=True)
        gone = np.array(
            [str(v).strip().lower() in MISSING_TOKENS for v in distinct.tolist()], dtype=bool
        )
        return gone[which.reshape(-1)]
    return np.zeros(len(y_raw), dtype=bool)


def _sniff(p: Path) -> bytes:
    try:
        with open(p, "rb") as f:
            return f.read(8)
    except OSError:
        return b""


#: The table engine's readers, registered by :mod:`chainrule.data.table` when it is imported
#: (``chainrule.data`` imports it): ``sniff`` (the first bytes → a format or None),
#: ``arrow_file`` (Parquet, Feather, Arrow IPC) and ``csv``.  Registered rather than imported
#: here, because the table reader uses this module's checks and messages: the two modules
#: do not import each other.
TABLE_READERS: dict[str, Callable[..., Any]] = {}


def register_table_readers(
    *,
    sniff: Callable[..., Any],
    arrow_file: Callable[..., Any],
    csv: Callable[..., Any],
    give_back: Callable[[], None] | None = None,
) -> None:
    """Route CSV/TSV, Parquet, Feather and Arrow files through a table engine's readers
    (``give_back``: hand the memory a large read freed back to the operating system)."""
    TABLE_READERS.update(sniff=sniff, arrow_file=arrow_file, csv=csv)
    if give_back is not None:
        TABLE_READERS["give_back"] = give_back


def _read_fast(
    p: Path,
    target: str | int | None,
    has_target: bool | None,
    header: bool | None,
    n_features: int | None,
    target_hint: str | None,
    columns: list[str] | None,
    missing_target: str,
    decimal: str,
) -> tuple[Any, ...] | None:
    """A CSV/TSV, Parquet, Feather or Arrow file through pyarrow (``data.table``), or None
    for the line-by-line readers (NumPy, IDX, and CSV files the fast path hands back)."""
    from ..input_files import InputFileError, check_input_file

    try:  # the opener's checks before pyarrow opens the path itself
        if check_input_file(p, "data file") == 0:
            return None  # read_bytes says why
    except InputFileError as exc:
        raise DataFileError(str(exc)) from None
    head = _sniff(p)
    if (
        head[:4] == b"PK\x03\x04"
        or head[:6] == b"\x93NUMPY"
        or head[:2] == b"\x1f\x8b"
        or head[:2] == b"\x00\x00"
    ):
        return None
    if not TABLE_READERS:  # pragma: no cover - chainrule.data registers them
        return None
    try:
        import pyarrow  # noqa: F401
    except ImportError:  # pragma: no cover - pyarrow is a core dependency
        return None
    if TABLE_READERS["sniff"](head) is not None:
        return TABLE_READERS["arrow_file"](
            p,
            target=target,
            has_target=has_target,
            n_features=n_features,
            target_hint=target_hint,
            columns=columns,
        )
    try:
        result = TABLE_READERS["csv"](
            p,
            target=target,
            has_target=has_target,
            header=header,
            n_features=n_features,
            target_hint=target_hint,
            columns=columns,
            decimal=decimal,
        )
    except UnicodeDecodeError:
        return None
    if (
        result is not None
        and missing_target == "error"
        and result[1] is not None
        and _missing_targets(result[1]).any()
    ):
        return None  # the line-by-line reader names the cell as written
    return result


def _check_duplicates(p: Path | str, names: list[str]) -> None:
    """A header naming a column twice is refused, naming it (which one would be meant?)."""
    seen: set[str] = set()
    twice = [n for n in names if n in seen or seen.add(n)]  # type: ignore[func-returns-value]
    if twice:
        listed = ", ".join(repr(n) for n in dict.fromkeys(twice))
        raise DataFileError(
            f"{p}: the header names column {listed} more than once, so "
            f"it cannot be matched to the model's column of that name"
            if len(set(twice)) == 1
            else f"{p}: the header names columns {listed} more than once"
        )


# ---------------------------------------------------------------------- places in a file


def _where(row: int, lines: np.ndarray | None) -> str:
    return f"line {int(lines[row])}" if lines is not None else f"row {row + 1}"


def _col(col: int, names: list[str]) -> str:
    named = f" ({names[col]!r})" if names and col < len(names) else ""
    return f"column {col + 1}{named}"


# ---------------------------------------------------------------------- targets


def _label_text(value: object) -> str:
    """A class label as text; numbers that are integers lose their ``.0``."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if np.isfinite(number) and number == int(number):
        return str(int(number))
    return text


def _targets(
    p: Path,
    y_raw: np.ndarray,
    task: str | None,
    class_names: list[str] | None,
    lines: np.ndarray | None,
    target_name: str | None,
) -> tuple[np.ndarray, str, list[str]]:
    """Turn raw target cells into class indices (with names) or float values."""
    what = f"target {target_name!r}" if target_name else "target"
    if y_raw.dtype.kind == "b":  # boolean labels are the classes 0 and 1
        y_raw = y_raw.astype(np.int64)
    numeric: np.ndarray | None = None
    if y_raw.dtype.kind in "biuf":
        numeric = y_raw.astype(np.float64)
    else:
        try:
            numeric = y_raw.astype(np.float64)
        except (ValueError, TypeError):
            numeric = None
    if numeric is not None:
        bad = first_nonfinite(numeric)
        if bad is not None:
            raise DataFileError(
                f"{p}: {_where(bad[0], lines)}, {what}: {numeric[bad[0]]} is not a finite number"
            )
    unique: tuple[np.ndarray, np.ndarray] | None = None  # computed once, used twice
    if task is None:
        if class_names is not None:
            task = "classification" if class_names else "regression"
        elif numeric is None:
            task = "classification"
        else:
            integral = bool(np.all(numeric == np.round(numeric)))
            unique = _unique_inverse(numeric, integral)
            few = len(unique[0]) <= min(MAX_AUTO_CLASSES, max(2, len(numeric) // 2))
            task = "classification" if integral and few else "regression"
    if task == "regression":
        if numeric is None:
            i = _first_non_number(y_raw)
            raise DataFileError(
                f"{p}: {_where(i, lines)}, {what}: {str(y_raw[i])[:40]!r} "
                f"is not a number (a regression target must be numeric)"
            )
        return numeric, task, []
    # Each distinct cell is turned into its label once (a million rows, a few classes).
    if unique is None:
        values = numeric if numeric is not None else y_raw
        integral = numeric is not None and bool(np.all(numeric == np.round(numeric)))
        unique = _unique_inverse(values, integral)
    distinct, cell_of = unique
    label_of = np.array([_label_text(v) for v in distinct.tolist()], dtype=str)
    texts_u, label_index = np.unique(label_of, return_inverse=True)
    row_label = label_index[cell_of.reshape(-1)]
    if class_names is None:
        names, y = texts_u, row_label
        # Numeric labels sort by value (2 before 10), text labels alphabetically.
        if numeric is not None:
            order = np.argsort(names.astype(np.float64), kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            names, y = names[order], rank[y]
        return y.astype(np.int64), task, [str(n) for n in names]
    index = {name: i for i, name in enumerate(class_names)}
    known = np.array([index.get(str(label), -1) for label in texts_u.tolist()], dtype=np.int64)
    y = known[row_label]
    if (y < 0).any():
        i = int(np.flatnonzero(y < 0)[0])
        label = str(texts_u[row_label[i]])
        raise DataFileError(
            f"{p}: {_where(i, lines)}, {what}: class {label[:40]!r} was never seen in "
            f"training (the model knows {_short_list(class_names)})"
        )
    return y, task, list(class_names)


def _unique_inverse(values: np.ndarray, integral: bool) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)``; for whole numbers within a small
    range by counting (one pass, no sort: a million integer labels in milliseconds)."""
    if integral and len(values):
        lo, hi = float(values.min()), float(values.max())
        if hi - lo < 1 << 16:
            offset = (values - lo).astype(np.intp)
            present = np.bincount(offset) > 0
            position = np.cumsum(present) - 1
            distinct = np.flatnonzero(present).astype(values.dtype) + lo
            return distinct, position[offset]
    decoded = _decoded(values)
    if decoded is not None:
        return decoded
    distinct, inverse = np.unique(values, return_inverse=True)
    return distinct, inverse.reshape(-1)


def _short_list(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def _first_non_number(cells: np.ndarray) -> int:
    for i, cell in enumerate(cells.tolist()):
        try:
            float(cell)
        except (ValueError, TypeError):
            return i
    return 0


# ---------------------------------------------------------------------- NumPy files


def _load_numpy(p: Path, raw: bytes) -> object:
    # allow_pickle=False: an object array (which would need unpickling, i.e. running
    # code from the file) is refused by NumPy with a ValueError.
    try:
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except _NUMPY_ERRORS as exc:
        raise DataFileError(f"{p}: not a readable NumPy file ({_short(exc)})") from None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]


def _read_npz(
    p: Path, raw: bytes, x_key: str, y_key: str, has_target: bool | None, n_features: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    archive = _load_numpy(p, raw)
    assert isinstance(archive, np.lib.npyio.NpzFile)
    with archive:
        keys = list(archive.files)
        if x_key not in keys:
            raise DataFileError(
                f"{p}: no array named {x_key!r} (it holds "
                f"{', '.join(map(repr, keys)) or 'nothing'})"
            )
        if has_target is True and y_key not in keys:
            raise DataFileError(
                f"{p}: no array named {y_key!r} (it holds {', '.join(map(repr, keys))})"
            )
        try:
            X = archive[x_key]
            y = archive[y_key] if has_target is not False and y_key in keys else None
        except _NUMPY_ERRORS as exc:
            raise DataFileError(f"{p}: a corrupt array ({_short(exc)})") from None
    X = _as_feature_matrix(p, X, x_key)
    if y is not None:
        y = _as_target_vector(p, y, len(X), y_key)
    return X, y


def _read_npy(
    p: Path, raw: bytes, target: str | int | None, has_target: bool | None, n_features: int | None
) -> tuple[np.ndarray, np.ndarray | None, list[str], str | None]:
    arr = _load_numpy(p, raw)
    assert isinstance(arr, np.ndarray)
    if arr.ndim != 2:
        raise DataFileError(
            f"{p}: a .npy data file must hold a 2-D array (rows, columns), got shape {arr.shape}"
        )
    _check_columns(p, arr.shape[1], n_features, has_target)
    if has_target is None:
        has_target = n_features is not None and arr.shape[1] == n_features + 1
    if not has_target:
        return _as_feature_matrix(p, arr, "array"), None, [], None
    t = _column_index(p, target, arr.shape[1], [])
    keep = np.arange(arr.shape[1]) != t
    X = _as_feature_matrix(p, arr[:, keep], "array")
    return X, arr[:, t], [], f"column {t + 1}"


def _check_columns(p: Path, n_cols: int, n_features: int | None, has_target: bool | None) -> None:
    """Check a table's column count against the model's input size, before parsing it."""
    if n_features is None:
        return
    if has_target is None and n_cols not in (n_features, n_features + 1):
        raise DataFileError(
            f"{p}: has {n_cols} columns, expected {n_features} features "
            f"(the model's input size), or {n_features + 1} with a target"
        )
    if has_target and n_cols != n_features + 1:
        missing = " (no target column?)" if n_cols == n_features else ""
        raise DataFileError(
            f"{p}: has {n_cols} columns, expected {n_features + 1}: the "
            f"model's input size {n_features} and a target{missing}"
        )


def _as_feature_matrix(p: Path, arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise DataFileError(f"{p}: {what!r} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim > 2:  # images: one flattened row each
        arr = arr.reshape(len(arr), -1)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataFileError(f"{p}: {what!r} holds no data (shape {arr.shape})")
    return np.asarray(arr, dtype=np.float64)


def _as_target_vector(p: Path, y: np.ndarray, n: int, what: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataFileError(f"{p}: {what!r} must be 1-D (one target per row), got shape {y.shape}")
    if len(y) != n:
        raise DataFileError(f"{p}: {what!r} has {len(y)} rows but the features have {n}")
    if y.dtype.kind not in "biufU":
        raise DataFileError(f"{p}: {what!r} must hold numbers or text, got dtype {y.dtype}")
    return y


# ---------------------------------------------------------------------- IDX


def _read_idx(
    p: Path, raw: bytes, labels: str | os.PathLike[str] | None
) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        images = parse_idx(raw, p)
    except IDXError as exc:
        raise DataFileError(str(exc)) from None
    if images.ndim < 2:
        raise DataFileError(
            f"{p}: an IDX data file needs one row per example (2 or more "
            f"dimensions), got shape {images.shape}"
        )
    X = _as_feature_matrix(p, images, "images")
    if labels is None:
        return X, None
    lp = Path(labels)
    try:
        y = parse_idx(read_bytes(lp, "IDX label file"), lp)
    except IDXError as exc:
        raise DataFileError(str(exc)) from None
    return X, _as_target_vector(lp, y, len(X), "labels")


# ---------------------------------------------------------------------- CSV


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _column_index(p: Path, target: str | int | None, n_cols: int, names: list[str]) -> int:
    """The 0-based index of the target column."""
    if n_cols < 2:
        raise DataFileError(
            f"{p}: has {n_cols} column, so no room for features and a "
            f"target (use a data file with at least 2 columns)"
        )
    if target is None:
        return n_cols - 1
    if isinstance(target, str) and target in names:
        return names.index(target)
    try:
        index = int(target)
    except ValueError:
        if not names:
            raise DataFileError(
                f"{p}: has no header line, so the target must be a column "
                f"index (0..{n_cols - 1}), got {target!r}"
            ) from None
        raise DataFileError(
            f"{p}: no column named {target!r} (columns: {_short_list(names)})"
        ) from None
    if not -n_cols <= index < n_cols:
        raise DataFileError(
            f"{p}: target column {index} does not exist (the file has "
            f"{n_cols} columns: 0..{n_cols - 1})"
        )
    return index % n_cols


#: Cells converted to floats at a time: the Python strings of one block (about 15 MB)
#: are freed before the next is parsed, so memory stays near the size of the floats.
CSV_BLOCK_CELLS = 1 << 18

#: Cell texts (compared lower-case, stripped) that mean "no value": such a cell is
#: missing (NaN in a numeric column, ``""`` in a text column), see ``--missing``.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})

#: Boolean text read as numbers.
_BOOLEANS = {"true": 1.0, "false": 0.0}


def _csv_rows(
    p: Path, reader: Iterator[list[str]], line_num: Callable[[], int]
) -> Iterator[tuple[int, list[str]]]:
    """``(line, cells)`` for each non-blank row; a CSV syntax error names its line.

    The reader is strict, so a quote that is never closed is an error naming the
    line where the quoted cell began (not a cell swallowing the rest of the file).
    """
    start = 1
    try:
        for row in reader:
            if row and not (len(row) == 1 and not row[0].strip()):  # blank lines carry no data
                yield line_num(), row
            start = line_num() + 1
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise DataFileError(
                f'{p}: line {start}: a quote (") opens a cell that is never closed'
            ) from None
        raise DataFileError(f"{p}: line {line_num()}: not valid CSV ({exc})") from None


def _select(p: Path, names: list[str], columns: list[str], t: int | None) -> list[int]:
    """File columns (0-based) of the named feature ``columns``; a missing one is an error."""
    index = {name: j for j, name in enumerate(names)}
    twice = [c for c in columns if names.count(c) > 1]
    if twice:
        raise DataFileError(
            f"{p}: the header names column {twice[0]!r} more than once, so "
            f"it cannot be matched to the model's column of that name"
        )
    absent = [c for c in columns if c not in index]
    if absent:
        some = ", ".join(repr(c) for c in absent[:5]) + (
            f" and {len(absent) - 5} more" if len(absent) > 5 else ""
        )
        raise DataFileError(
            f"{p}: no column named {some}, which the model needs (its "
            f"features: {_short_list(columns)})"
        )
    chosen = [index[c] for c in columns]
    if t is not None and t in chosen:
        raise DataFileError(
            f"{p}: the target column {names[t]!r} is also one of the model's features"
        )
    return chosen


class _Rows:
    """A float matrix filled block by block, its capacity grown as rows arrive.

    The capacity starts at one block and doubles: it follows the rows actually
    read, so a file of blank lines (or one long quoted cell) costs nothing.
    """

    def __init__(self, n_cols: int, first: int) -> None:
        self.data = np.empty((max(1, first), n_cols), dtype=np.float64)
        self.n = 0

    def add(self, part: np.ndarray) -> None:
        need = self.n + len(part)
        if need > len(self.data):
            grown = np.empty((max(need, 2 * len(self.data)), self.data.shape[1]))
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : need] = part
        self.n = need

    def result(self) -> np.ndarray:
        # Copy only when many allocated rows are unused.
        X = self.data[: self.n]
        return X if self.n > 0.9 * len(self.data) else X.copy()


class _ColumnKinds:
    """Which feature columns hold text, and their cells, decided block by block.

    A column is numeric while its cells read as numbers (missing-value tokens are
    NaN, ``True``/``False`` are 1/0); the first cell that does not turns it into a
    text column, and its earlier numbers become text too.  A column in which the
    numbers are at least as many as the text cells is taken as a numeric column
    with a typo: an error naming the first non-number cell.
    """

    def __init__(self, p: Path, n_cols: int, names: list[str], file_col: list[int]) -> None:
        self.p, self.names, self.file_col = p, names, file_col
        self.text: dict[int, list[np.ndarray]] = {}
        self.numbers = np.zeros(n_cols, dtype=np.int64)
        self.words = np.zeros(n_cols, dtype=np.int64)
        self.first_word: dict[int, tuple[int, str]] = {}

    def convert(self, cells: list[list[str]], lines: list[int], done: np.ndarray) -> np.ndarray:
        """The block's float matrix; ``done`` holds the earlier blocks' rows."""
        n, m = len(cells), len(self.file_col)
        if not self.text:
            try:
                part = np.array(cells, dtype=np.float64).reshape(n, m)
            except ValueError:
                pass
            else:
                self.numbers += n - np.isnan(part).sum(axis=0)
                return part
        part = np.empty((n, m), dtype=np.float64)
        for j in range(m):
            column = [row[j] for row in cells]
            if j not in self.text:
                values = _as_numbers(column)
                if values is not None:
                    part[:, j] = values
                    self.numbers[j] += n - int(np.isnan(values).sum())
                    continue
                self.text[j] = [_numbers_as_text(done[:, j])]
            words = [cell.strip() for cell in column]
            words = ["" if w.lower() in MISSING_TOKENS else w for w in words]
            for i, w in enumerate(words):
                if not w:
                    continue
                if _is_number(w) or w.lower() in _BOOLEANS:
                    self.numbers[j] += 1
                else:
                    self.words[j] += 1
                    if j not in self.first_word:
                        self.first_word[j] = (lines[i], w)
            self.text[j].append(np.array(words, dtype=str))
            part[:, j] = np.nan
        return part

    def finish(self) -> dict[int, TextColumn]:
        for j in self.text:
            if self.numbers[j] >= self.words[j]:
                line, word = self.first_word[j]
                raise DataFileError(
                    f"{self.p}: line {line}, "
                    f"{_col(self.file_col[j], self.names)}: {word[:40]!r} is "
                    f"not a number"
                )
        return {j: TextColumn.from_cells(np.concatenate(parts)) for j, parts in self.text.items()}


def _as_numbers(cells: list[str]) -> np.ndarray | None:
    """The cells as floats (missing → NaN, booleans → 1/0), or None if one is text."""
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        pass
    out = np.empty(len(cells), dtype=np.float64)
    for i, cell in enumerate(cells):
        word = cell.strip().lower()
        if word in MISSING_TOKENS:
            out[i] = np.nan
        elif word in _BOOLEANS:
            out[i] = _BOOLEANS[word]
        else:
            try:
                out[i] = float(word)
            except ValueError:
                return None
    return out


def _numbers_as_text(values: np.ndarray) -> np.ndarray:
    """Earlier numeric cells of a column that turned out to hold text."""
    return np.array(["" if np.isnan(v) else _label_text(v) for v in values.tolist()], dtype=str)


def _space_separated(text: str) -> bool:
    """True when the first two lines hold no comma, semicolon or tab and split into the
    same number (at least 2) of space-separated cells (so that a one-column file whose
    header has a space stays one column)."""
    # Line by line from the start (a big file's text is not split whole).
    lines = list(itertools.islice((line for line in io.StringIO(text) if line.strip()), 2))
    if len(lines) < 2 or any(c in line for line in lines for c in ',;\t"'):
        return False
    counts = {len(line.split()) for line in lines}
    return len(counts) == 1 and counts.pop() >= 2


def _read_csv(
    p: Path,
    raw: bytes,
    target: str | int | None,
    has_target: bool | None,
    header: bool | None,
    n_features: int | None,
    target_hint: str | None = None,
    columns: list[str] | None = None,
    decimal: str = ".",
) -> tuple[
    np.ndarray,
    np.ndarray | None,
    list[str],
    str | None,
    np.ndarray,
    dict[int, TextColumn],
    list[str],
]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataFileError(f"{p}: line {line}: not UTF-8 text (is it a CSV file?)") from None
    end = text.find("\n")
    first_line = text if end < 0 else text[:end]  # (split would copy the rest of the text)
    delimiter = (
        "\t"
        if p.suffix.lower() == ".tsv" or ("\t" in first_line and "," not in first_line)
        else ";"
        if (";" in first_line and "," not in first_line)
        else ","
    )
    spaced = delimiter == "," and _space_separated(text)
    if spaced:
        # Cells separated by runs of spaces (scikit-learn's linnerud_*.csv, many
        # instruments' exports): the ends of each line trimmed, runs read as one.
        delimiter = " "
        text = "\n".join(line.strip() for line in text.splitlines())
    # newline="": the csv module sees line endings as they are (quoted cells may hold them).
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, strict=True, skipinitialspace=spaced
    )
    rows = _csv_rows(p, reader, lambda: reader.line_num)
    head = list(itertools.islice(rows, 2))
    if not head:
        raise DataFileError(f"{p}: the file is empty (no rows of data)")
    n_cols = len(head[0][1])
    if header is None:
        header = _looks_like_header([row for _, row in head])
    names: list[str] = []
    if header:
        names = [cell.strip() for cell in head[0][1]]
        _check_duplicates(p, names)
        head = head[1:]
    by_name = columns is not None and bool(names)
    if not by_name:
        _check_columns(p, n_cols, n_features, has_target)
    if has_target is None:
        if by_name:
            # Features are picked by name, so a target column is just not read (its
            # cells may be empty: rows to predict); --target asks for it explicitly.
            has_target = target is not None
        else:
            has_target = n_features is not None and n_cols == n_features + 1
    t: int | None = None
    target_name: str | None = None
    if has_target:
        if target is None and target_hint is not None and target_hint in names:
            target = target_hint
        elif target is None and by_name and target_hint is not None:
            raise DataFileError(
                f"{p}: no column named {target_hint!r} (the target in "
                f"training); name the target column with --target"
            )
        t = _column_index(p, target, n_cols, names)
        target_name = names[t] if names else f"column {t + 1}"
    if by_name:
        assert columns is not None
        file_col = _select(p, names, columns, t)
    else:
        # File column (0-based) of each feature column.
        file_col = [j for j in range(n_cols) if j != t]
    feature_names = [names[j] for j in file_col] if names else []
    chosen = set(file_col)  # once: rebuilt per column, 100,000 columns took minutes
    ignored = (
        [names[j] for j in range(n_cols) if j != t and j not in chosen and names[j] != target_hint]
        if names
        else []
    )
    all_but_target = file_col == [j for j in range(n_cols) if j != t]

    block_rows = max(1, CSV_BLOCK_CELLS // n_cols)
    X = _Rows(len(file_col), block_rows)
    kinds = _ColumnKinds(p, len(file_col), names, file_col)
    targets: list[str] = []
    lines: list[int] = []

    def convert(block: list[list[str]], block_lines: list[int]) -> None:
        for row, line in zip(block, block_lines, strict=True):
            if len(row) != n_cols:
                raise DataFileError(
                    f"{p}: line {line} has {len(row)} fields, expected "
                    f"{n_cols} (as in the first line)"
                )
        if t is not None:
            for row in block:
                targets.append(row[t].strip())
        if all_but_target:
            # Pop the target cell out of each row in place: the feature cells are then
            # converted in one NumPy call, without another copy of the table.
            if t is not None:
                for row in block:
                    del row[t]
            cells = block
        else:
            cells = [[row[j] for j in file_col] for row in block]
        if decimal != ".":
            cells = [
                [
                    c.replace(decimal, ".") if c.count(decimal) == 1 and "." not in c else c
                    for c in row
                ]
                for row in cells
            ]
        part = kinds.convert(cells, block_lines, X.data[: X.n])
        bad = first_nonfinite(np.where(np.isnan(part), 0.0, part))
        if bad is not None:
            raise DataFileError(
                f"{p}: line {block_lines[bad[0]]}, "
                f"{_col(file_col[bad[1]], names)}: {part[bad]} is not a finite "
                f"number"
            )
        X.add(part)
        lines.extend(block_lines)

    block: list[list[str]] = []
    block_lines: list[int] = []
    for line, row in itertools.chain(head, rows):
        block.append(row)
        block_lines.append(line)
        if len(block) == block_rows:
            convert(block, block_lines)
            block, block_lines = [], []
    if block:
        convert(block, block_lines)
    if X.n == 0:
        raise DataFileError(f"{p}: has a header line but no rows of data")
    texts = kinds.finish()
    y_raw = np.array(targets, dtype=str) if t is not None else None
    return (
        X.result(),
        y_raw,
        feature_names,
        target_name,
        np.asarray(lines, dtype=np.int64),
        texts,
        ignored,
    )


def _looks_like_header(rows: list[list[str]]) -> bool:
    """A header line has a non-number in a column where the next line has a number.

    With a single line, or when no column has a number on the second line (a table
    of text only), it is a header when its cells are distinct non-empty non-numbers
    (names): tables nearly always have one, and ``--no-header`` says otherwise.
    """
    first = rows[0]
    names = [c.strip() for c in first]
    named = all(c and not _is_number(c) for c in names) and len(set(names)) == len(names)
    if len(rows) == 1:
        return named
    second = rows[1]
    if any(_is_number(b) for b in second):
        return any(not _is_number(a) and _is_number(b) for a, b in zip(first, second, strict=False))
    return named
