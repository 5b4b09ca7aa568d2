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
import warnings
from collections.abc import Iterator, Sequence
from typing import NoReturn, TextIO

from .. import interruption
from .._version import __version__
from ..training.divergence import TrainingDiverged
from . import common
from .common import CLIError, HelpFormatter

__all__ = ["CLIError", "main"]

#: Subcommand modules, in the order ``--help`` lists them (``*_command``: named apart
#: from the library module of the same name, e.g. ``chainrule.gradcheck``).
COMMANDS = (
    "train",
    "datasets",
    "evaluate",
    "predict",
    "info",
    "explain",
    "gradcheck_command",
    "report_command",
    "plot",
    "export",
    "playground",
)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line: the error and where to read the usage."""

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {text}; see `{self.prog} --help`\n")

    def parse_args(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        namespace: argparse.Namespace | None = None,
    ) -> argparse.Namespace:
        """As argparse, but an unknown option is blamed on the command it was given to."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            commands: dict[str, argparse.ArgumentParser] = getattr(self, "commands", {})
            parser = commands.get(getattr(parsed, "command", None) or "", self)
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = ArgumentParser(
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
    parser.commands = dict(sub.choices)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    0 success; 1 the system failed us (disk full, out of memory, permission
    denied while writing) or a bug; 2 bad input (options, data or model files);
    3 training diverged (nothing saved); 130 interrupted by Ctrl-C, 143 by SIGTERM,
    with one line saying which files were written (docs/guarantees.md).  Every
    failure is one line on standard error, never a traceback.

    Called without ``argv`` (the real command line, the process exits next), SIGINT
    and SIGTERM stay ignored afterwards: a Ctrl-C while the interpreter shuts down is
    neither a traceback nor a death by signal (:func:`chainrule.interruption.handled`).
    """
    with interruption.handled(restore=argv is not None):
        status, message = _run(argv)
        if message:
            _say(message)
        return status


def _run(argv: Sequence[str] | None) -> tuple[int, str | None]:
    """Parse and run the command: ``(exit status, the last line to print or None)``."""
    words = sys.argv[1:] if argv is None else list(argv)
    command = f"chainrule {words[0]}" if words and words[0] in COMMANDS else "chainrule"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            status, message = 0, None
        else:
            command = f"chainrule {args.command}"
            with _standard_streams(), _stdout_may_close(), _warnings_as_lines(command):
                status, message = _call(args, command)
        interruption.close()  # from here on a signal is recorded, never raised
    except KeyboardInterrupt as exc:
        interruption.close()
        return _interrupted(command, exc)
    if interruption.received() is not None:
        # A signal the command did not stop for (a KeyboardInterrupt swallowed in a
        # finaliser, or one that came after its work): still an interrupted run.
        return _interrupted(command, None)
    return status, message


def _call(args: argparse.Namespace, command: str) -> tuple[int, str | None]:
    """Run the command; map each kind of failure to its status and one line."""
    try:
        return int(args.func(args) or 0), None
    except CLIError as exc:
        return 2, f"{command}: error: {exc}"
    except TrainingDiverged as exc:
        return 3, f"{command}: error: {exc.message('--learning-rate', '--l2')}"
    except MemoryError as exc:
        return 1, f"{command}: error: {exc or 'out of memory'}"
    except OSError as exc:  # disk full, permission denied, I/O error while writing
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return 1, f"{command}: error: {where}{exc.strerror or exc}"
    except Exception as exc:  # a bug: still one line (CHAINRULE_DEBUG=1 shows where)
        if os.environ.get("CHAINRULE_DEBUG"):
            raise
        text = str(exc).splitlines()[0][:200] if str(exc) else ""
        return 1, (
            f"{command}: internal error: {type(exc).__name__}: {text} "
            f"(please report it; CHAINRULE_DEBUG=1 shows the traceback)"
        )


def _interrupted(command: str, exc: BaseException | None) -> tuple[int, str]:
    """Status 128 + signal and one line, true about every file: which were written.

    Every file chainrule writes is put in place by :mod:`chainrule.atomic`, which
    records it; any other file, and any old file not listed, is as it was.
    """
    signum = int(interruption.received() or getattr(exc, "signum", None) or signal.SIGINT)
    what = (
        "interrupted" if signum == signal.SIGINT else f"terminated by {signal.Signals(signum).name}"
    )
    detail = getattr(exc, "detail", "")
    described = set(getattr(exc, "described", ()))
    others = [p for p in dict.fromkeys(interruption.written()) if p not in described]
    if others:
        files = f"wrote {', '.join(others)}; no other file was changed"
    else:
        files = "no other file was changed" if described else "no file was changed"
    hint = getattr(exc, "hint", "")
    return 128 + signum, f"{command}: {what}{detail}; {files}" + (f" ({hint})" if hint else "")


def _say(message: str) -> None:
    """Print the last line on standard error (closed or broken: nothing to be done)."""
    stream = sys.stderr
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        print(message, file=stream, flush=True)


@contextlib.contextmanager
def _warnings_as_lines(command: str) -> Iterator[None]:
    """A warning (L-BFGS did not converge, …) is one line: ``chainrule CMD: warning: …``."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        text = " ".join(str(message).split()) or category.__name__
        _say(f"{command}: warning: {text}")

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


@contextlib.contextmanager
def _standard_streams() -> Iterator[None]:
    """Closed standard streams (``>&-``) point at ``/dev/null`` for the command.

    Otherwise the next file opened would get descriptor 1 and ``print`` would write
    into it; a command whose result goes to standard output refuses to run
    (:func:`.common.stdout_closed`).
    """
    closed = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            with contextlib.suppress(OSError):
                null = os.open(os.devnull, os.O_RDWR)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
                closed.append(fd)
    previous = sys.stdout
    replaced = previous is None or 1 in closed
    if replaced:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")
    common.STDOUT_CLOSED = replaced
    try:
        yield
    finally:
        common.STDOUT_CLOSED = False
        if replaced:
            with contextlib.suppress(OSError):
                sys.stdout.close()
            sys.stdout = previous


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
