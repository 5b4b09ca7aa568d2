"""Callbacks: hooks called by the training loop per batch and per epoch.

Subclass :class:`Callback` and override what you need.  A callback may stop
training by setting ``network.stop_training = True``; the loop finishes the
current batch and returns with the model intact.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ..network import Network
    from .history import History

Array = npt.NDArray[np.floating]

__all__ = ["BatchInfo", "Callback", "PrintProgress", "epoch_line"]


@dataclass
class BatchInfo:
    """What a per-batch callback sees.

    Attributes
    ----------
    epoch : int
        The current epoch (counting from 1 across resumed runs).
    batch : int
        The batch index within the epoch, from 0.
    n_batches : int
        Batches in this epoch.
    size : int
        Rows in this batch.
    loss : float
        The batch's mean cost before the update.
    grad_weights, grad_biases : list of arrays
        The gradients of the batch (valid only during the call; copy them to
        keep them).  In :meth:`Callback.on_gradients` they may be changed in
        place, and the optimizer steps with what they then hold.
    rows : slice or array of int, optional
        The batch's rows, as indices into the training arrays given to ``fit``.
    """

    epoch: int
    batch: int
    n_batches: int
    size: int
    loss: float
    grad_weights: list[Array]
    grad_biases: list[Array]
    rows: slice | npt.NDArray[np.intp] | None = None


class Callback:
    """Base class for training callbacks; every hook is a no-op by default."""

    def on_train_begin(self, network: Network, history: History) -> None:
        """Called once before the first epoch of a ``fit`` call."""

    def on_epoch_begin(self, network: Network, epoch: int) -> None:
        """Called before each epoch."""

    def on_gradients(self, network: Network, info: BatchInfo) -> None:
        """Called per mini-batch between its gradients and the optimizer's step.

        The gradients (penalties included, before clipping) are in
        ``info.grad_weights`` and ``info.grad_biases``; change them in place to
        change the step (rescale them, add a penalty of your own, sum them across
        processes).  A callback that overrides this makes the loop collect all of
        a batch's gradients before stepping, instead of updating plain SGD layer
        by layer.
        """

    def on_batch_end(self, network: Network, info: BatchInfo) -> None:
        """Called after each mini-batch update."""

    def on_epoch_end(self, network: Network, history: History) -> None:
        """Called after each epoch, once its metrics are in ``history``."""

    def on_train_end(self, network: Network, history: History) -> None:
        """Called once when the ``fit`` call ends (also after an interruption)."""


def _fmt(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


class PrintProgress(Callback):
    """Print one line per epoch: loss, accuracy, validation metrics, learning rate, time.

    Parameters
    ----------
    stream : text stream, default sys.stdout
    total_epochs : int, optional
        Shown as ``epoch 3/30`` when given.
    loss_name : str, default "loss"
        How the loss is labelled (e.g. ``"standardised_loss"``).
    """

    def __init__(
        self, stream: TextIO | None = None, total_epochs: int | None = None, loss_name: str = "loss"
    ) -> None:
        self.stream = stream
        self.total_epochs = total_epochs
        self.loss_name = loss_name

    def on_epoch_end(self, network: Network, history: History) -> None:
        print(
            epoch_line(history, self.total_epochs, self.loss_name),
            file=self.stream or sys.stdout,
            flush=True,
        )


def epoch_line(history: History, total_epochs: int | None = None, loss_name: str = "loss") -> str:
    """The last epoch of ``history`` as one line: metrics, learning rate and time.

    Accuracy is shown for classifiers only (a regressor's is NaN throughout);
    ``loss_name`` labels the loss (``"standardised_loss"`` for a regression target
    that was standardised; the validation column is then ``val_standardised_loss``).
    """
    e = history.epoch[-1]
    total = f"/{total_epochs}" if total_epochs else ""
    classifier = not all(math.isnan(a) for a in history.train_accuracy)
    parts = [f"epoch {e}{total}", f"{loss_name} {_fmt(history.train_loss[-1], '.4f')}"]
    if classifier:
        parts.append(f"acc {_fmt(history.train_accuracy[-1] * 100, '.2f')}%")
    if not math.isnan(history.val_loss[-1]):
        parts.append(f"val_{loss_name} {_fmt(history.val_loss[-1], '.4f')}")
        if classifier:
            parts.append(f"val_acc {_fmt(history.val_accuracy[-1] * 100, '.2f')}%")
    parts.append(f"lr {_fmt(history.learning_rate[-1], '.3g')}")  # NaN (L-BFGS): "-"
    parts.append(f"{history.seconds[-1]:.2f}s")
    return "  ".join(parts)
