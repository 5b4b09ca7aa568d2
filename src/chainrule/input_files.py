"""One opener for every file a command reads: bounded, regular files only, clear errors.

Every path chainrule reads — model files, data tables, IDX files, the examples of
``explain --example`` and ``gradcheck --data``, JSON documents — goes through
:func:`read_input_bytes` (or :func:`read_input_text`, :func:`read_json`), which

* opens the path without blocking (``O_NONBLOCK``: a FIFO with no writer cannot
  hang the command) and checks *the opened file* (``fstat``, so nothing can be
  swapped in between the check and the read): a directory, a FIFO, a device such
  as ``/dev/zero`` or a socket is refused in one line without reading from it;
* refuses a file larger than its bound (given by the caller, or the memory this
  process may still allocate) before reading it, and reads at most that many bytes
  even if the file grows meanwhile;
* decodes text as UTF-8 with an error that names the byte offset, and bounds the
  nesting depth of JSON before parsing it (the parser would otherwise recurse
  until ``RecursionError``).

Every failure is an :class:`InputFileError` (a ``ValueError``) whose message starts
with the path; callers re-raise it as their own error class (``ModelFileError``,
``DataFileError``, the CLI's one-line error).
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MAX_JSON_DEPTH",
    "InputFileError",
    "check_input_file",
    "decode_text",
    "json_depth",
    "parse_json",
    "read_input_bytes",
    "read_input_text",
    "read_json",
]

#: The deepest JSON nesting (arrays and objects inside each other) chainrule parses.
#: Its own files need 5; the bound keeps the parser's recursion far from Python's limit.
MAX_JSON_DEPTH = 64

_CHUNK = 1 << 20


class InputFileError(ValueError):
    """A file that cannot be read as asked; the message names the path and the reason."""


def _memory_bound() -> int | None:
    from .memory import available_memory  # light module, but only when needed

    return available_memory()


def check_input_file(
    path: str | os.PathLike[str], what: str = "file", *, max_bytes: int | None = None
) -> int:
    """Check, without reading it, that ``path`` is a regular file of at most ``max_bytes``
    (default: the memory this process may still allocate); its size in bytes.

    For readers that open the path themselves (pyarrow's CSV, Parquet and Feather
    readers): the same checks, messages and non-blocking open as
    :func:`read_input_bytes`, so a FIFO, device or directory is refused in one line
    before such a reader could block on it.  An empty file passes (size 0).

    Raises
    ------
    InputFileError
    """
    p = Path(path)
    fd = _open(p, what)
    try:
        return _check_opened(p, fd, what, max_bytes)[0]
    finally:
        os.close(fd)


def _open(p: Path, what: str) -> int:
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        return os.open(p, flags)
    except FileNotFoundError:
        raise InputFileError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise InputFileError(f"{p}: is a directory, expected a {what}") from None
    except OSError as exc:
        raise InputFileError(f"{p}: cannot read: {exc.strerror or exc}") from None


def _check_opened(p: Path, fd: int, what: str, max_bytes: int | None) -> tuple[int, int | None]:
    """The opened file's size and the bound on it; InputFileError if it is no regular file
    or larger than the bound."""
    try:
        info = os.fstat(fd)
    except OSError as exc:
        raise InputFileError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputFileError(f"{p}: is a directory, expected a {what}")
    if not stat.S_ISREG(info.st_mode):
        # A FIFO may never end (or block for ever with no writer); /dev/zero never ends.
        raise InputFileError(
            f"{p}: is not a regular file (a FIFO, device or socket), expected a {what}"
        )
    limit = max_bytes if max_bytes is not None else _memory_bound()
    if limit is not None and info.st_size > limit:
        raise InputFileError(
            f"{p}: the {what} has {info.st_size:,} bytes, more than the "
            f"{limit:,} that can be read"
            + ("" if max_bytes is not None else " into the memory left")
        )
    return int(info.st_size), limit


def read_input_bytes(
    path: str | os.PathLike[str],
    what: str = "file",
    *,
    max_bytes: int | None = None,
    allow_empty: bool = False,
) -> bytes:
    """The whole content of the regular file ``path``, bounded in size.

    Parameters
    ----------
    path : path-like
    what : str
        What the file is, for messages: ``"model file"``, ``"data file"``, …
    max_bytes : int, optional
        The largest file accepted.  Default: the memory this process may still
        allocate (a larger file could only end in ``MemoryError``).
    allow_empty : bool
        Accept an empty file (default: refused, "the file is empty").

    Raises
    ------
    InputFileError
        A missing path, a directory, FIFO, device or socket, an unreadable, empty or
        too large file; the message starts with the path.
    """
    p = Path(path)
    fd = _open(p, what)
    try:
        _, limit = _check_opened(p, fd, what, max_bytes)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        cap = limit if limit is not None else None
        while True:
            want = _CHUNK if cap is None else min(_CHUNK, cap + 1 - size)
            chunk = os.read(fd, max(want, 1))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if cap is not None and size > cap:  # the file grew while it was read
                raise InputFileError(f"{p}: the {what} grew past {cap:,} bytes while it was read")
    except OSError as exc:
        raise InputFileError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except MemoryError:
        raise InputFileError(f"{p}: the {what} is too large to read into memory") from None
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    if not raw and not allow_empty:
        raise InputFileError(f"{p}: the file is empty")
    return raw


def decode_text(raw: bytes, where: str | os.PathLike[str], what: str = "file") -> str:
    """UTF-8 bytes (a byte-order mark is dropped) as text, or :class:`InputFileError`."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputFileError(
            f"{where}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}, "
            f"line {line}); expected a {what}"
        ) from None


def read_input_text(
    path: str | os.PathLike[str], what: str = "text file", *, max_bytes: int | None = None
) -> str:
    """The regular file ``path`` decoded as UTF-8 (see :func:`read_input_bytes`)."""
    return decode_text(read_input_bytes(path, what, max_bytes=max_bytes), path, what)


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(text: str | bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` in a JSON text (brackets in strings ignored).

    Counts without recursing, in NumPy, so it is safe on a hostile text of any depth.
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    raw = _STRINGS.sub(b'""', raw)
    codes = np.frombuffer(raw, dtype=np.uint8)
    step = np.zeros(len(codes), dtype=np.int64)
    step[(codes == ord("[")) | (codes == ord("{"))] = 1
    step[(codes == ord("]")) | (codes == ord("}"))] = -1
    return int(np.cumsum(step).max(initial=0))


def parse_json(
    text: str | bytes, where: str | os.PathLike[str], *, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """Parse a JSON text whose nesting is at most ``max_depth``, or :class:`InputFileError`.

    The message names ``where``, the line and column of a syntax error, or the depth.
    """
    depth = json_depth(text)
    if depth > max_depth:
        raise InputFileError(
            f"{where}: JSON nested {depth} levels deep, more than the {max_depth} chainrule reads"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{where}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise InputFileError(f"{where}: not valid JSON ({type(exc).__name__})") from None


def read_json(
    path: str | os.PathLike[str],
    what: str = "JSON file",
    *,
    max_bytes: int | None = None,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """A regular UTF-8 JSON file, bounded in size and depth (see :func:`parse_json`)."""
    return parse_json(read_input_text(path, what, max_bytes=max_bytes), path, max_depth=max_depth)
