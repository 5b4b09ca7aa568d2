"""Writing files so that an existing file is never lost or half-written.

Every file chainrule writes (models, reports, figures, predictions, the JSON log)
goes through :func:`atomic_write` or :class:`AtomicFile`: the new content fills a
temporary file in the target's folder, is flushed and fsync'ed, and is renamed over
the target in one step.  A failure at any point — disk full, Ctrl-C, a crash, the
process killed — leaves the previous file byte-identical.

* The temporary file is named ``.NAME.chainrule-PID-XXXX.tmp``; one left behind by
  a killed process (whose PID no longer runs) is removed by the next write to NAME.
* A symlink is written through: its target gets the new content, the link stays.
* An existing target keeps its permission bits; a new file gets those a plain
  ``open()`` would give (``0o666`` less the umask).
* Devices, FIFOs and sockets are never replaced (:class:`OutputPathError`).
* Ctrl-C while the temporary file is made, or during the clean-up after a failure, is
  held back until the file is registered for removal (or gone), then raised; under the
  command line (:mod:`chainrule.interruption`) a Ctrl-C or SIGTERM during the final
  rename is held back until the file is in place and recorded as written, so the
  command's last line is true about it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from .interruption import critical, record_written

__all__ = ["AtomicFile", "OutputPathError", "atomic_write", "check_output_path", "same_file"]


class OutputPathError(ValueError):
    """An output path that cannot be written: a directory, a device, or in a missing folder."""


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Check, before any work is done, that a file can be written at ``path``.

    Returns the path as given.

    Raises
    ------
    OutputPathError
        When ``path`` is a directory, a device, FIFO or socket, or its folder does
        not exist or cannot be written.
    """
    p = Path(path)
    if p.is_dir():
        raise OutputPathError(f"{p}: is a directory, expected a file name")
    if str(path).endswith(("/", os.sep)):  # Path() would drop the slash: "dir/" → "dir"
        raise OutputPathError(f"{path}: names a folder (it ends with '/'), expected a file name")
    target = Path(os.path.realpath(p))  # write through a symlink, to its target
    try:
        mode = os.stat(target).st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputPathError(
            f"{p}: is not a regular file (a device, FIFO or socket); refusing to replace it"
        )
    folder = target.parent
    if not folder.is_dir():
        raise OutputPathError(f"{p}: the folder {str(p.parent)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        # The new file is created beside the target, then renamed: the folder must be
        # writable even when the file itself is.
        raise OutputPathError(
            f"{p}: cannot write in the folder {str(folder)!r} (permission denied)"
        )
    return p


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when ``a`` and ``b`` name one file (equal paths, symlinks or hard links)."""
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold back SIGINT (a second Ctrl-C) while a clean-up runs, deliver it after."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:
        yield
        return
    old = mask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, old)


#: Temporary files neither committed nor discarded (e.g. a JSON log whose ``fit`` raised):
#: removed when the interpreter exits.
_UNFINISHED: set[str] = set()


@atexit.register
def _remove_unfinished() -> None:
    for temp in list(_UNFINISHED):
        with contextlib.suppress(OSError):
            os.unlink(temp)
    _UNFINISHED.clear()


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.chainrule-"


def _remove_stale_temps(target: Path) -> None:
    """Remove temporary files of earlier writes to ``target`` whose process is gone."""
    prefix = _temp_prefix(target)
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            name = entry.name
            if not (name.startswith(prefix) and name.endswith(".tmp")):
                continue
            pid_text = name[len(prefix) :].split("-", 1)[0]
            if not pid_text.isdigit() or _running(int(pid_text)):
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


class AtomicFile:
    """A file written in steps and put in place in one: :meth:`commit` or :meth:`discard`.

    Until :meth:`commit`, the content lives in a temporary file next to the target
    and the target is untouched.  ``keep`` copies the target's current content
    first, so that :meth:`commit` appends to it.
    """

    def __init__(self, path: str | os.PathLike[str], *, keep: bool = False) -> None:
        p = check_output_path(path)
        self.path = p
        self.target = Path(os.path.realpath(p))
        _remove_stale_temps(self.target)
        self.file: IO[bytes] | None = None
        # Made and registered together: a signal between the two would leave a
        # temporary file nobody removes (held back until it is registered; from then
        # on a discard, or the interpreter's exit, removes it).
        try:
            with _sigint_held(), critical():
                fd, self.temp = tempfile.mkstemp(
                    dir=self.target.parent,
                    prefix=f"{_temp_prefix(self.target)}{os.getpid()}-",
                    suffix=".tmp",
                )
                _UNFINISHED.add(self.temp)
                self.file = os.fdopen(fd, "wb")
        except OSError as exc:
            raise _write_error(p, exc) from None
        try:
            if keep and self.target.is_file():
                with open(self.target, "rb") as old:
                    while chunk := old.read(1 << 20):
                        self.file.write(chunk)
        except BaseException:
            self.discard()
            raise

    def write(self, data: bytes) -> None:
        """Append ``data`` to the new content and flush it (it can be followed)."""
        if self.file is None:
            raise ValueError("the file was already committed or discarded")
        with self._or_discard():
            self.file.write(data)
            self.file.flush()

    def commit(self) -> Path:
        """Flush, fsync and rename over the target; returns the path as given."""
        f = self.file
        if f is None:
            raise ValueError("the file was already committed or discarded")
        with self._or_discard():
            f.flush()
            os.fsync(f.fileno())
            f.close()
            self.file = None
            try:
                mode = stat.S_IMODE(os.stat(self.target).st_mode)
            except FileNotFoundError:
                umask = os.umask(0)
                os.umask(umask)
                mode = 0o666 & ~umask
            # mkstemp makes the file private (0600): give it the target's permissions.
            os.chmod(self.temp, mode)
            # Put in place and recorded together: a signal meanwhile waits until both are
            # done, so the line an interrupted command prints is true about this file.
            with critical():
                os.replace(self.temp, self.target)
                _UNFINISHED.discard(self.temp)
                record_written(str(self.path))
        # Make the rename itself durable (not possible on every platform).
        with contextlib.suppress(OSError, AttributeError):
            dir_fd = os.open(self.target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return self.path

    @contextlib.contextmanager
    def _or_discard(self) -> Iterator[None]:
        """On any failure remove the temporary file; an OSError is said to spare the old."""
        try:
            yield
        except OSError as exc:
            self.discard()
            raise _write_error(self.path, exc) from None
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Remove the temporary file; the target stays as it was."""
        with _sigint_held(), critical():
            if self.file is not None:
                with contextlib.suppress(OSError):
                    self.file.close()
                self.file = None
            with contextlib.suppress(OSError):
                os.unlink(self.temp)
            _UNFINISHED.discard(self.temp)


def _write_error(path: Path, exc: OSError) -> OSError:
    """The error of a failed write, naming the file and saying the old one is intact."""
    return OSError(
        exc.errno,
        f"{path}: could not write it ({exc.strerror or exc}); any previous file is intact",
    )


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> Path:
    """Write a file so that readers see the old content or the new, never a part.

    ``write(f)`` fills a temporary file in the same folder; it is flushed and
    fsync'ed, then renamed over ``path`` (``os.replace`` is atomic on POSIX and
    Windows within one file system).  If anything fails — including ``write``
    raising or the process being interrupted — the temporary file is removed and
    an existing ``path`` is untouched.  An ``OSError`` (disk full, …) is raised
    again with a message naming ``path``.
    """
    out = AtomicFile(path)
    with out._or_discard():
        assert out.file is not None
        write(out.file)
    return out.commit()
