"""Reading the arrays of a model file's ``.npz`` archive with bounded memory.

A model file is a zip archive of ``.npy`` members.  A hostile one may hold a zip
bomb (a few MB that inflate to GBs), arrays far larger than its metadata says,
pickled objects, or members that chainrule never wrote.  :class:`ModelArchive`
therefore

* lists the members from the zip directory and refuses unknown names, duplicates,
  encrypted members and compression methods other than stored/deflate — without
  decompressing;
* reads each array's ``.npy`` header alone (a few hundred bytes) so that the caller
  can check shapes and dtypes against the metadata *before* anything is allocated;
* refuses a member whose declared size is not exactly its header plus its data, or
  that inflates more than :data:`MAX_RATIO` times (a zip bomb), and reads exactly the
  declared number of bytes: decompression never runs past what the header promised.

Nothing is ever unpickled: object dtypes are refused from the header.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import IO

import numpy as np
import numpy.lib.format as npy_format

__all__ = ["MAX_METADATA_BYTES", "MAX_RATIO", "ArchiveError", "ModelArchive"]

#: A deflated member may inflate at most this many times (plus 1 MiB): real weights
#: compress about 1.1×, a zip bomb about 1000×.
MAX_RATIO = 100
#: The largest metadata entry read (JSON text; 10,000 epochs of history take about
#: 2 MB).  Parsed JSON takes up to some 20 times its text, so this bounds that too.
MAX_METADATA_BYTES = 16 << 20
_SLACK = 1 << 20
#: General-purpose flag bits of an encrypted zip member (traditional PKWARE encryption,
#: strong encryption, an encrypted central directory): zipfile would ask for a password.
_ENCRYPTED = 0x0001 | 0x0040 | 0x2000


class ArchiveError(ValueError):
    """The archive is not what a model file may hold; the message says why."""


class ModelArchive:
    """The members of a model file's zip archive, read one bounded array at a time.

    Parameters
    ----------
    raw : bytes
        The whole file.
    """

    def __init__(self, raw: bytes) -> None:
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(raw))
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
            raise ArchiveError(f"not a readable zip archive ({exc})") from None
        self._members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if not info.filename.endswith(".npy"):
                raise ArchiveError(f"unexpected member {info.filename[:60]!r} in the archive")
            if name in self._members:
                raise ArchiveError(f"the member {info.filename[:60]!r} occurs twice")
            if info.flag_bits & _ENCRYPTED:
                raise ArchiveError(
                    f"{info.filename[:60]!r} is encrypted, which a model file never is"
                )
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ArchiveError(
                    f"{info.filename[:60]!r} uses an unsupported compression "
                    f"method ({info.compress_type})"
                )
            if (
                info.compress_type == zipfile.ZIP_DEFLATED
                and info.file_size > MAX_RATIO * info.compress_size + _SLACK
            ):
                raise ArchiveError(
                    f"{info.filename[:60]!r} would inflate from "
                    f"{info.compress_size} to {info.file_size} bytes (a zip "
                    f"bomb?)"
                )
            self._members[name] = info

    def __enter__(self) -> ModelArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self._zip.close()

    @property
    def names(self) -> list[str]:
        """The array names, as listed in the zip directory."""
        return list(self._members)

    def check_names(self, allowed: Callable[[str], bool]) -> None:
        """Refuse any member whose name ``allowed`` rejects (nothing is decompressed)."""
        for name in self._members:
            if not allowed(name):
                raise ArchiveError(f"unexpected member {name[:60]!r}.npy in the archive")

    def header(self, name: str) -> tuple[tuple[int, ...], np.dtype]:
        """``(shape, dtype)`` from the member's ``.npy`` header, reading nothing else."""
        with self._zip.open(self._members[name]) as f:
            shape, _, dtype, _ = self._read_header(name, f)
        return shape, dtype

    def read(self, name: str, *, max_bytes: int | None = None) -> np.ndarray:
        """The array ``name``, reading exactly the bytes its header declares.

        ``max_bytes`` bounds the data; the member's size in the zip directory must be
        its header plus its data, so nothing past the declared array is inflated.
        """
        info = self._members[name]
        with self._zip.open(info) as f:
            shape, fortran, dtype, offset = self._read_header(name, f)
            nbytes = (
                int(np.prod(shape, dtype=np.int64)) * dtype.itemsize if shape else dtype.itemsize
            )
            if max_bytes is not None and nbytes > max_bytes:
                raise ArchiveError(
                    f"{name} would take {nbytes} bytes, more than the {max_bytes} allowed"
                )
            if info.file_size != offset + nbytes:
                raise ArchiveError(
                    f"{name}: the archive says {info.file_size} bytes, its header {offset + nbytes}"
                )
            data = f.read(nbytes)
        if len(data) != nbytes:
            raise ArchiveError(f"{name} is truncated ({len(data)} of {nbytes} bytes)")
        arr = np.frombuffer(data, dtype=dtype)
        return arr.reshape(shape, order="F" if fortran else "C").copy()

    @staticmethod
    def _read_header(name: str, f: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype, int]:
        try:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = npy_format.read_array_header_2_0(f)
            else:
                raise ArchiveError(f"{name}: unsupported .npy version {version}")
            offset = f.tell()
        except ArchiveError:
            raise
        except (ValueError, OSError, EOFError, SyntaxError, TypeError, zipfile.BadZipFile) as exc:
            raise ArchiveError(f"{name}: not a readable .npy header ({str(exc)[:80]})") from None
        if dtype.hasobject:
            raise ArchiveError(
                f"{name} holds a pickled object array, which chainrule never "
                f"loads (unpickling can run code)"
            )
        if any(not isinstance(n, int) or n < 0 for n in shape):
            raise ArchiveError(f"{name}: bad shape {shape}")
        return tuple(shape), bool(fortran), dtype, offset
