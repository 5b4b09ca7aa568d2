"""Early stopping, and holding out a validation set to decide it on."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..backend import ops_of
from ..data.split import split_indices
from .callbacks import Callback
from .targets import OneHotLabels

if TYPE_CHECKING:
    from ..network import Network
    from .history import History

Array = npt.NDArray[np.floating]

__all__ = ["MONITORS", "EarlyStopping", "holdout_split"]

#: What early stopping can watch; accuracy is maximised, losses minimised.
MONITORS = ("val_loss", "val_accuracy")


class EarlyStopping(Callback):
    """Stop when the validation metric has not improved for ``patience`` epochs.

    When training ends (stopped early or not), the weights and biases of the best
    epoch are put back, so the network is the one that did best on the
    validation data.  The optimizer state is not rolled back.

    Parameters
    ----------
    monitor : {"val_loss", "val_accuracy"}, default "val_loss"
    patience : int, default 10
        Epochs without improvement before stopping.
    min_delta : float, default 0.0
        An improvement must exceed this.
    restore_best : bool, default True

    Attributes
    ----------
    best : float
        The best value of ``monitor`` seen.
    best_epoch : int or None
        Its epoch number (as in ``history.epoch``).
    stopped_epoch : int or None
        The epoch after which training was stopped, if it was.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 10,
        min_delta: float = 0.0,
        restore_best: bool = True,
    ) -> None:
        if monitor not in MONITORS:
            raise ValueError(
                f"early stopping monitor must be one of {', '.join(MONITORS)}, got {monitor!r}"
            )
        if patience < 1:
            raise ValueError(f"early stopping patience must be >= 1, got {patience}")
        if not min_delta >= 0:
            raise ValueError(f"early stopping min_delta must be >= 0, got {min_delta}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.restore_best = restore_best
        self._reset()

    def _reset(self) -> None:
        self.best = math.nan
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.wait = 0
        self._best_params: list[Array] | None = None

    def _improved(self, value: float) -> bool:
        if math.isnan(self.best):
            return True
        if self.monitor == "val_accuracy":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_train_begin(self, network: Network, history: History) -> None:
        self._reset()

    def on_epoch_end(self, network: Network, history: History) -> None:
        value = getattr(history, self.monitor)[-1]
        if math.isnan(value):
            raise ValueError(
                f"early stopping monitors {self.monitor}, which was not "
                "recorded: give fit validation_data or validation_fraction"
            )
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, history.epoch[-1], 0
            if self.restore_best:
                self._best_params = [
                    p.copy() if type(p) is np.ndarray else ops_of(p).xp.asarray(p, copy=True)
                    for p in (*network.weights, *network.biases)
                ]
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = history.epoch[-1]
            network.stop_training = True

    def on_train_end(self, network: Network, history: History) -> None:
        if self._best_params is None:
            return
        # Copy into the existing arrays: references to net.weights[i] stay valid.
        for p, best in zip((*network.weights, *network.biases), self._best_params, strict=True):
            p[...] = best


def holdout_split(
    X: Array,
    Y: Array,
    fraction: float,
    rng: np.random.Generator,
    *,
    stratify: bool,
    sample_weight: np.ndarray | None = None,
) -> tuple[Array, Array, Array, Array, np.ndarray | None]:
    """Hold out ``fraction`` of the rows of ``(X, Y)`` for validation.

    Parameters
    ----------
    X : ndarray of shape (n, N_1)
    Y : ndarray of shape (n, N_L)
        Targets (one-hot rows for classifiers).
    fraction : float in (0, 1)
    rng : numpy.random.Generator
        Chooses the rows, so the split is reproducible with the seed.
    stratify : bool
        Classifiers: hold out the same fraction of each class (the class of a
        row is its largest target, or ``Y > 0.5`` with one output), so a rare
        class is not left out of either part.
    sample_weight : ndarray of shape (n,), optional
        Split along with the rows (only the training part is returned).

    Returns
    -------
    X_train, Y_train, X_val, Y_val, sample_weight_train
    """
    n = X.shape[0]
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_fraction must be between 0 and 1, got {fraction}")
    n_val = round(n * fraction)
    if n_val < 1 or n_val >= n:
        raise ValueError(
            f"validation_fraction {fraction} of {n} rows leaves "
            f"{n_val} for validation and {n - n_val} for training; "
            "both must be at least 1"
        )
    if isinstance(Y, OneHotLabels):  # class labels kept (many classes)
        classes = Y.labels
    else:
        classes = (Y[:, 0] > 0.5).astype(np.int64) if Y.shape[1] == 1 else Y.argmax(axis=1)
    # The same seeded, stratified split as the data module's train/validation/test split.
    train, _, val = split_indices(classes, test_fraction=fraction, seed=rng, stratify=stratify)
    sw = None if sample_weight is None else sample_weight[train]
    if isinstance(Y, OneHotLabels):
        Y_train, Y_val = Y.take(train), Y.take(val)
    else:
        Y_train, Y_val = Y[train], Y[val]
    if type(X) is not np.ndarray:  # inputs kept in the network's namespace (a GPU, say)
        take = ops_of(X).take_rows
        return take(X, train), Y_train, take(X, val), Y_val, sw
    return X[train], Y_train, X[val], Y_val, sw
