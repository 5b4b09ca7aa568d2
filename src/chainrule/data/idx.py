"""The IDX file format of MNIST and Fashion-MNIST, raw or gzip-compressed.

An IDX file is a big-endian header — two zero bytes, a type code, the number of
dimensions ``d`` — then ``d`` 32-bit sizes, then the data in C order.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDXError", "parse_idx", "read_idx", "write_idx"]

# type code -> big-endian dtype
_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _TYPES.items()}


class IDXError(ValueError):
    """A file that is not a valid IDX file; the message names the file and the problem."""


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) into an array in native byte order.

    Parameters
    ----------
    path : path-like
        Compression is detected from the content (gzip magic), not the name.

    Returns
    -------
    ndarray
        Shape as given in the header, e.g. ``(60000, 28, 28)`` uint8 for MNIST images.

    Raises
    ------
    IDXError
        For a missing file, a bad header, an unknown type code, or a data size that
        does not match the header.
    """
    from ..input_files import InputFileError, read_input_bytes

    p = Path(path)
    try:  # a regular file (no FIFO or device), no larger than the memory left
        raw = read_input_bytes(p, "IDX file")
    except InputFileError as exc:
        raise IDXError(str(exc)) from None
    return parse_idx(raw, p)


def parse_idx(raw: bytes, name: str | os.PathLike[str] = "<bytes>") -> np.ndarray:
    """Parse the bytes of an IDX file (``.gz`` or raw); ``name`` is used in messages.

    Lets a caller that already holds the file's bytes avoid reading it twice.
    """
    p = name
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = _gunzip_bounded(raw, p)
        except (OSError, EOFError, ValueError, zlib.error) as exc:
            if isinstance(exc, IDXError):
                raise
            raise IDXError(f"{p}: corrupt gzip data ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IDXError(f"{p}: not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _TYPES:
        raise IDXError(f"{p}: unknown IDX data type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{p}: truncated header ({len(raw)} bytes, expected {header})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if ndim == 0 or shape[0] == 0:
        raise IDXError(
            f"{p}: holds no images or labels (its header says {shape[0] if ndim else 0} items)"
        )
    dtype = np.dtype(_TYPES[code])
    expected = math.prod(shape) * dtype.itemsize  # exact: no int64 overflow on a bad header
    if len(raw) - header != expected:
        raise IDXError(
            f"{p}: data size {len(raw) - header} bytes does not match the header's "
            f"shape {shape} ({expected} bytes)"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=False) if dtype.itemsize > 1 else data


#: A gzipped IDX file may inflate at most this many times (plus 1 MiB): MNIST's images
#: inflate about 5 times, a gzip bomb about 1000 times.
MAX_RATIO = 100


def _gunzip_bounded(raw: bytes, p: str | os.PathLike[str]) -> bytes:
    """Inflate a gzipped IDX file, never past what its own header declares.

    The header (first ``4 + 4d`` bytes) is inflated alone; the data size it implies
    must be within :data:`MAX_RATIO` of the compressed size, and at most that many
    bytes (and one more, to detect excess) are ever inflated.
    """
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    pending = raw

    def more(n: int) -> None:
        """Inflate until ``out`` holds ``n`` bytes or the stream ends."""
        nonlocal pending
        while len(out) < n and not d.eof:
            chunk = d.decompress(pending, n - len(out))
            pending = d.unconsumed_tail
            if not chunk and not pending:
                break
            out.extend(chunk)
        if len(out) < n and not d.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")

    more(4)
    if len(out) < 4:
        return bytes(out)  # too short: parse_idx says so
    more(4 + 4 * out[3])
    header = 4 + 4 * out[3]
    if len(out) < header or out[2] not in _TYPES:
        return bytes(out)
    shape = struct.unpack(f">{out[3]}I", bytes(out[4:header]))
    expected = header + math.prod(shape) * np.dtype(_TYPES[out[2]]).itemsize
    if expected > MAX_RATIO * len(raw) + (1 << 20):
        raise IDXError(
            f"{p}: its header declares shape {shape}, {expected} bytes from "
            f"{len(raw)} compressed (a gzip bomb?)"
        )
    more(expected + 1)
    return bytes(out)


def write_idx(
    path: str | os.PathLike[str], array: np.ndarray, *, compress: bool | None = None
) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when the name ends in ``.gz``)."""
    arr = np.asarray(array)
    native = arr.dtype.newbyteorder("=")
    if native not in _CODES:
        raise ValueError(f"IDX cannot store dtype {arr.dtype}")
    p = Path(path)
    header = bytes([0, 0, _CODES[native], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    body = header + arr.astype(native.newbyteorder(">"), copy=False).tobytes()
    if compress if compress is not None else p.suffix == ".gz":
        body = gzip.compress(body)
    p.write_bytes(body)
