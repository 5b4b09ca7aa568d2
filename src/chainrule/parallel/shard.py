"""One MPI rank's rows of a data file, and preprocessing fitted across all ranks.

For data-parallel training on data larger than one machine's memory
(:mod:`chainrule.parallel.mpi`): rank ``r`` of ``N`` reads only its block
of rows — a memory-mapped slice of a ``.npy`` array, or its ``1/N`` byte range of
a CSV file (the lines that *start* in it) — and the statistics that need every
row are summed across ranks with ``Allreduce``:

* the class names (the union of every rank's labels, in the order one process
  would give them: numbers by value, text alphabetically);
* standardisation (``Σ x`` and ``Σ (x − mean)²`` with the row count: the same
  two-pass mean and standard deviation as :class:`Standardizer`, to rounding)
  and min-max scaling (``MIN``/``MAX``, exact).

The readers are collective: every rank of ``comm`` calls them, and an error on
any rank (a bad cell, a missing file) raises on every rank, the message on the
rank that found it and :class:`~chainrule.parallel.mpi.PeerFailed`
elsewhere.  mpi4py is imported only when they run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..data.files import TASKS, DataFileError, _read_csv, _targets
from ..data.preprocessing import MinMaxScaler, NoScaling, Scaler, Standardizer
from .mpi import World, _mpi

__all__ = [
    "Shard",
    "block",
    "fit_scaler",
    "fit_scaler_in_blocks",
    "read_csv_shard",
    "read_npy_shard",
]


@dataclass
class Shard:
    """This rank's rows of a data set.

    Attributes
    ----------
    X : ndarray of shape (k, n_features), float64
        The rank's ``k`` rows of features.
    y : ndarray of shape (k,)
        Class indices (int64) for classification, values (float64) for regression.
    rows : (start, stop, n)
        The rank holds global rows ``start:stop`` of ``n`` (pass to
        ``DataParallel(comm, rows=shard.rows)``).
    class_names : list of str
        Every rank's classes, in one process's order; empty for regression.
    task : {"classification", "regression"}
    feature_names : list of str
    target_name : str or None
    """

    X: np.ndarray
    y: np.ndarray
    rows: tuple[int, int, int]
    class_names: list[str]
    task: str
    feature_names: list[str] = field(default_factory=list)
    target_name: str | None = None


def block(n: int, rank: int, size: int) -> tuple[int, int]:
    """Rows ``start:stop`` of rank ``rank`` when ``n`` rows are cut into ``size`` blocks."""
    return n * rank // size, n * (rank + 1) // size


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(
            f"task must be one of {', '.join(TASKS)} for a sharded read "
            f"(no rank sees enough rows to guess), got {task!r}"
        )


def _global_classes(comm: Any, p: Path, y_raw: np.ndarray, target_name: str | None) -> list[str]:
    """The class names of every rank's labels, ordered as one process orders them."""
    local = np.unique(y_raw)
    everything = np.concatenate([np.asarray(part) for part in comm.allgather(local)])
    _, _, names = _targets(p, everything, "classification", None, None, target_name)
    return names


def _rows_across(comm: Any, k: int) -> tuple[int, int, int]:
    """(start, stop, n) of this rank's ``k`` rows in rank order."""
    counts = comm.allgather(k)
    start = sum(counts[: comm.Get_rank()])
    return start, start + k, sum(counts)


def read_npy_shard(
    path: str | os.PathLike[str], comm: Any, *, task: str, target: int | None = None
) -> Shard:
    """This rank's block of rows of a 2-D ``.npy`` array (features and a target column).

    The file is memory-mapped: only the rank's rows are read from disk.

    Parameters
    ----------
    path : path of a ``.npy`` file holding an array of shape (n, n_columns)
    comm : mpi4py.MPI.Comm
    task : {"classification", "regression"}
    target : int, optional
        The target column (default: the last).
    """
    p = Path(path)
    world = World(comm)
    with world.agree():
        _check_task(task)
        try:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise DataFileError(f"{p}: no such file") from None
        except (OSError, ValueError) as exc:
            raise DataFileError(f"{p}: not a readable .npy file ({exc})") from None
        if arr.ndim != 2 or arr.shape[1] < 2 or arr.dtype.kind not in "biuf":
            raise DataFileError(
                f"{p}: a sharded .npy file must hold a 2-D numeric array with "
                f"features and a target, got {arr.dtype} of shape {arr.shape}"
            )
        n, n_cols = arr.shape
        t = (n_cols - 1 if target is None else int(target)) % n_cols
        start, stop = block(n, world.rank, world.size)
        rows = np.asarray(arr[start:stop])  # the only read of the file's data
        keep = np.arange(n_cols) != t
        X = rows[:, keep].astype(np.float64)
        y_raw = rows[:, t]
        bad = np.argwhere(~np.isfinite(rows.astype(np.float64)))
        if len(bad):
            i, j = bad[0]
            raise DataFileError(
                f"{p}: row {start + i}, column {j}: {rows[i, j]} is not a finite number"
            )
    name = f"column {t + 1}"
    names = _global_classes(comm, p, y_raw, name) if task == "classification" else []
    with world.agree():
        y, _, _ = _targets(p, y_raw, task, names if names else None, None, name)
    return Shard(X=X, y=y, rows=(start, stop, n), class_names=names, task=task, target_name=name)


def read_csv_shard(
    path: str | os.PathLike[str],
    comm: Any,
    *,
    task: str,
    target: str | int | None = None,
    header: bool | None = None,
) -> Shard:
    """This rank's lines of a CSV file: those that start in its ``1/N`` of the bytes.

    Every rank reads the first line (the header, if any) and its own byte range;
    error messages give the line numbers of the whole file.

    Parameters
    ----------
    path : path of a CSV file, as :func:`chainrule.data.read_data_file` reads it
    comm : mpi4py.MPI.Comm
    task : {"classification", "regression"}
    target : str or int, optional
        The target column, by header name or 0-based index (default: the last).
    header : bool, optional
        Whether the first line names the columns (default: detected from the
        first two lines, as for one process).
    """
    p = Path(path)
    world = World(comm)
    with world.agree():
        _check_task(task)
        try:
            with open(p, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                first = f.readline()
                second = f.readline()
                if header is None:  # as one process decides it, from the first two lines
                    header = bool(_read_csv(p, first + second, target, True, None, None)[2])
                body = len(first) if header else 0
                lo, hi = (body + b for b in block(size - body, world.rank, world.size))
                f.seek(lo)
                if lo > body:  # a line that starts before lo belongs to the previous rank
                    f.seek(lo - 1)
                    if f.read(1) != b"\n":
                        f.readline()
                begin = f.tell()
                chunk = f.read(max(0, hi - begin))
                if chunk and not chunk.endswith(b"\n"):
                    chunk += f.readline()  # finish the line that starts in this range
        except FileNotFoundError:
            raise DataFileError(f"{p}: no such file") from None
        except OSError as exc:
            raise DataFileError(f"{p}: {exc.strerror}") from None
    # The line number of the chunk's first line: newlines before it, summed across ranks.
    before = comm.exscan(chunk.count(b"\n")) if world.size > 1 else 0
    first_line = (before or 0) + (2 if header else 1)
    with world.agree():
        if not chunk.strip():
            raise DataFileError(
                f"{p}: too few lines for {world.size} ranks (rank {world.rank} got none)"
            )
        raw = (first if header else b"") + chunk
        try:
            X, y_raw, feature_names, target_name, lines, texts, _ = _read_csv(
                p, raw, target, True, header, None
            )
            if y_raw is not None:
                # The line reader leaves a missing target as "": as one process, an error.
                from ..data.files import _missing_targets

                gone = np.flatnonzero(_missing_targets(y_raw))
                if gone.size:
                    raise DataFileError(
                        f"{p}: line {int(lines[gone[0]])}, target "
                        f"{target_name!r}: the cell is empty; every row "
                        f"needs a target value"
                    )
        except DataFileError as exc:
            raise DataFileError(_shift_lines(str(exc), first_line - (2 if header else 1))) from None
        # Text columns and missing cells need encodings fitted on all rows first
        # (data/tables.py); sharded reading takes numeric, complete tables only.
        if texts:
            j = min(texts)
            name = feature_names[j] if j < len(feature_names) else f"column {j + 1}"
            raise DataFileError(
                f"{p}: column {name!r} holds text; sharded reading takes "
                f"numbers only (encode it first, or train in one process)"
            )
        if np.isnan(X).any():
            row, col = (int(v) for v in np.argwhere(np.isnan(X))[0])
            raise DataFileError(
                f"{p}: line {int(lines[row]) + first_line - (2 if header else 1)}"
                f": a missing cell in column {col + 1}; sharded reading takes "
                f"complete tables only (fill or drop such rows first)"
            )
        assert y_raw is not None
        lines = lines + (first_line - (2 if header else 1))
    names = _global_classes(comm, p, y_raw, target_name) if task == "classification" else []
    with world.agree():
        try:
            y, _, _ = _targets(p, y_raw, task, names if names else None, lines, target_name)
        except DataFileError as exc:
            raise DataFileError(str(exc)) from None
    return Shard(
        X=X,
        y=y,
        rows=_rows_across(comm, len(X)),
        class_names=names,
        task=task,
        feature_names=feature_names,
        target_name=target_name,
    )


def _shift_lines(message: str, offset: int) -> str:
    """A parser message about the chunk, with the whole file's line numbers."""
    return re.sub(r"\bline (\d+)", lambda m: f"line {int(m.group(1)) + offset}", message)


def fit_scaler(kind: str, X: npt.ArrayLike, comm: Any) -> Scaler:
    """A scaler fitted on every rank's rows ``X`` (k, n_features), equal on all ranks.

    ``"standard"``: ``mean = Σx / n`` and ``scale = √(Σ(x − mean)² / n)`` (two
    passes, as :class:`Standardizer` computes them in one process); ``"minmax"``:
    the global minimum and range; ``"none"``: no scaling.
    """
    arr = np.asarray(X, dtype=np.float64)
    return fit_scaler_in_blocks(kind, lambda: iter([arr]), arr.shape[1], comm)


def fit_scaler_in_blocks(
    kind: str, blocks: Callable[[], Iterator[np.ndarray]], width: int, comm: Any
) -> Scaler:
    """:func:`fit_scaler` on the rows that ``blocks()`` yields, a block (k_b, width) at a
    time: no copy of every row at once.  ``blocks`` is called once per pass over the
    rows (twice for ``"standard"``); an error in it raises on every rank."""
    mpi = _mpi()
    world = World(comm)
    if kind == "none":
        return NoScaling()
    if kind == "minmax":
        low, high = np.full(width, np.inf), np.full(width, -np.inf)
        with world.agree():
            for b in blocks():
                if len(b):
                    np.minimum(low, b.min(axis=0), out=low)
                    np.maximum(high, b.max(axis=0), out=high)
        comm.Allreduce(mpi.IN_PLACE, low, op=mpi.MIN)
        comm.Allreduce(mpi.IN_PLACE, high, op=mpi.MAX)
        width_ = high - low
        return MinMaxScaler(low=low, range=np.where(width_ > 0, width_, 1.0))
    if kind != "standard":
        raise ValueError(f"unknown scaling {kind!r}: expected standard, minmax or none")
    sums = np.zeros(width + 1)
    with world.agree():
        for b in blocks():
            sums[:-1] += b.sum(axis=0)
            sums[-1] += len(b)
    comm.Allreduce(mpi.IN_PLACE, sums, op=mpi.SUM)
    n = sums[-1]
    if not n > 0:
        raise ValueError("no rows on any rank to fit the scaling on")
    mean = sums[:-1] / n
    squares = np.zeros(width)
    with world.agree():
        for b in blocks():
            squares += ((b - mean) ** 2).sum(axis=0)
    comm.Allreduce(mpi.IN_PLACE, squares, op=mpi.SUM)
    std = np.sqrt(squares / n)
    return Standardizer(mean=mean, scale=np.where(std > 0, std, 1.0))
