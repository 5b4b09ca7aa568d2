"""One MPI rank's rows of a table file, read through the table layer, with the column
roles, the encoding and the scaling agreed across ranks (docs/distributed.md).

``mpiexec -n N chainrule train --data big.csv`` runs these collectively, every rank
calling each function in the same order:

1. :func:`read_table_shard` — every rank reads the **target column** of the whole file
   (cheap: pyarrow converts that column only), so each knows the task, the class
   names, the rows without a target and, later, the seeded split exactly as one
   process does; then it reads **its share of the rows** (the lines that start in its
   ``1/N`` of the file's bytes, copied after the header line into a temporary file)
   through :func:`chainrule.data.read_data_file`, the same reader as one process, and
   maps its messages back onto the file's name and line numbers.
2. :func:`agree_roles` — each rank describes its rows' columns
   (:class:`~chainrule.data.roles.ColumnStats`: distinct values and their counts, the
   range of the numbers); one ``allgather`` merges them and every rank decides the
   same roles as one process, from the whole table's statistics.
3. :func:`missing_across` — ``--missing``: rows with missing cells counted (and, for
   ``drop``, left out) over all ranks, with one process's message.
4. :func:`fit_pipeline` — the categories and their counts, the fill values (medians
   of every rank's training values) and the scaling (``Allreduce`` of sums,
   :func:`~chainrule.parallel.shard.fit_scaler`) from every rank's training rows.
5. :func:`set_aside` and :func:`without_tail` — a rank's test rows wait in a temporary
   file while it trains, and its matrix keeps only the rows it trains on.

mpi4py is imported only when these run; ``chainrule.data`` never imports this module.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.datasets import Dataset
from ..data.files import DataFileError, _looks_like_header, _numbers_as_text, read_data_file
from ..data.pipeline import TablePipeline, missing_verdict, unscaled_one_hot
from ..data.roles import (
    ColumnRole,
    ColumnStats,
    TableStats,
    _cells,
    column_stats,
    decide_roles,
    parse_dates,
    table_stats,
)
from ..data.table import _delimiter, sniff_table_format
from ..data.tables import ColumnEncoding, TableEncoding, missing_rows, self_parse, subset
from ..data.text_column import TextColumn
from .mpi import PeerFailed, World
from .shard import block, fit_scaler_in_blocks

__all__ = [
    "TableShard",
    "agree_roles",
    "fit_pipeline",
    "gather_rows",
    "give_back_memory",
    "in_blocks",
    "missing_across",
    "read_table_shard",
    "release_rows",
    "set_aside",
    "set_aside_blocks",
    "shardable",
    "without_tail",
]

#: Training rows encoded at a time to fit the scaling (bounded temporaries).
_SCALE_ROWS = 1 << 13

#: Bytes copied (or counted) at a time (bounded memory).
_COPY_BYTES = 1 << 20

#: Bytes of rows a rank sets aside (gathers, encodes, scales) at a time.
_ASIDE_BYTES = 1 << 20

#: Block size of the target column's stream: small blocks, a small peak.
_TARGET_BLOCK = 1 << 18

#: Block size of the stream that reads a rank's share of the rows.  pyarrow's
#: streaming reader parses a number of blocks ahead of the one handed over, so what
#: a read holds besides its matrix grows with the block: reading 500,000 × 20
#: numbers peaked 145 MiB above the reader's start at 1 MiB (one process's blocks),
#: 110 at 256 KiB, 101 at 64 KiB, for ~0.1 s more CPU (docs/distributed.md).  A rank
#: is one of N processes already sharing the cores: its peak is what counts.
_SHARE_BLOCK = 1 << 16


@dataclass
class TableShard:
    """This rank's rows of a table file, and what every rank knows of the whole file.

    Attributes
    ----------
    data : Dataset
        This rank's rows (``lines``: the file's line numbers; ``y``: indices into the
        whole file's ``class_names``), the feature columns of the file.
    target : Dataset
        Every row's target (no feature columns): ``y``, ``task``, ``class_names``,
        ``lines`` and ``dropped`` (rows without a target) as one process reads them.
    start, stop : int
        ``data``'s rows are rows ``start:stop`` of ``target``.
    digest : str
        A digest of what every rank must agree on (the file's size, header, first and
        last bytes, and every row's target): ranks that read different files differ.
    """

    data: Dataset
    target: Dataset
    start: int
    stop: int
    digest: str


def shardable(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a CSV/TSV file with a header line (what ranks can read in
    shares); Parquet, Feather, NumPy and IDX files are read whole by every rank."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    numpy_or_idx = (b"PK\x03\x04", b"\x93NUMPY", b"\x1f\x8b", b"\x00\x00")
    binary = head.startswith(numpy_or_idx)
    if binary or sniff_table_format(head) is not None or b"\r" in head:
        return False
    return _header(p, head) is not None


def _header(p: Path, head: bytes) -> bytes | None:
    """The header line's bytes (newline included) when the file has one, else None."""
    end = head.find(b"\n")
    second = head.find(b"\n", end + 1)
    if end < 0 or second < 0:
        return None
    try:
        text = head[:second].decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    lines = text.split("\n")
    delimiter = _delimiter(p, lines[0])
    rows = [next(csv.reader([line], delimiter=delimiter)) for line in lines[:2]]
    return head[: end + 1] if _looks_like_header(rows) else None


def _line_start(f: Any, offset: int, body: int) -> int:
    """The first offset at or after ``offset`` where a line starts (``body``: the first
    line after the header)."""
    if offset <= body:
        return body
    f.seek(offset - 1)
    if f.read(1) != b"\n":
        f.readline()
    return int(f.tell())


def _blocks_of(f: Any, left: int | None = None) -> Iterator[tuple[memoryview, int]]:
    """The next ``left`` bytes of the binary file ``f`` (all when None), a block at a
    time: ``(block, newlines in it)``, each block read into the same buffer (no new
    bytes object a block: freed blocks of megabytes stay in the heap, in a rank's
    resident memory)."""
    buf = bytearray(_COPY_BYTES)
    view = memoryview(buf)
    while left is None or left > 0:
        got = f.readinto(view if left is None else view[: min(_COPY_BYTES, left)])
        if not got:
            break
        if left is not None:
            left -= got
        yield view[:got], buf.count(b"\n", 0, got)


def _copy_range(src: Any, dst: Any, begin: int, end: int) -> int:
    """Copy bytes ``begin:end`` of ``src`` to ``dst`` a block at a time; their newlines."""
    src.seek(begin)
    newlines = 0
    for chunk, lines in _blocks_of(src, end - begin):
        newlines += lines
        dst.write(chunk)
    return newlines


def _shifted(message: str, tmp: str, path: Path, offset: int) -> str:
    """A message about the temporary file as one about ``path``: its name and its line
    numbers (``line 7``, ``lines 7, 9``; line 1, the header, is the same in both)."""

    def shift(m: re.Match[str]) -> str:
        numbers = [int(v) for v in m.group(2).split(", ")]
        return m.group(1) + ", ".join(str(v + offset if v > 1 else v) for v in numbers)

    message = message.replace(tmp, str(path)).replace(Path(tmp).name, path.name)
    return re.sub(r"\b(lines? )(\d+(?:, \d+)*)", shift, message)


def _newlines(p: Path) -> int:
    """The file's lines (newlines, and one more when the last line has none)."""
    n, last = 0, b""
    with open(p, "rb", buffering=0) as f:
        for block, lines in _blocks_of(f):
            n += lines
            last = bytes(block[-1:])
    return n + (last != b"\n")


@contextlib.contextmanager
def _share_blocks() -> Iterator[None]:
    """Within: the table reader streams a CSV file (a table of numbers too, not parsed
    whole) in blocks of ``_SHARE_BLOCK`` bytes."""
    from ..data import table

    before = table._BLOCK_BYTES, table._PARSE_WHOLE_NUMBERS
    table._BLOCK_BYTES, table._PARSE_WHOLE_NUMBERS = _SHARE_BLOCK, False
    try:
        yield
    finally:
        table._BLOCK_BYTES, table._PARSE_WHOLE_NUMBERS = before


def give_back_memory() -> None:
    """Return freed memory to the system: pyarrow's pool keeps the blocks a read freed,
    and glibc's heap the arrays freed since; the rows a rank holds come next, and its
    peak is what it holds then plus what training adds (docs/distributed.md)."""
    from ..data.table import _give_back_memory

    _give_back_memory()


def _same_file(world: World, n: int, digest: str) -> None:
    """Refuse ranks that read different files (each node its own copy of ``--data``)."""
    every = world.comm.allgather((n, digest))
    with world.agree():
        for rank, (n_r, digest_r) in enumerate(every):
            if world.root and (n_r, digest_r) != every[0]:
                raise DataFileError(
                    f"the MPI ranks read different data: rank 0 has {every[0][0]} rows "
                    f"(digest {every[0][1]}), rank {rank} {n_r} (digest {digest_r}); give "
                    f"every rank the same --data"
                )
        if every[world.rank] != every[0]:
            raise PeerFailed("the ranks read different files; rank 0 says how")


def _read_targets(p: Path, target: str | int | None, task: str | None) -> Dataset | None:
    """Every row's target, as :func:`read_data_file` reads it with no feature column,
    in less memory (one pyarrow stream of that column, one thread, 1 MiB blocks); None
    where that reader must decide (blank lines, boolean targets, a target that turns
    from numbers to text).  Its messages are one process's."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from ..data import files
    from ..data.table import _MISSING, _numeric_kind, _target_cells, _to_float

    with open(p, "rb") as f:
        first = f.readline().decode("utf-8-sig")
    delimiter = _delimiter(p, first)
    names = [c.strip() for c in next(csv.reader([first.rstrip("\r\n")], delimiter=delimiter))]
    files._check_duplicates(p, names)
    t = files._column_index(p, target, len(names), names)
    columns = [f"c{j}" for j in range(len(names))]
    nulls = sorted({v for m in _MISSING for v in (m, m.upper(), m.capitalize())})
    try:
        pool = pa.jemalloc_memory_pool()  # returns memory to the system between blocks
        pa.jemalloc_set_decay_ms(0)  # at once (only this stream uses that pool)
    except NotImplementedError:  # pragma: no cover - a pyarrow built without jemalloc
        pool = pa.default_memory_pool()
    try:
        reader = pacsv.open_csv(
            p,
            read_options=pacsv.ReadOptions(
                column_names=columns, skip_rows=1, block_size=_TARGET_BLOCK, use_threads=False
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                include_columns=[columns[t]], null_values=nulls, strings_can_be_null=True
            ),
            memory_pool=pool,
        )
        parts = [batch.column(0) for batch in reader]
    except pa.ArrowInvalid:
        return None
    kinds = {_numeric_kind(part.type) for part in parts}
    if not parts or len(kinds) > 1 or any(pa.types.is_boolean(part.type) for part in parts):
        return None
    n = sum(len(part) for part in parts)
    if _newlines(p) != n + 1:
        return None  # blank lines: the line reader keeps their numbers
    if kinds == {True}:
        y_raw = np.concatenate([_to_float(part) for part in parts])
    else:
        y_raw = _target_cells(pa.chunked_array(parts, type=pa.string()))
    del parts
    pool.release_unused()
    gone = files._missing_targets(y_raw)
    if gone.all():
        raise DataFileError(f"{p}: every row's target {names[t]!r} is missing")
    # Row i is on line i + 2 when no target is missing: no array of line numbers then.
    dropped = np.flatnonzero(gone) + 2
    lines = None
    if gone.any():
        lines = np.arange(2, 2 + n, dtype=np.int64)[~gone]
        y_raw = y_raw[~gone]
    where = lines if lines is not None else np.arange(2, 2 + len(y_raw), dtype=np.int64)
    y, task, class_names = files._targets(p, y_raw, task, None, where, names[t])
    del where
    return Dataset(
        X=np.empty((len(y), 0)),
        y=y,
        task=task,
        name=p.name,
        class_names=class_names,
        feature_names=[],
        target_name=names[t],
        lines=lines,
        dropped=dropped,
    )


def read_table_shard(
    path: str | os.PathLike[str],
    world: World,
    *,
    target: str | int | None = None,
    task: str | None = None,
    decimal: str = ".",
) -> TableShard:
    """This rank's rows of the CSV/TSV file ``path`` (collective; see the module).

    Raises
    ------
    DataFileError
        On every rank (the message on the lowest rank that found a problem, with the
        file's line numbers; :class:`~chainrule.parallel.mpi.PeerFailed` elsewhere).
    """
    import hashlib

    p = Path(path)
    with world.agree():
        whole = _read_targets(p, target, task) or read_data_file(
            p,
            target=target,
            header=True,
            task=task,
            columns=[],
            missing_target="drop",
            decimal=decimal,
        )
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            header = _header(p, f.read(1 << 16))
            if header is None:
                raise DataFileError(f"{p}: no header line (ranks read shares of files with one)")
            f.seek(0)
            first = f.read(1 << 16)
            f.seek(max(0, size - (1 << 16)))
            last = f.read()
    if whole.task == "classification":  # every row's class: one byte a row where it fits
        whole.y = whole.y.astype(np.min_scalar_type(max(len(whole.class_names) - 1, 0)))
    give_back_memory()
    digest = hashlib.sha256(repr((size, whole.feature_names, whole.class_names)).encode())
    for part in (first, last, np.ascontiguousarray(whole.y).data):
        digest.update(part)
    _same_file(world, len(whole.y), digest.hexdigest()[:12])
    with world.agree():
        with open(p, "rb") as f:
            body = len(header)
            lo, hi = (body + b for b in block(size - body, world.rank, world.size))
            begin, end = _line_start(f, lo, body), _line_start(f, hi, body)
            if world.rank == world.size - 1:
                end = size
            fd, tmp = tempfile.mkstemp(prefix="chainrule-rank-", suffix=p.suffix or ".csv")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(header)
                    newlines = _copy_range(f, out, begin, end)
            except BaseException:
                os.unlink(tmp)
                raise
    # The line number of the range's first line: the header's, and the newlines before.
    before = world.comm.exscan(newlines) if world.size > 1 else 0
    first_line = 2 + int(before or 0)
    ends = world.comm.allgather(first_line)
    stop_line = ends[world.rank + 1] if world.rank + 1 < world.size else np.iinfo(np.int64).max
    lines: np.ndarray | None = None  # (None: rows start:stop are lines first_line on)
    if whole.lines is None:  # row i on line i + 2
        start, stop = (min(max(int(v) - 2, 0), len(whole.y)) for v in (first_line, stop_line))
    else:
        start, stop = (int(v) for v in np.searchsorted(whole.lines, [first_line, stop_line]))
        lines = whole.lines[start:stop]
    classification = whole.task == "classification"
    # Classes that are numbers are read as numbers and compared with the whole file's:
    # mapping the rows' labels to class indices again would take several arrays of the
    # rank's rows at the end of its read, its peak (they are known: ``whole.y``).
    values = _class_values(whole.class_names) if classification else None
    with world.agree():
        try:
            if begin >= end:
                raise DataFileError(
                    f"{p}: too few lines for {world.size} MPI ranks (rank {world.rank} got none)"
                )
            with _share_blocks():
                data = read_data_file(
                    tmp,
                    target=whole.target_name,
                    header=True,
                    task="regression" if values is not None else whole.task,
                    class_names=whole.class_names if classification and values is None else None,
                    missing_target="drop",
                    decimal=decimal,
                )
        except DataFileError as exc:
            raise DataFileError(_shifted(str(exc), tmp, p, first_line - 2)) from None
        finally:
            os.unlink(tmp)
        data.name = p.name
        if data.lines is not None:
            data.lines += first_line - 2  # (in place: the reader's own array)
        if data.lines is None or not (
            _lines_are(data.lines, lines, first_line, stop - start)
            and _targets_are(data.y, whole.y[start:stop], values)
        ):
            raise DataFileError(
                f"{p}: the rows from line {first_line} on do not read the same alone as in "
                f"the whole file (a quoted cell spanning lines?); train in one process"
            )
        # The same targets: the whole file's (a class in one byte), not a second array;
        # the line numbers (for messages) in 4 bytes each where they fit.
        data.y = whole.y[start:stop]
        if len(data.lines) and int(data.lines[-1]) < 2**31:
            data.lines = data.lines.astype(np.int32)
    del lines
    give_back_memory()
    return TableShard(data, whole, start, stop, digest.hexdigest()[:12])


def _lines_are(got: np.ndarray, lines: np.ndarray | None, first: int, n: int) -> bool:
    """Whether ``got`` is ``lines`` (None: the ``n`` lines from ``first`` on, compared a
    block at a time, not made whole)."""
    if lines is not None:
        return bool(np.array_equal(got, lines))
    if len(got) != n:
        return False
    step = 1 << 16
    return all(
        np.array_equal(got[lo : lo + step], np.arange(first + lo, first + min(lo + step, n)))
        for lo in range(0, n, step)
    )


def _class_values(names: list[str]) -> np.ndarray | None:
    """The class names as numbers (float64), or None when one is not a number."""
    try:
        values = np.array([float(name) for name in names])
    except ValueError:
        return None
    return values if np.isfinite(values).all() else None


def _targets_are(got: np.ndarray, classes: np.ndarray, values: np.ndarray | None) -> bool:
    """Whether the targets read ``got`` are the classes ``classes`` (indices into the
    class names; with ``values``, the names as numbers, ``got`` holds the numbers read),
    compared a block at a time."""
    if values is None:
        return bool(np.array_equal(got, classes))
    if got.shape != classes.shape:
        return False
    step = 1 << 16
    return all(
        np.array_equal(got[lo : lo + step], values[classes[lo : lo + step]])
        for lo in range(0, len(got), step)
    )


def _text_everywhere(world: World, data: Dataset) -> None:
    """A column that is text in some rank's rows is text in every rank's (as in the whole
    file): a rank that read only numbers there turns them into text."""
    texts = world.comm.allgather(sorted(data.text))
    for j in sorted({j for part in texts for j in part} - set(data.text)):
        data.text[j] = TextColumn.from_cells(_numbers_as_text(data.X[:, j]))
        data.X[:, j] = np.nan


def _merged(world: World, local: list[ColumnStats]) -> list[ColumnStats]:
    every = world.comm.allgather(local)
    return [ColumnStats.merge([part[j] for part in every]) for j in range(len(local))]


class _Unlocated(Exception):
    """decide_roles needs the first cell of column ``j`` that is none of ``values``."""

    def __init__(self, j: int, values: np.ndarray) -> None:
        super().__init__(j)
        self.j, self.values = j, values


def agree_roles(world: World, data: Dataset, **options: Any) -> list[ColumnRole]:
    """:func:`~chainrule.data.roles.decide_roles` of the whole table, on every rank
    (``options``: its keyword arguments, ``exclude``, ``categorical``, …)."""
    _text_everywhere(world, data)
    n = int(world.comm.allreduce(len(data.X)))
    stats = _merged(world, table_stats(data))

    def unlocated(j: int, values: np.ndarray) -> tuple[str, str]:
        raise _Unlocated(j, values)

    wanted: _Unlocated | None = None
    with world.agree():
        try:
            return decide_roles(data, **options, stats=TableStats(stats, n, unlocated))
        except _Unlocated as exc:
            wanted = exc
    # Every rank stopped at the same column (the same statistics): find its first word.
    assert wanted is not None
    cells = _cells(data, wanted.j)
    bad = np.flatnonzero(~np.isin(cells, wanted.values) & (cells != ""))
    here = (data.where(int(bad[0])), str(cells[bad[0]])) if len(bad) else None
    found = next(v for v in world.comm.allgather(here) if v is not None)
    with world.agree():
        decide_roles(data, **options, stats=TableStats(stats, n, lambda j, v: found))
    raise AssertionError("unreachable: decide_roles raised above")  # pragma: no cover


def missing_across(
    world: World, data: Dataset, policy: str, name: str
) -> tuple[Dataset, np.ndarray, str | None]:
    """``--missing policy`` over every rank's rows (``data``: this rank's, the excluded
    columns left out).

    Returns
    -------
    data : Dataset
        This rank's rows that stay.
    keep : ndarray of bool, shape (n,)
        Which of the whole table's rows stay (every rank's, in order).
    note : str or None
        One process's note for ``--missing drop``.
    """
    mask, counts = missing_rows(data)
    every = world.comm.allgather((mask, counts))
    total = sum(len(m) for m, _ in every)
    merged = {
        name_: sum(c.get(name_, 0) for _, c in every)
        for name_ in data.feature_names
        if any(name_ in c for _, c in every)
    }
    n = sum(int(m.sum()) for m, _ in every)
    with world.agree():
        note = missing_verdict(policy, name, n, total, merged)
    if note is None:
        return data, np.ones(total, dtype=bool), None
    return subset(data, ~mask), ~np.concatenate([m for m, _ in every]), note


def _gathered(world: World, local: np.ndarray) -> np.ndarray:
    return np.concatenate(world.comm.allgather(local))


def _column_encoding(
    world: World, data: Dataset, j: int, rows: np.ndarray, missing: str, role: ColumnRole
) -> ColumnEncoding:
    """Column ``j``'s encoding fitted on every rank's training rows (``rows``: this
    rank's): :meth:`TableEncoding.fit` on the gathered values it needs, one column."""
    impute = missing == "impute"
    name = data.feature_names[j]
    text: dict[int, TextColumn] = {}
    X = np.full((1, 1), np.nan)
    if role.role == "date":
        with world.agree():
            stamps = parse_dates(_cells(data, j)[rows])
        seen = stamps[~np.isnat(stamps)]
        timed = bool((seen - seen.astype("datetime64[D]")).astype(np.int64).any())
        if impute:
            every = _gathered(world, seen.astype(np.int64)).astype("datetime64[s]")
            # Each distinct moment written out once (not a string per training row of
            # every rank: 160,000 of them took ~50 MiB to sort); ISO text sorts as time.
            moments, inverse = np.unique(every, return_inverse=True)
            text[0] = (
                TextColumn(inverse.reshape(-1).astype(np.int32), np.datetime_as_string(moments))
                if len(every)
                else TextColumn.from_cells(np.array([""]))
            )
        else:
            timed = bool(world.comm.allreduce(timed, op=_mpi_lor()))
            text[0] = TextColumn.from_cells(["2000-01-01T01:00:00" if timed else "2000-01-01"])
    elif role.role == "numeric" and role.parse:
        with world.agree():
            values = self_parse(data, j, role.parse)[rows]
        present = values[~np.isnan(values)]
        X = _gathered(world, present)[:, None] if impute else X
    elif j in data.text or role.role in ("categorical", "text"):
        cells = _cells(data, j)[rows]
        part = Dataset(
            X=np.full((len(cells), 1), np.nan), y=np.empty(0), task="", name="", text={0: cells}
        )
        s = _merged(world, [column_stats(part, 0)])[0]
        # The training rows' cells of every rank, as codes into the merged values.
        codes = np.repeat(np.arange(len(s.values)), s.counts) if len(s.values) else np.zeros(1)
        values = s.values if len(s.values) else np.array([""])
        if role.role == "text":
            # A word's share is of every training row, with text or not (roles.vocabulary).
            blank = int(world.comm.allreduce(len(rows))) - s.n_present
            codes = np.concatenate([codes[: s.n_present], np.full(blank, len(values))])
            values = np.append(values, "")
        text[0] = TextColumn.from_codes(codes.astype(np.int64), values)
    elif impute:
        col = data.X[rows, j]
        X = _gathered(world, col[~np.isnan(col)])[:, None]
    if text:
        X = np.full((len(text[0]), 1), np.nan)
    proxy = Dataset(X=X, y=np.empty(0), task="", name=data.name, feature_names=[name], text=text)
    encoding = TableEncoding.fit(proxy, np.arange(len(X)), missing, [role])
    return encoding.columns[0]


def _mpi_lor() -> Any:
    from .mpi import _mpi

    return _mpi().LOR


def fit_pipeline(
    world: World,
    data: Dataset,
    rows: np.ndarray,
    *,
    missing: str,
    scale: str,
    roles: list[ColumnRole],
    id_column: str | None = None,
) -> TablePipeline:
    """:meth:`TablePipeline.fit` on every rank's training rows (``rows``: this rank's,
    indices into ``data``), equal on every rank: one process's pipeline, to rounding
    in the scaling's sums."""
    columns = [_column_encoding(world, data, j, rows, missing, roles[j]) for j in range(len(roles))]
    encoding = TableEncoding(columns, missing)
    encoding.id_column = id_column

    def blocks() -> Iterator[np.ndarray]:
        for start in range(0, len(rows), _SCALE_ROWS):
            X, _ = encoding.transform(subset(data, rows[start : start + _SCALE_ROWS]))
            yield X

    with np.errstate(over="ignore", invalid="ignore"):
        scaler = fit_scaler_in_blocks(scale, blocks, encoding.n_inputs, world.comm)
    give_back_memory()  # (the gathered values and the blocks: the encoded rows come next)
    return TablePipeline(encoding, unscaled_one_hot(scaler, encoding.one_hot_inputs()))


def gather_rows(world: World, X: np.ndarray) -> np.ndarray | None:
    """Every rank's rows ``X`` (k_r, m) stacked in rank order on rank 0 (None elsewhere):
    one ``Gatherv`` into one matrix, no pickled copies."""
    counts = world.comm.gather(int(X.shape[0]), root=0)
    send = np.ascontiguousarray(X)
    if not world.root:
        world.comm.Gatherv(send, None, root=0)
        return None
    assert counts is not None
    out = np.empty((sum(counts), X.shape[1]), dtype=send.dtype)
    world.comm.Gatherv(send, [out, [c * X.shape[1] for c in counts]], root=0)
    return out


def in_blocks(
    index: np.ndarray, rows_of: Callable[[np.ndarray], np.ndarray], width: int
) -> Iterator[np.ndarray]:
    """``rows_of(index[i:j])`` for consecutive blocks of ``index`` of about
    ``_ASIDE_BYTES`` of float64 rows ``width`` wide: what a rank makes of its rows
    (gathered, encoded, scaled) a block at a time, its temporaries bounded."""
    step = max(64, _ASIDE_BYTES // (8 * max(width, 1)))
    for start in range(0, len(index), step):
        yield rows_of(index[start : start + step])


def set_aside(
    rows: np.ndarray,
    index: np.ndarray | None = None,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """``rows`` (k, m) written to a temporary file and mapped back read-only: the same
    values, held by the page cache instead of this process until they are read (a
    rank's test rows, scored only after training).  The file is unlinked at once (the
    mapping keeps it until it goes); where no file can be written, the rows in memory.

    ``index``: set aside the rows ``rows[index]`` instead, gathered a block at a time
    (no copy of them all in memory); ``prepare``: what each block becomes before it is
    written (scaled, narrowed): ``prepare(rows[index[i:j]])``.
    """
    if index is None and prepare is None and rows.size == 0:
        return np.array(rows)
    pick = np.arange(len(rows)) if index is None else index
    gather = (lambda part: rows[part]) if prepare is None else (lambda part: prepare(rows[part]))
    empty = gather(pick[:0])
    aside = set_aside_blocks(lambda: in_blocks(pick, gather, rows.shape[1]), np.array(empty))
    if index is None and prepare is None and not isinstance(aside, np.memmap):
        return rows  # (no file: the rows themselves, not a copy)
    return aside


def set_aside_blocks(
    blocks: Callable[[], Iterator[np.ndarray]], empty: np.ndarray | None = None
) -> np.ndarray:
    """The rows that ``blocks()`` yields, stacked (k, m), in a temporary file mapped
    back read-only (see :func:`set_aside`), written a block at a time as they come:
    at most one block of them is in memory.  ``empty`` (0, m): the result when there
    are none.  Where no file can be written, ``blocks()`` is run again and its rows
    stacked in memory."""
    fd, tmp = tempfile.mkstemp(prefix="chainrule-rows-", suffix=".bin")
    try:
        n, last = 0, empty
        with os.fdopen(fd, "wb") as f:
            for block in blocks():
                block = np.ascontiguousarray(block)
                f.write(block.data)  # (its bytes, not a copy)
                n, last = n + len(block), block
        if n == 0 or last is None:
            return np.array(last) if last is not None else np.empty((0, 0))
        return np.memmap(tmp, dtype=last.dtype, mode="r", shape=(n, *last.shape[1:]))
    except OSError:  # a full or read-only $TMPDIR: keep them in memory
        parts = list(blocks())
        return np.concatenate(parts) if parts else np.array(empty)
    finally:
        with contextlib.suppress(OSError):  # (where a mapped file cannot be unlinked)
            os.unlink(tmp)


def release_rows(rows: np.ndarray, start: int, stop: int) -> None:
    """Hand back the pages of rows ``start:stop`` of ``rows`` when it is a file mapped
    by :func:`set_aside` (a no-op for arrays in memory): read once, they count in this
    process's resident memory until dropped; read again, the page cache serves them."""
    import mmap

    mapped = getattr(rows, "_mmap", None)  # (np.memmap's own mapping of the whole file)
    if not isinstance(mapped, mmap.mmap) or not hasattr(mapped, "madvise") or stop <= start:
        return
    row_bytes = rows.strides[0]
    page = mmap.PAGESIZE
    begin = (start * row_bytes // page) * page
    end = min(-(-stop * row_bytes // page) * page, len(mapped))
    with contextlib.suppress(OSError, ValueError):  # (a kernel without it: nothing done)
        mapped.madvise(mmap.MADV_DONTNEED, begin, end - begin)


def without_tail(held: list[np.ndarray], k: int) -> np.ndarray:
    """``X[:k]`` for the one matrix ``X`` in ``held`` (taken out of it), the memory of its
    other rows handed back to the system when nothing else refers to its buffer (in
    place: ``ndarray.resize``, whose realloc shrinks a large block without copying);
    else just the view.  ``held`` must be the caller's only reference to ``X``."""
    X = held.pop()
    owner = X if X.base is None else X.base
    if not (
        isinstance(owner, np.ndarray)
        and type(owner) is np.ndarray
        and owner.flags.owndata
        and owner.flags.c_contiguous
        and X.flags.c_contiguous
        and owner.ndim == 2
        and owner.shape[1] == X.shape[1]
        and owner.dtype == X.dtype
        and owner.ctypes.data == X.ctypes.data
    ):
        return X[:k]
    del X  # (a view of ``owner`` refers to it: gone now, unless held elsewhere)
    try:
        owner.resize((k, owner.shape[1]))  # refuses when anything else refers to it
    except ValueError:
        return owner[:k]
    return owner
