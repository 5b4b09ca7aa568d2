"""The ``chainrule`` command line: argument parsing and messages, no math.

Each subcommand lives in its own module exposing ``register(subparsers)``; it
adds its parser and sets ``func`` to a function ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from .._version import __version__
from ..training.divergence import TrainingDiverged
from .common import CLIError, HelpFormatter

__all__ = ["CLIError", "main"]

#: Subcommand modules, in the order ``--help`` lists them (``*_command``: named apart
#: from the library module of the same name, e.g. ``chainrule.gradcheck``).
COMMANDS = ("train", "datasets", "evaluate", "predict", "info", "explain", "gradcheck_command",
            "report_command", "plot", "export", "playground")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Feed-forward neural networks trained by backpropagation, "
        "following the seed derivation equation by equation.",
        epilog="Run 'chainrule COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".{name}", __name__).register(sub)
    for command in sub.choices.values():  # every option's help shows its default
        command.formatter_class = HelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    0 success; 1 the system failed us (disk full, out of memory, permission
    denied while writing); 2 bad input (options, data or model files); 3 training
    diverged (nothing saved); 130 interrupted by Ctrl-C.  Every failure is one line
    on standard error, never a traceback (docs/guarantees.md).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    command = f"chainrule {args.command}"
    with _stdout_may_close(), _one_interrupt():
        try:
            return int(args.func(args) or 0)
        except CLIError as exc:
            return _fail(f"{command}: error: {exc}", 2)
        except TrainingDiverged as exc:
            return _fail(f"{command}: error: {exc.message('--learning-rate', '--l2')}", 3)
        except KeyboardInterrupt:
            return _fail(f"{command}: interrupted; no file was changed", 130)
        except MemoryError as exc:
            return _fail(f"{command}: error: {exc or 'out of memory'}", 1)
        except OSError as exc:  # disk full, permission denied, I/O error while writing
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            return _fail(f"{command}: error: {where}{exc.strerror or exc}", 1)
        except Exception as exc:  # a bug: still one line (CHAINRULE_DEBUG=1 shows where)
            if os.environ.get("CHAINRULE_DEBUG"):
                raise
            text = str(exc).splitlines()[0][:200] if str(exc) else ""
            return _fail(f"{command}: internal error: {type(exc).__name__}: {text} "
                         f"(please report it; CHAINRULE_DEBUG=1 shows the traceback)", 1)


def _fail(message: str, status: int) -> int:
    """Print the one-line message; return ``status`` (130 if Ctrl-C cuts the print short)."""
    if status == 130:
        # Interrupted: the process is on its way out, so later Ctrl-Cs (while this line
        # is printed, or while the interpreter shuts down) are ignored, not a traceback.
        with contextlib.suppress(ValueError):  # not the main thread
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        print(message, file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        return 130
    except OSError:
        pass
    return status


@contextlib.contextmanager
def _one_interrupt() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt once; later ones are ignored while it unwinds.

    The interrupted command is already on its way out (removing temporary files,
    printing its line): a second Ctrl-C must not cut that short with a traceback,
    so after an interrupt SIGINT stays ignored until the process exits.
    (``fit`` installs its own handler while training: there the first Ctrl-C
    stops after the current batch.)
    """
    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is handler:  # else interrupted: stay ignored
            signal.signal(signal.SIGINT, previous)


class _ClosableStdout(io.TextIOBase):
    """Standard output that turns silent when its reader goes away (``| head``).

    A closed pipe must not abort the command half-way (a training run still saves
    its model), so the first ``BrokenPipeError`` points file descriptor 1 at
    ``/dev/null`` and later writes are dropped.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._closed_pipe = False

    def write(self, text: str) -> int:
        if not self._closed_pipe:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self._closed_pipe:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    def fileno(self) -> int:
        return self._stream.fileno()

    def _drop(self) -> None:
        self._closed_pipe = True
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)


@contextlib.contextmanager
def _stdout_may_close() -> Iterator[None]:
    previous = sys.stdout
    if previous is None or isinstance(previous, _ClosableStdout):
        yield
        return
    sys.stdout = _ClosableStdout(previous)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout = previous


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
