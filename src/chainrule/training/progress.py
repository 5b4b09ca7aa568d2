"""Watching training: a progress bar on a terminal and a JSON-lines log.

:class:`~chainrule.training.callbacks.PrintProgress` prints one plain line per
epoch (for logs and pipes); :class:`ProgressBar` draws a ``tqdm`` bar per epoch on a
terminal; :class:`JSONLinesLogger` writes one JSON object per epoch to a file.
:func:`progress_callback` picks the bar or the lines depending on the stream.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ..atomic import AtomicFile
from .callbacks import BatchInfo, Callback, PrintProgress, epoch_line

if TYPE_CHECKING:
    from ..network import Network
    from .history import History

__all__ = ["JSONLinesLogger", "ProgressBar", "epoch_record", "progress_callback", "with_progress"]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def epoch_record(history: History, index: int = -1) -> dict[str, Any]:
    """One epoch of ``history`` as a JSON-ready dict (NaN becomes null)."""
    return {name: _clean(getattr(history, name)[index]) for name in history.__dataclass_fields__}


class ProgressBar(Callback):
    """A ``tqdm`` progress bar over the batches of each epoch.

    While an epoch runs, the bar shows its batches, speed and running loss;
    when it ends, the bar is replaced by the same one-line summary that
    :class:`PrintProgress` prints, so the terminal keeps one line per epoch.

    Parameters
    ----------
    stream : text stream, default sys.stderr
    total_epochs : int, optional
        Shown as ``epoch 3/30``.
    """

    def __init__(
        self, stream: TextIO | None = None, total_epochs: int | None = None, loss_name: str = "loss"
    ) -> None:
        self.stream = stream
        self.total_epochs = total_epochs
        self.loss_name = loss_name
        self._bar: Any = None
        self._loss = 0.0
        self._rows = 0

    def on_epoch_begin(self, network: Network, epoch: int) -> None:
        self._close()
        self._loss, self._rows = 0.0, 0

    def on_batch_end(self, network: Network, info: BatchInfo) -> None:
        if self._bar is None:
            from tqdm import tqdm  # imported only when a bar is drawn

            total = f"/{self.total_epochs}" if self.total_epochs else ""
            # A pseudo-terminal may report a 0 x 0 size, which makes tqdm draw
            # nothing; shutil falls back to 80 x 24 then.
            size = shutil.get_terminal_size()
            self._bar = tqdm(
                total=info.n_batches,
                desc=f"epoch {info.epoch}{total}",
                unit="batch",
                file=self._out(),
                leave=False,
                ncols=min(size.columns, 120),
                nrows=size.lines,
                mininterval=0.2,
            )
        self._loss += info.loss * info.size
        self._rows += info.size
        self._bar.update(1)
        if info.batch % 50 == 0:
            self._bar.set_postfix_str(f"loss {self._loss / self._rows:.4f}", refresh=False)

    def on_epoch_end(self, network: Network, history: History) -> None:
        self._close()
        print(epoch_line(history, self.total_epochs, self.loss_name), file=self._out(), flush=True)

    def on_train_end(self, network: Network, history: History) -> None:
        self._close()

    def _out(self) -> TextIO:
        return self.stream or sys.stderr

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class JSONLinesLogger(Callback):
    """Write one JSON object per epoch to ``path`` (JSON lines), atomically.

    Each line holds the epoch's entries of :class:`~chainrule.training.History`:
    ``epoch``, ``train_loss``, ``train_accuracy``, ``val_loss``, ``val_accuracy``,
    ``learning_rate``, ``grad_norms`` (one per layer) and ``seconds``; a metric
    that was not measured is ``null``.

    Nothing touches ``path`` before the first epoch ends.  The lines then go to a
    temporary file beside it (``.NAME.chainrule-PID-….tmp``, flushed per line, so
    it can be followed with ``tail -f``), which replaces ``path`` in one step when
    training ends (:class:`chainrule.atomic.AtomicFile`).  A run that fails or is
    killed leaves an existing log as it was; :meth:`discard` drops the new lines.

    Parameters
    ----------
    path : path-like
    append : bool, default False
        Keep the existing file's lines and add to them instead of starting afresh.
    """

    def __init__(self, path: str | os.PathLike[str], append: bool = False) -> None:
        self.path = os.fspath(path)
        self.append = append
        self._out: AtomicFile | None = None

    def on_epoch_end(self, network: Network, history: History) -> None:
        if self._out is None:  # opened only once training has produced an epoch
            self._out = AtomicFile(self.path, keep=self.append)
        self._out.write((json.dumps(epoch_record(history)) + "\n").encode())

    def on_train_end(self, network: Network, history: History) -> None:
        if self._out is not None:
            out, self._out = self._out, None
            out.commit()
            self.append = True  # a resumed fit adds to the same log

    def discard(self) -> None:
        """Drop the lines of an unfinished run; the file at ``path`` stays as it was."""
        if self._out is not None:
            self._out.discard()
            self._out = None


def progress_callback(
    mode: str = "auto",
    total_epochs: int | None = None,
    stream: TextIO | None = None,
    loss_name: str = "loss",
) -> Callback | None:
    """The progress display for ``mode``.

    Parameters
    ----------
    mode : {"auto", "bar", "lines", "none"}
        ``auto`` draws a bar when ``stream`` is a terminal and prints one line
        per epoch otherwise (a log file or a pipe gets no carriage returns).
    total_epochs : int, optional
    stream : text stream, default sys.stdout
    loss_name : str, default "loss"
        How the epoch lines label the loss.

    Returns
    -------
    Callback or None
    """
    out = stream or sys.stdout
    if mode == "auto":
        isatty = getattr(out, "isatty", None)
        mode = "bar" if isatty is not None and isatty() else "lines"
    if mode == "bar":
        return ProgressBar(stream=out, total_epochs=total_epochs, loss_name=loss_name)
    if mode == "lines":
        return PrintProgress(stream=out, total_epochs=total_epochs, loss_name=loss_name)
    if mode == "none":
        return None
    raise ValueError(f"unknown progress mode {mode!r}: expected auto, bar, lines or none")


def with_progress(
    callbacks: Sequence[Callback], verbose: bool | str, total_epochs: int | None = None
) -> list[Callback]:
    """``callbacks`` plus the progress display ``Network.fit(verbose=...)`` asks for.

    ``verbose=True`` prints one line per epoch to standard output, the same lines as
    ``chainrule train`` (loss, accuracy for classifiers, validation metrics, learning
    rate, time); a string is a :func:`progress_callback` mode (``"bar"``, ``"lines"``,
    ``"auto"``); ``False`` adds nothing.  Nothing is added when ``callbacks`` already
    hold a progress display.
    """
    out = list(callbacks)
    if not verbose or any(isinstance(cb, (PrintProgress, ProgressBar)) for cb in out):
        return out
    progress = progress_callback(
        "lines" if verbose is True else str(verbose), total_epochs=total_epochs
    )
    if progress is not None:
        out.append(progress)
    return out
