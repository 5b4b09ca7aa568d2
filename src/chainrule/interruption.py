"""Ctrl-C and SIGTERM that never cut a final write in half, and the files written so far.

The command line installs :func:`on_signal` for SIGINT and SIGTERM while a command
runs (:func:`handled`).  The first signal raises :class:`Interrupted` (a
``KeyboardInterrupt``) where the program is — unless it is inside a
:func:`critical` section, such as the rename that puts a finished file in place
and records it: then it is held back and raised when the section ends.  Later
signals are only recorded: the command is already on its way out, removing its
temporary files and saying what it did, and a second Ctrl-C must not cut that
short.  Once the command's last line is due (:func:`close`), signals are only
recorded, never raised.

Every file put in place is recorded (:func:`record_written`, called by
:mod:`chainrule.atomic` inside its critical section), so the line printed after
an interruption can say, truly, which files were written and that no other file
was changed.  A signal whose ``KeyboardInterrupt`` lands in a finaliser or a weakref
callback, where Python would only print ``Exception ignored in …`` and carry on, is sent
again so that the main thread raises it at its next step (no traceback); and it is known
in any case: :func:`received`.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Interrupted",
    "close",
    "critical",
    "handled",
    "on_signal",
    "received",
    "record_written",
    "written",
]

#: The signals a command answers with a clean exit: Ctrl-C and ``kill``'s default.
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A command stopped by a signal: exit status ``128 + signum`` (130 Ctrl-C, 143 SIGTERM).

    ``detail`` is said right after "interrupted" (" after epoch 3; saved the partial
    model to m.npz"); files listed in ``described`` are not listed again; ``hint``
    ends the line in parentheses.
    """

    def __init__(
        self,
        signum: int = signal.SIGINT,
        detail: str = "",
        described: tuple[str, ...] = (),
        hint: str = "",
    ) -> None:
        super().__init__(signum)
        self.signum = int(signum)
        self.detail = detail
        self.described = described
        self.hint = hint

    @property
    def status(self) -> int:
        """The exit status: 128 + the signal's number."""
        return 128 + self.signum


@dataclass
class _State:
    received: int | None = None  # the first signal of this command
    raised: bool = False  # an Interrupted was raised: later signals are only recorded
    pending: bool = False  # a signal arrived inside a critical section
    depth: int = 0  # nesting of critical sections
    closed: bool = False  # the command's last line is due: never raise again
    active: bool = False  # inside handled(): files written are recorded
    written: list[str] = field(default_factory=list)


_state = _State()


def on_signal(signum: int, frame: Any = None) -> None:
    """The handler: raise :class:`Interrupted` once, or hold it through a critical section."""
    if _state.received is None:
        _state.received = int(signum)
    if _state.raised or _state.closed:
        return
    if _state.depth > 0:
        _state.pending = True
        return
    _state.raised = True
    raise Interrupted(_state.received)


def _unraisable(hook: Any, previous: Any) -> None:
    """``sys.unraisablehook`` while a command runs: an :class:`Interrupted` raised inside
    a finaliser or a weakref callback (where Python can only print it, ``Exception ignored
    in …``, and carry on) is delivered again — the signal sent to the main thread once
    this hook has returned, so that it is raised at the main thread's next step —
    instead of a traceback on stderr."""
    if not isinstance(hook.exc_value, Interrupted):
        previous(hook)
        return
    if _state.closed or _state.received is None:
        return  # the last line is due (or no signal at all): nothing to deliver again
    _state.raised = False
    signum = _state.received
    threading.Thread(target=_deliver_again, args=(signum,), daemon=True).start()


def _deliver_again(signum: int) -> None:
    # From another thread, so that the main thread has left the hook (and the finaliser)
    # when the signal's handler runs: it waits for the main thread to run Python again.
    # A real signal, not ``_thread.interrupt_main``: it also ends a blocking call (a sleep,
    # a read) that the main thread may be in by then.
    time.sleep(0.001)
    main = threading.main_thread().ident
    if main is not None:
        signal.pthread_kill(main, signum)


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """A section no signal interrupts: one arriving meanwhile is raised when it ends.

    Used around the steps that must happen together — a file renamed into place and
    recorded as written — so that an interruption never leaves a message untrue.
    """
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
    if _state.depth == 0 and _state.pending and not (_state.raised or _state.closed):
        _state.pending = False
        _state.raised = True
        raise Interrupted(_state.received or signal.SIGINT)


def record_written(path: str) -> None:
    """Note that ``path`` was put in place (call inside :func:`critical`)."""
    if _state.active:
        _state.written.append(path)


def written() -> list[str]:
    """The files put in place since :func:`handled` began, in order."""
    return list(_state.written)


def received() -> int | None:
    """The first signal received since :func:`handled` began, or None."""
    return _state.received


def close() -> None:
    """From now on signals are only recorded: the command's last line is being printed."""
    _state.closed = True


@contextlib.contextmanager
def handled(*, restore: bool = True) -> Iterator[None]:
    """Answer SIGINT and SIGTERM with :func:`on_signal` for the duration of a command.

    The state (signals received, files written) starts afresh.  ``restore=False``, or
    a signal received, leaves SIGINT and SIGTERM ignored when the block ends: the
    process is about to exit, and Python's own handler would turn a late Ctrl-C into
    a traceback (or, once the interpreter has begun to shut down, a death by signal).
    Outside the main thread signals cannot be handled: nothing is changed.
    """
    global _state
    _state = _State(active=True)
    if threading.current_thread() is not threading.main_thread():
        try:
            yield
        finally:
            _state = _State()
        return
    previous = {s: signal.signal(s, on_signal) for s in SIGNALS}
    hook = sys.unraisablehook
    sys.unraisablehook = lambda args: _unraisable(args, hook)
    try:
        yield
    finally:
        _state.closed = True
        sys.unraisablehook = hook
        if restore and _state.received is None:
            for s, handler in previous.items():
                signal.signal(s, handler)
            _state = _State()
        else:
            # The process is on its way out (or was interrupted): a later signal must be
            # neither a traceback from Python's own handler nor — once the interpreter,
            # shutting down, puts back the default action of every signal it handled — a
            # death by signal.  Ignored signals are left ignored.
            for s in SIGNALS:
                signal.signal(s, signal.SIG_IGN)
