"""The fast table reader: CSV/TSV through pyarrow's CSV reader, Parquet, Feather and
Arrow IPC files, and in-memory tables (anything with ``__arrow_c_stream__``: pandas ≥ 2.2,
polars, pyarrow, DuckDB).

Every reader ends in the same place as :func:`chainrule.data.read_data_file`'s CSV
reader: a float64 matrix of the numeric columns, the text columns' cells (stripped,
``""`` where missing), the target cells and each row's line number.  pyarrow is
imported only when a table is read.

A CSV file the fast reader cannot take exactly as the line-by-line reader would
(blank lines, a quoted cell spanning lines, a ragged row, bytes that are not UTF-8,
cells separated by runs of spaces, a non-finite number) is handed back to that reader
(``None``), which names the file, line and column of the problem: the fast path never
changes a result or a message, it only makes the common case fast (docs/data.md).
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from . import files
from .text_column import TextColumn

__all__ = [
    "ARROW_MAGIC",
    "arrow_table_of",
    "from_arrow",
    "is_arrow_table_like",
    "read_arrow_file",
    "read_csv_arrow",
    "sniff_table_format",
]

#: File signatures of the binary table formats read through pyarrow.
ARROW_MAGIC = {b"PAR1": "parquet", b"ARROW1": "arrow", b"FEA1": "feather"}

#: Cell texts (any case) that mean "no value"; the same as the CSV reader's.
_MISSING = ("", "na", "n/a", "nan", "null", "none", "?")

#: A number as Python's ``float`` reads it (less ``inf``/``nan``/underscores, which go
#: through the slow per-cell check).
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_NUMBER_RE = re.compile(_NUMBER, re.ASCII)

#: Bytes read to sniff the delimiter and the header (more, up to the limit, until three
#: lines are in: a table of 100,000 columns has a long header line).
_HEAD_BYTES = 1 << 16
_HEAD_LIMIT = 1 << 26

#: Tables wider than this go to the line-by-line reader (100,000 columns: 7 s there,
#: minutes through Arrow's per-column machinery).
_WIDE = 2000

#: Rows of a CSV block parsed at a time (pyarrow's block size, in bytes).
_BLOCK_BYTES = 1 << 20

#: Files up to this size are read whole (``pyarrow.csv.read_csv``: types inferred over
#: the whole file, no first-block pass to declare them; on the 16 MB mixed file of
#: ``benchmarks/reading.py`` about 0.1 s of CPU less than streaming).  Larger files
#: stream, so that memory stays at about one copy of the numbers.
_WHOLE_BYTES = 1 << 25

#: Whether a larger table of numbers only is parsed whole (on every core) and drained
#: into the matrix.  An MPI rank reading its share sets it False (``parallel.table_shard``):
#: streamed, its read holds the matrix and a few blocks, not the parsed table too.
_PARSE_WHOLE_NUMBERS = True


def sniff_table_format(head: bytes) -> str | None:
    """``"parquet"``, ``"arrow"`` or ``"feather"`` from a file's first bytes, else None."""
    for magic, kind in ARROW_MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def is_arrow_table_like(obj: object) -> bool:
    """Whether ``obj`` is an in-memory table (Arrow PyCapsule stream or a pyarrow table)."""
    return hasattr(obj, "__arrow_c_stream__") or type(obj).__module__.startswith("pyarrow")


def arrow_table_of(obj: object) -> Any:
    """``obj`` as a ``pyarrow.Table``: a Parquet/Feather/Arrow file's path or an in-memory
    table (``__arrow_c_stream__``, a pyarrow Table or RecordBatch)."""
    import pyarrow as pa

    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pa.RecordBatch):
        return pa.Table.from_batches([obj])
    if hasattr(obj, "__arrow_c_stream__"):
        return pa.table(obj)
    if isinstance(obj, (str, os.PathLike)):
        p = Path(obj)
        with open(p, "rb") as f:
            kind = sniff_table_format(f.read(8))
        if kind == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(p)
        import pyarrow.feather as feather

        return feather.read_table(p)
    raise TypeError(f"not a table: {type(obj).__name__}")


# ---------------------------------------------------------------------- CSV


def _delimiter(p: Path, first_line: str) -> str:
    if p.suffix.lower() == ".tsv" or ("\t" in first_line and "," not in first_line):
        return "\t"
    if ";" in first_line and "," not in first_line:
        return ";"
    return ","


def _count_lines(p: Path) -> tuple[int, bool]:
    """Newlines in the file, and whether its last byte is one (read in blocks)."""
    n, last = 0, b""
    with open(p, "rb") as f:
        while chunk := f.read(1 << 24):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n, last == b"\n"


def read_csv_arrow(
    p: Path,
    *,
    target: str | int | None,
    has_target: bool | None,
    header: bool | None,
    n_features: int | None,
    target_hint: str | None,
    columns: list[str] | None,
    decimal: str = ".",
) -> tuple[Any, ...] | None:
    """Read a CSV/TSV file with pyarrow; the 7-tuple of ``files._read_csv``, or None when
    the line-by-line reader must take the file (see the module's docstring).

    Raises
    ------
    DataFileError
        For what is decided from the header (a missing column, a bad target).
    """

    with open(p, "rb") as f:
        head = f.read(_HEAD_BYTES)
        while head.count(b"\n") < 3 and len(head) < _HEAD_LIMIT:  # wide tables: long lines
            more = f.read(len(head))
            if not more:
                break
            head += more
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            return None  # the slow reader names the line
        text = head[: exc.start].decode("utf-8-sig")
    if b"\r" in head:
        return None  # CR line endings: line numbers need the csv module
    end = text.find("\n")
    delimiter = _delimiter(p, text if end < 0 else text[:end])
    if delimiter == "," and files._space_separated(text):
        return None
    lines = [line for line in text.split("\n")[:3] if line.strip()]
    if len(lines) < 2 or (len(text) == len(head) and text.count("\n") < 2):
        return None
    head_rows = [next(csv.reader([line], delimiter=delimiter)) for line in lines[:2]]
    n_cols = len(head_rows[0])
    if n_cols > _WIDE:
        return None  # few long rows: NumPy converts them faster than Arrow's columns
    if header is None:
        header = files._looks_like_header(head_rows)
    names = [c.strip() for c in head_rows[0]] if header else []
    files._check_duplicates(p, names)
    by_name = columns is not None and bool(names)
    if not by_name:
        files._check_columns(p, n_cols, n_features, has_target)
    if has_target is None:
        has_target = (
            (target is not None)
            if by_name
            else (n_features is not None and n_cols == n_features + 1)
        )
    t: int | None = None
    target_name: str | None = None
    if has_target:
        if target is None and target_hint is not None and target_hint in names:
            target = target_hint
        elif target is None and by_name and target_hint is not None:
            raise files.DataFileError(
                f"{p}: no column named {target_hint!r} (the target in "
                f"training); name the target column with --target"
            )
        t = files._column_index(p, target, n_cols, names)
        target_name = names[t] if names else f"column {t + 1}"
    if by_name:
        assert columns is not None
        file_col = files._select(p, names, columns, t)
    else:
        file_col = [j for j in range(n_cols) if j != t]
    feature_names = [names[j] for j in file_col] if names else []
    chosen = set(file_col)
    ignored = (
        [names[j] for j in range(n_cols) if j != t and j not in chosen and names[j] != target_hint]
        if names
        else []
    )
    result = _stream(p, n_cols, bool(header), file_col, t, delimiter, decimal)
    if result is None:
        return None
    X, texts, y_raw, n_rows, numbers_only = result
    if os.path.getsize(p) > _WHOLE_BYTES:
        _give_back_memory()
    every_column = len(file_col) + (t is not None) == n_cols and bool(file_col)
    plain_head = lines[0] == text.split("\n", 1)[0] and '"' not in lines[0]
    if not numbers_only and not (every_column and plain_head):
        # A column not read, a quoted header or a blank first line may hide a line
        # break: count the lines.
        newlines, ends = _count_lines(p)
        if newlines + (0 if ends else 1) != n_rows + bool(header):
            return None  # blank lines somewhere: the slow reader keeps their numbers
    elif not numbers_only and _rows_not_lines(X, texts, y_raw):
        return None  # a blank line, or a quoted cell spanning lines: the slow reader
    first = 2 if header else 1
    line_numbers = np.arange(first, first + n_rows, dtype=np.int64)
    if n_rows == 0:
        raise files.DataFileError(f"{p}: has a header line but no rows of data")
    for j, col in texts.items():
        _check_text_column(p, col, line_numbers, file_col[j], names)
    text_cells = {j: col[0] for j, col in texts.items()}
    return (X, y_raw, feature_names, target_name, line_numbers, text_cells, ignored)


def _rows_not_lines(
    X: np.ndarray,
    texts: dict[int, tuple[TextColumn, np.ndarray, bool]],
    y_raw: np.ndarray | None,
) -> bool:
    """Whether some row of a table read with its blank lines kept (as rows of nulls)
    may not be one line of the file: a row whose every cell is missing (a blank line
    perhaps), or a text cell holding a line break (a quoted cell spanning lines).
    Looked at per distinct text value, and per row only where the first column is
    missing; the file is not read again to count its lines."""
    columns = [col for col, *_ in texts.values()]
    target: list[str] = []
    if y_raw is not None and y_raw.dtype.kind == "U":
        decoded = files._decoded(y_raw)
        target = (decoded[0] if decoded is not None else np.unique(y_raw)).tolist()
    for values in [col.values.tolist() for col in columns] + [target]:
        if any(("\n" in v or "\r" in v) for v in values):
            return True
    first = texts[0][0].missing() if 0 in texts else np.isnan(X[:, 0])
    rows = np.flatnonzero(first)
    if not len(rows):
        return False
    empty = np.isnan(X[rows]).all(axis=1)
    for col in columns:
        empty &= (col.values == "")[col.codes[rows]]
    if y_raw is not None:
        empty &= np.isnan(y_raw[rows]) if y_raw.dtype.kind == "f" else (y_raw[rows] == "")
    return bool(empty.any())


def _stream(
    p: Path,
    n_cols: int,
    header: bool,
    file_col: list[int],
    t: int | None,
    delimiter: str,
    decimal: str,
) -> (
    tuple[
        np.ndarray,
        dict[int, tuple[TextColumn, np.ndarray, bool]],
        np.ndarray | None,
        int,
        bool,
    ]
    | None
):
    """Parse the file in blocks; the numeric matrix (C order, filled block by block),
    the text columns, the target cells, and whether every column was read as numbers
    (declared so from the first block).

    How: a file up to ``_WHOLE_BYTES`` is read whole, its types inferred over all of
    it.  A larger file whose columns are all numbers is parsed whole too, on every
    core (pyarrow's streaming reader parses on one), and its blocks are drained into
    the matrix and freed as they go (:func:`_drained`); a larger file with text
    streams, a block at a time.

    A table of numbers only is read keeping its blank lines (as rows of nulls): then
    every line is one row (no number holds a line break, and any row whose cells are
    all missing, a blank line perhaps, hands the file to the line reader), so the
    file need not be read a second time to count its lines.  A table with text keeps
    pyarrow's skipping of blank lines and :func:`read_csv_arrow` counts the lines.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    col_names = [f"c{j}" for j in range(n_cols)]
    nulls = sorted({v for m in _MISSING for v in (m, m.upper(), m.capitalize())})
    keep = [col_names[j] for j in file_col] + ([col_names[t]] if t is not None else [])
    size = os.path.getsize(p)
    small = size <= _WHOLE_BYTES
    forced = (
        {}
        if small
        else _declared_types(
            p,
            col_names,
            header,
            delimiter,
            decimal,
            nulls,
            keep,
            {col_names[t]} if t is not None else set(),
        )
    )
    for _attempt in range(n_cols + 2):
        numbers_only = (
            n_cols > 1
            and bool(file_col)
            and all(name in forced and not pa.types.is_string(forced[name]) for name in keep)
        )
        read = pacsv.ReadOptions(
            column_names=col_names,
            skip_rows=1 if header else 0,
            block_size=_BLOCK_BYTES,
            use_threads=True,
        )
        parse = pacsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=False)
        convert = pacsv.ConvertOptions(
            column_types=forced,
            null_values=nulls,
            strings_can_be_null=True,
            true_values=["true", "True", "TRUE"],
            false_values=["false", "False", "FALSE"],
            include_columns=keep,
            decimal_point=decimal,
            timestamp_parsers=[],
            # Read whole, text columns arrive as dictionaries built by the parsing
            # threads (codes and distinct cells, :func:`_codes`), not as strings hashed
            # afterwards on one core: ~7 ms less of the 16 MB mixed file's ~40 ms.
            auto_dict_encode=small,
            auto_dict_max_cardinality=2**31 - 1,
        )
        out = _Blocks(len(file_col), size)
        text_parts: dict[int, list[Any]] = {}
        target_parts: list[Any] = []
        whole = None
        try:
            if small:  # one multi-threaded read, its types inferred over the whole file
                whole = pacsv.read_csv(
                    p, read_options=read, parse_options=parse, convert_options=convert
                )
                reader = iter(whole.to_batches())
            elif numbers_only and _PARSE_WHOLE_NUMBERS:  # every core, then drained
                table = pacsv.read_csv(
                    p, read_options=read, parse_options=parse, convert_options=convert
                )
                out.expect(table.num_rows)
                reader = _drained(table)
                del table  # (the batches, held by the generator alone, go as they are read)
            else:
                reader = pacsv.open_csv(
                    p, read_options=read, parse_options=parse, convert_options=convert
                )
            for batch in reader:
                out.add(batch, [col_names[c] for c in file_col], text_parts)
                if t is not None and whole is None:
                    target = _target_part(batch.column(col_names[t]))
                    if target is None:
                        return None  # labels as written (true/True): the slow reader
                    target_parts.append(target)
                del batch
            if t is not None and whole is not None:  # the whole column at once
                target = _target_part(whole.column(col_names[t]))
                if target is None:
                    return None  # labels as written (true/True): the slow reader
                target_parts.append(target)
            del whole
        except pa.ArrowInvalid as exc:
            out.close()
            m = re.search(r"In CSV column #(\d+): CSV conversion error to (\w+)", str(exc))
            if m is None or col_names[int(m.group(1))] not in forced:
                return None  # not a wrong guess of ours: the slow reader names the cell
            name = col_names[int(m.group(1))]
            forced[name] = pa.float64() if m.group(2).startswith("int") else pa.string()
            continue
        finally:
            out.close()
        break
    else:  # pragma: no cover - every column forced to text ends the loop above
        return None
    X, n = out.result(), out.n
    texts: dict[int, tuple[TextColumn, np.ndarray, bool]] = {}
    for j, parts in text_parts.items():
        if len({part.type for part in parts}) != 1:
            parts = [part.cast(pa.string()) for part in parts]
        values = _text_or_numbers(
            pa.chunked_array(parts) if parts else pa.chunked_array([], type=pa.string())
        )
        if isinstance(values, np.ndarray):
            if np.isinf(values).any():
                return None  # the slow reader names the non-finite cell
            X[:, j] = values
        else:
            texts[j] = values
            X[:, j] = np.nan
    y_raw = None
    if t is not None:
        kinds = {part.dtype.kind for part in target_parts}
        if len(kinds) > 1:
            return None  # numbers, then text: the slow reader reads the cells as written
        if len(target_parts) == 1:  # read whole: already noted as decoded
            y_raw = target_parts[0]
        else:
            y_raw = np.concatenate(target_parts) if target_parts else np.empty(0)
            _remember_parts(y_raw, target_parts)
    if out.infinite:
        return None  # the slow reader names the non-finite cell
    if numbers_only and len(out.empty):
        rows = np.concatenate(out.empty)
        if y_raw is None or np.isnan(y_raw[rows]).any():
            return None  # a blank line, or a row of empty cells: the line reader
    return X, texts, y_raw, n, numbers_only


#: A table drained into the matrix hands its freed blocks back to the operating system
#: every this many batches (8 MB of the 1,000,000 × 20 file's Arrow columns).
_RELEASE_EVERY = 8


def _drained(table: Any) -> Any:
    """The record batches of a table read whole, first to last, each dropped once the
    caller is done with it and Arrow's freed memory handed back every few batches: the
    matrix fills as the Arrow columns empty, so the read's peak stays at about one copy
    of the numbers (measured on the 1,000,000 × 20 file: the same peak as the streaming
    reader's, docs/performance.md)."""
    import pyarrow as pa

    pool = pa.default_memory_pool()
    batches = table.to_batches()
    del table
    batches.reverse()
    done = 0
    while batches:
        yield batches.pop()
        done += 1
        if done % _RELEASE_EVERY == 0:
            pool.release_unused()


def _target_part(col: Any) -> np.ndarray | None:
    """A batch's target cells, copied out of the batch now (a kept slice of Arrow memory
    would pin the allocator's whole block, and the peak would grow with the file); None
    for booleans (labels as written, true/True: the line reader's)."""
    import pyarrow as pa

    if pa.types.is_boolean(col.type):
        return None
    return _to_float(col) if _numeric_kind(col.type) else _target_cells(col)


def _give_back_memory() -> None:
    """Return the memory a streamed read freed to the operating system: Arrow's pool
    keeps its freed blocks, and glibc's heap the per-block temporaries (after a
    1,000,000 × 20 read, 17 MB and 28 MB that training's peak would sit on)."""
    import ctypes
    import sys

    if "pyarrow" in sys.modules:  # (nothing of Arrow's to give back before it is used)
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl): nothing to trim
            pass


def _declared_types(
    p: Path,
    col_names: list[str],
    header: bool,
    delimiter: str,
    decimal: str,
    nulls: list[str],
    keep: list[str],
    targets: set[str],
) -> dict[str, Any]:
    """Column types for the whole file, from what pyarrow infers on its first block.

    Declared types spare pyarrow its per-block inference (numbers read about 1.7× faster,
    docs/performance.md).  A feature column of integers is declared float64 (it becomes
    float64 anyway); the target keeps its integers.  A later cell that does not fit is a
    conversion error, which :func:`_stream` answers by widening that column (to float64,
    or to text), as it does without declarations.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        reader = pacsv.open_csv(
            p,
            read_options=pacsv.ReadOptions(
                column_names=col_names,
                skip_rows=1 if header else 0,
                block_size=_BLOCK_BYTES,
                use_threads=False,
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                null_values=nulls,
                strings_can_be_null=True,
                include_columns=keep,
                true_values=["true", "True", "TRUE"],
                false_values=["false", "False", "FALSE"],
                decimal_point=decimal,
                timestamp_parsers=[],
            ),
        )
        schema = reader.schema
        reader.close()
    except (pa.ArrowInvalid, OSError):
        return {}  # the reading proper meets the problem and hands the file on
    out: dict[str, Any] = {}
    for field in schema:
        if pa.types.is_integer(field.type):
            out[field.name] = pa.int64() if field.name in targets else pa.float64()
        elif pa.types.is_floating(field.type):
            out[field.name] = pa.float64()
        elif pa.types.is_string(field.type):
            out[field.name] = pa.string()
    return out


class _Blocks:
    """The numeric matrix in C order (rows contiguous, as training gathers its batches),
    filled batch by batch, column by column from the batch's buffers.

    Its capacity is guessed from the file size with room to spare: pages never
    written cost no memory, so the matrix is returned as a view, never copied.  The
    rows the file is expected to fill are faulted in by another thread meanwhile
    (:class:`_Prefault`); :meth:`close` stops it.
    """

    def __init__(self, n_cols: int, size: int) -> None:
        self.m, self.size = n_cols, size
        self.data: np.ndarray | None = None
        self.n = 0
        self.infinite = False  # an infinite number somewhere (the line reader names it)
        self.empty: list[np.ndarray] = []  # rows whose numeric cells are all missing
        self.prefault: _Prefault | None = None
        self.rows: int | None = None  # the number of rows, when known before the first

    def expect(self, rows: int) -> None:
        """The table has ``rows`` rows: the matrix is made exactly that long, and its
        pages are faulted in as they are written (they all are, at once)."""
        self.rows = rows

    def add(self, batch: Any, names: list[str], text_parts: dict[int, list[Any]]) -> None:
        import pyarrow as pa

        rows = batch.num_rows
        need = self.n + rows
        if self.data is None and self.rows is not None:
            self.data = np.empty((max(self.rows, need), self.m), dtype=np.float64)
        elif self.data is None:
            expected = rows * max(1.0, self.size / _BLOCK_BYTES)
            guess = int(expected * 1.5) + 64
            self.data = np.empty((max(guess, need), self.m), dtype=np.float64)
            if expected * self.m * 8 >= _PREFAULT_BYTES:
                # Only rows the file surely fills: a block of shorter rows than the rest
                # must not commit memory that no row will use.
                self.prefault = _Prefault(self.data, int(expected * 0.97), self)
        elif need > len(self.data):
            self.close()
            grown = np.empty((max(need, 2 * len(self.data)), self.m), dtype=np.float64)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        # Column by column from the values buffers: Arrow's own row-major
        # ``to_tensor`` costs 3-5x as much CPU (0.17-0.34 s against 0.06 s for the
        # 1,000,000 x 19 file) and makes a block-sized copy on the way.
        for j, name in enumerate(names):
            col = batch.column(name)
            if _numeric_kind(col.type) and j not in text_parts:
                _to_float(col, self.data[self.n : need, j])
            else:
                if j not in text_parts:  # earlier blocks were numbers: their text back
                    done = self.data[: self.n, j]
                    text_parts[j] = (
                        [pa.array(_numbers_as_text(done), type=pa.string())] if self.n else []
                    )
                # Text as read; a column of dates (date32) stays so, its distinct
                # values made text once (:func:`_trimmed`), not every cell.
                plain = (
                    col.type == pa.string()
                    or pa.types.is_date32(col.type)
                    or _dictionary_of_text(col.type)
                )
                part = col if plain else col.cast(pa.string())
                text_parts[j].extend(part.chunks if isinstance(part, pa.ChunkedArray) else [part])
        if not text_parts:
            self._check(self.data[self.n : need])
        elif not self.infinite:
            # One pass over the block just written (in cache), rather than a strided
            # pass a column; the text columns' slots hold garbage, so are left out.
            infinite = np.isinf(self.data[self.n : need]).any(axis=0)
            self.infinite = any(infinite[j] for j in range(self.m) if j not in text_parts)
        self.n = need

    def _check(self, block: np.ndarray) -> None:
        """Note infinities and all-missing rows of a block just written (in cache)."""
        if not block.size:
            return
        self.infinite = self.infinite or bool(np.isinf(block).any())
        nan = np.isnan(block)
        if nan.any():
            empty = np.flatnonzero(nan.all(axis=1))
            if len(empty):
                self.empty.append(empty + self.n)

    def close(self) -> None:
        """Stop the page-faulting thread (and wait for it)."""
        if self.prefault is not None:
            self.prefault.stop()
            self.prefault = None

    def result(self) -> np.ndarray:
        self.close()
        if self.data is None:
            return np.empty((0, self.m))
        return self.data[: self.n]


#: A matrix of at least this many bytes has its pages faulted in by a second thread.
_PREFAULT_BYTES = 1 << 24
#: The thread runs at most this many bytes ahead of the rows written (bounds what it
#: commits before the reader needs it).
_PREFAULT_AHEAD = 1 << 25


class _Prefault:
    """Fault in a fresh matrix's pages on another core while the reader parses.

    A page's first write costs a page fault (zeroing, and in a virtual machine often
    the host backing the page too): for the 1,000,000 x 19 float64 matrix 0.02-0.8 s
    of CPU, on the parsing thread when it writes the rows.  Here
    ``madvise(MADV_POPULATE_WRITE)`` (Linux >= 5.14) faults the pages in ahead of the
    writes, in chunks, without writing anything: the matrix's contents, and so the
    result, are the same with or without this thread (it only moves work to the
    other core).  It commits only rows up to ``stop_row`` (rows the file is expected
    to fill) and at most ``_PREFAULT_AHEAD`` bytes past the rows already written, so
    the read's memory stays what it would be.  Anywhere else (no such ``madvise``,
    not Linux) it does nothing.
    """

    _MADV_POPULATE_WRITE = 23

    def __init__(self, data: np.ndarray, stop_row: int, blocks: _Blocks) -> None:
        import sys
        import threading

        self.data, self.blocks = data, blocks  # the thread keeps the matrix alive
        self.row_bytes = data.strides[0]
        self.stop_row = min(stop_row, len(data))
        self.done = threading.Event()
        self.thread: Any = None
        if sys.platform.startswith("linux"):
            self.thread = threading.Thread(target=self._run, name="chainrule-prefault")
            self.thread.daemon = True
            self.thread.start()

    def stop(self) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join()

    def _run(self) -> None:
        import ctypes
        import mmap

        try:
            madvise = ctypes.CDLL(None, use_errno=True).madvise
        except (OSError, AttributeError):
            return
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        madvise.restype = ctypes.c_int
        page, chunk = mmap.PAGESIZE, 1 << 21
        base = self.data.ctypes.data
        at = -(-base // page) * page  # the first whole page
        end = base + self.stop_row * self.row_bytes
        while at < end and not self.done.is_set():
            written = base + self.blocks.n * self.row_bytes
            if at > written + _PREFAULT_AHEAD:
                self.done.wait(0.002)  # far enough ahead: let the reader catch up
                continue
            length = (min(chunk, end - at) // page) * page
            if length <= 0 or madvise(at, length, self._MADV_POPULATE_WRITE) != 0:
                return  # an older kernel (EINVAL): the writes fault the pages in
            at += length


def _numbers_as_text(values: np.ndarray) -> list[str | None]:
    from .files import _label_text

    return [None if np.isnan(v) else _label_text(v) for v in values.tolist()]


def _numeric_kind(dtype: Any) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_integer(dtype)
        or pa.types.is_floating(dtype)
        or pa.types.is_boolean(dtype)
        or pa.types.is_null(dtype)
    )


def _to_float(col: Any, out: np.ndarray | None = None) -> np.ndarray:
    """A numeric, boolean or all-null Arrow column as float64 (NaN where null), written
    chunk by chunk into ``out`` when given (no concatenated copy).

    The values are taken from the chunks' buffers: pyarrow's ``to_numpy`` (and any
    Python scalar handed to Arrow) imports pandas, ~0.3–0.6 s that a read need not pay.
    """
    import pyarrow as pa

    if out is None:
        out = np.empty(len(col), dtype=np.float64)
    if pa.types.is_null(col.type):
        out[:] = np.nan
        return out
    chunks = col.chunks if hasattr(col, "chunks") else [col]
    start = 0
    for chunk in chunks:
        stop = start + len(chunk)
        kind = _INTEGERS.get(str(chunk.type))
        if kind is not None:  # NumPy converts (pyarrow.compute costs ~0.1 s to import)
            out[start:stop] = _buffer_values(chunk, kind)
        else:
            if chunk.type != pa.float64():
                import pyarrow.compute as pc

                chunk = pc.cast(chunk, pa.float64())
            out[start:stop] = _buffer_values(chunk, np.float64)
        if chunk.null_count:
            out[start:stop][~_validity(chunk)] = np.nan
        start = stop
    return out


#: Arrow's integer types by name, as NumPy's (their values buffers read alike).
_INTEGERS = {
    name: np.dtype(name)
    for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
}


def _buffer_values(chunk: Any, dtype: Any) -> np.ndarray:
    """A fixed-width Arrow array's values buffer as NumPy (a view; nulls hold garbage)."""
    n = len(chunk)
    if n == 0:
        return np.empty(0, dtype=dtype)
    offset = chunk.offset * np.dtype(dtype).itemsize
    return np.frombuffer(chunk.buffers()[1], dtype=dtype, count=n, offset=offset)


def _validity(chunk: Any) -> np.ndarray:
    """Where an Arrow array holds a value (bool of shape ``(len(chunk),)``)."""
    n = len(chunk)
    bitmap = chunk.buffers()[0]
    if bitmap is None or chunk.null_count == 0:
        return np.ones(n, dtype=bool)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return bits[chunk.offset : chunk.offset + n].astype(bool)


def _codes(chunked: Any) -> tuple[np.ndarray, list[str]]:
    """A text column as dictionary codes: ``(codes, distinct)`` with ``codes`` an int32
    array of shape ``(n,)`` (−1 where the cell is null) into the ``distinct`` values,
    each stripped of surrounding whitespace.  Hash-based (Arrow's ``dictionary_encode``):
    every later decision is made once per distinct value, never per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(chunked, pa.ChunkedArray) and chunked.num_chunks == 1:
        chunked = chunked.chunk(0)
    # Encoded first, then the few distinct cells trimmed (and merged where trimming
    # makes two the same): the same codes as trimming every cell, in the same order of
    # first appearance, without a trimmed copy of the column.
    if _dictionary_of_text(chunked.type):
        # Encoded by the CSV reader, a dictionary a block: one dictionary for all the
        # blocks, in order of first appearance as dictionary_encode's.
        encoded = chunked
        if isinstance(chunked, pa.ChunkedArray) and chunked.num_chunks > 1:
            encoded = pa.table([chunked], names=["c"]).unify_dictionaries().column(0)
    else:
        encoded = pc.dictionary_encode(chunked)
    if isinstance(encoded, pa.ChunkedArray):
        # The chunks of an encoded chunked array share one dictionary (pyarrow builds
        # it across the chunks): their indices are concatenated, the text not copied.
        chunks = encoded.chunks
        if not chunks or any(len(c.dictionary) != len(chunks[-1].dictionary) for c in chunks):
            encoded = pc.dictionary_encode(chunked.combine_chunks())
        else:
            raw = chunks[-1].dictionary
            codes = np.concatenate(
                [np.empty(0, np.int32)] + [_index_codes(c.indices) for c in chunks]
            )
            return _trimmed(codes, raw)
    return _trimmed(_index_codes(encoded.indices), encoded.dictionary)


def _dictionary_of_text(dtype: Any) -> bool:
    """Whether an Arrow type is a dictionary of strings (a text column the CSV reader
    encoded as it parsed)."""
    import pyarrow as pa

    return bool(pa.types.is_dictionary(dtype) and pa.types.is_string(dtype.value_type))


def _index_codes(indices: Any) -> np.ndarray:
    """An Arrow int32 indices array as a writable NumPy array, −1 where null."""
    codes = _buffer_values(indices, np.int32).copy()
    if indices.null_count:
        codes[~_validity(indices)] = -1
    return codes


def _trimmed(codes: np.ndarray, raw: Any) -> tuple[np.ndarray, list[str]]:
    """Codes into a dictionary whose values are then stripped of surrounding
    whitespace as the line reader strips a cell (``str.strip``; two values that become
    one are merged, in order of first appearance)."""
    import pyarrow as pa

    if pa.types.is_date(raw.type):  # the distinct days as ISO text (no spaces to trim)
        return codes, raw.cast(pa.string()).to_pylist()
    values = raw.to_pylist()
    stripped = [v.strip() for v in values]
    if stripped == values:
        return codes, values
    first: dict[str, int] = {}
    remap = np.array([first.setdefault(v, len(first)) for v in stripped] + [-1], dtype=np.int32)
    return remap[codes], list(first)


def _text_or_numbers(chunked: Any) -> np.ndarray | tuple[TextColumn, np.ndarray, bool]:
    """A column pyarrow read as text: floats when every present cell is a number or a
    boolean (NaN where missing), else ``(column, words, typos)``: the cells, stripped
    and ``""`` where missing, as a :class:`TextColumn`, which of its values are words
    (neither numbers nor missing), and whether at least as many cells are numbers as
    words (a numeric column with typos).  Each distinct cell is looked at once
    (:func:`_codes`); nothing is made per row but the codes."""
    import pyarrow as pa

    from .files import _is_number

    codes, distinct = _codes(chunked)
    # One slot past the distinct values for the null code (−1 indexes the last slot).
    if pa.types.is_date(chunked.type):  # days pyarrow read: text, none a number
        missing = np.zeros(len(distinct) + 1, dtype=bool)
        missing[-1] = True
        boolean = number = np.zeros(len(distinct) + 1, dtype=bool)
        lowered = distinct
    else:
        lowered = [v.lower() for v in distinct]
        missing = np.array([v in _MISSING for v in lowered] + [True])
        boolean = np.array([v in ("true", "false") for v in lowered] + [False]) & ~missing
        number = np.array([_NUMBER_RE.match(v) is not None for v in distinct] + [False])
        other = ~(number | boolean | missing)
        for i in np.flatnonzero(other):  # inf, 1_000, ١٢: Python's float takes more
            number[i] = _is_number(distinct[i])
    other = ~(number | boolean | missing)
    if not other.any():
        values = np.full(len(distinct) + 1, np.nan)
        for i in np.flatnonzero(number):
            values[i] = float(distinct[i])
        for i in np.flatnonzero(boolean):
            values[i] = float(lowered[i] == "true")
        return values[codes]
    text = [("" if m else v) for v, m in zip(distinct, missing.tolist(), strict=False)] + [""]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(distinct), codes)
    numeric = number | boolean
    if missing.sum() > 1:  # two spellings of a missing cell: one value ""
        column = TextColumn.from_codes(codes, text)
        place = {v: i for i, v in enumerate(column.values.tolist())}
        at = np.array([place[v] for v in text])
        words = np.zeros(len(column.values), dtype=bool)
        words[at] = other
        merged = np.zeros(len(column.values), dtype=bool)
        merged[at] = numeric
        numeric = merged
    else:
        column, words = TextColumn(codes, np.array(text, dtype=str)), other
    if not numeric.any():  # no numbers, so fewer than the words (rows not counted)
        return column, words, False
    counts = column.counts()
    return column, words, bool(counts[numeric].sum() >= counts[words].sum())


def _check_text_column(
    p: Path,
    col: tuple[TextColumn, np.ndarray, bool],
    lines: np.ndarray,
    file_j: int,
    names: list[str],
) -> None:
    """A column with at least as many numbers as words is a numeric column with typos."""
    from .files import DataFileError, _col

    column, words, typos = col
    if typos:
        i = column.first_row(words)
        assert i is not None
        raise DataFileError(
            f"{p}: line {int(lines[i])}, {_col(file_j, names)}: {column[i][:40]!r} is not a number"
        )


def _target_cells(chunked: Any) -> np.ndarray:
    """The target column's cells, stripped; missing cells are ``""`` (per distinct cell,
    :func:`_codes`; noted with :func:`files.remember_decoded`)."""
    codes, distinct = _codes(chunked)
    text = np.array([("" if v.lower() in _MISSING else v) for v in distinct] + [""], dtype=str)
    cells = text[codes]
    files.remember_decoded(cells, text, np.where(codes < 0, len(text) - 1, codes))
    return cells


def _remember_parts(cells: np.ndarray, parts: list[np.ndarray]) -> None:
    """Note the target's concatenated text cells as decoded when every part was."""
    if cells.dtype.kind != "U":
        return
    decoded = [files._decoded(part) for part in parts]
    if not decoded or any(d is None for d in decoded):
        return
    distinct, inverse, offset = [], [], 0
    for d in decoded:
        assert d is not None
        distinct.append(d[0])
        inverse.append(d[1] + offset)
        offset += len(d[0])
    files.remember_decoded(cells, np.concatenate(distinct), np.concatenate(inverse))


def read_column(p: Path, name: str) -> np.ndarray:
    """One column of a table file as text (``""`` where missing), e.g. the ID column that
    ``predict`` writes first.

    Raises
    ------
    DataFileError
        The file has no column ``name``.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from .files import DataFileError

    with open(p, "rb") as f:
        head = f.read(_HEAD_BYTES)
    if sniff_table_format(head) is not None:
        table = arrow_table_of(p)
        if name not in table.column_names:
            raise DataFileError(f"{p}: no column named {name!r} (the model's --id-column)")
        return _target_cells(_plain(table.column(name)).cast(pa.string()))
    text = head.decode("utf-8-sig", errors="replace")
    end = text.find("\n")
    delimiter = _delimiter(p, text if end < 0 else text[:end])
    try:
        table = pacsv.read_csv(
            p,
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                include_columns=[name], column_types={name: pa.string()}
            ),
        )
    except (pa.ArrowInvalid, KeyError):
        raise DataFileError(f"{p}: no column named {name!r} (the model's --id-column)") from None
    return _target_cells(table.column(name))


# ---------------------------------------------------------------------- Arrow tables


def read_arrow_file(p: Path, **kwargs: Any) -> tuple[Any, ...]:
    """A Parquet, Feather or Arrow IPC file: the 7-tuple of ``files._read_csv``."""
    from .files import DataFileError

    try:
        table = arrow_table_of(p)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, …
        text = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DataFileError(f"{p}: not a readable Parquet/Feather/Arrow file ({text})") from None
    return from_arrow(p, table, **kwargs)


def from_arrow(
    p: Path | str,
    table: Any,
    *,
    target: str | int | None = None,
    has_target: bool | None = True,
    n_features: int | None = None,
    target_hint: str | None = None,
    columns: list[str] | None = None,
) -> tuple[Any, ...]:
    """An in-memory Arrow table's columns as the CSV reader gives them (``lines`` is None:
    rows are named by number).  Dates and times become ISO text, dictionary (categorical)
    columns their values' text."""
    import pyarrow as pa

    names = [str(n) for n in table.column_names]
    files._check_duplicates(p, names)
    n_cols = len(names)
    by_name = columns is not None
    if not by_name:
        files._check_columns(Path(str(p)), n_cols, n_features, has_target)
    if has_target is None:
        has_target = (
            (target is not None or (target_hint in names))
            if by_name
            else (n_features is not None and n_cols == n_features + 1)
        )
    t: int | None = None
    target_name: str | None = None
    if has_target:
        if target is None and target_hint is not None and target_hint in names:
            target = target_hint
        t = files._column_index(Path(str(p)), target, n_cols, names)
        target_name = names[t]
    if by_name:
        assert columns is not None
        file_col = files._select(Path(str(p)), names, columns, t)
    else:
        file_col = [j for j in range(n_cols) if j != t]
    chosen = set(file_col)
    ignored = [
        names[j] for j in range(n_cols) if j != t and j not in chosen and names[j] != target_hint
    ]
    n = table.num_rows
    if n == 0:
        raise files.DataFileError(f"{p}: the table has no rows")
    X = np.empty((n, len(file_col)), dtype=np.float64)
    texts: dict[int, TextColumn] = {}
    for j, c in enumerate(file_col):
        col = _plain(table.column(c))
        if _numeric_kind(col.type):
            X[:, j] = _to_float(col)
            continue
        values = _text_or_numbers(col.cast(pa.string()))
        if isinstance(values, np.ndarray):
            X[:, j] = values
        else:
            _check_text_column(Path(str(p)), values, np.arange(1, n + 1), c, names)
            texts[j] = values[0]
            X[:, j] = np.nan
    present = X[~np.isnan(X)]
    if not np.isfinite(present).all():
        i, j = np.argwhere(~np.isfinite(np.where(np.isnan(X), 0.0, X)))[0]
        raise files.DataFileError(
            f"{p}: row {i + 1}, {files._col(file_col[j], names)}: {X[i, j]} is not a finite number"
        )
    y_raw = None
    if t is not None:
        col = _plain(table.column(t))
        if _numeric_kind(col.type):
            y_raw = _to_float(col)
        else:
            y_raw = _target_cells(col.cast(pa.string()))
    return X, y_raw, [names[j] for j in file_col], target_name, None, texts, ignored


def _plain(col: Any) -> Any:
    """Dictionary columns decoded; dates and times as ISO 8601 text."""
    import pyarrow as pa

    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type) or pa.types.is_time(col.type):
        col = col.cast(pa.string())
    if pa.types.is_decimal(col.type):
        col = col.cast(pa.float64())
    if pa.types.is_large_string(col.type) or pa.types.is_string_view(col.type):
        col = col.cast(pa.string())
    return col


# files' line reader hands CSV/TSV, Parquet, Feather and Arrow files to these first.
files.register_table_readers(
    sniff=sniff_table_format,
    arrow_file=read_arrow_file,
    csv=read_csv_arrow,
    give_back=_give_back_memory,
)
