"""``TrainingConfig``: every hyper-parameter of a training run, validated once.

:meth:`chainrule.Network.fit`, the ``chainrule train`` command and the
scikit-learn estimators all build one of these and hand it to the loop
(:func:`chainrule.training.loop.train`), so a bad value is refused in one place,
with one message that names the parameter and the value given.

Examples
--------
>>> TrainingConfig(epochs=5, batch_size=32).batch_size
32
>>> TrainingConfig(batch_size=2.5)
Traceback (most recent call last):
...
ValueError: batch_size must be a positive integer, got 2.5
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from typing import Any

from .averaging import check_decay
from .early_stopping import MONITORS, EarlyStopping
from .lbfgs import LBFGS
from .optimizers import OPTIMIZERS, Optimizer
from .schedules import Schedule, get_schedule

__all__ = ["OPTIMIZER_NAMES", "TrainingConfig"]

#: Optimizer names a configuration accepts (an :class:`Optimizer` instance is accepted too).
OPTIMIZER_NAMES: tuple[str, ...] = (*sorted(OPTIMIZERS), "lbfgs")


def _integer(name: str, value: Any, low: int) -> int:
    # bool is an int subclass, but True is not a count of anything.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < low:
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def _number(name: str, value: Any, *, positive: bool) -> float:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, numbers.Real)
        and math.isfinite(value)
        and (float(value) > 0 if positive else float(value) >= 0)
    )
    if not ok:
        what = "a positive number" if positive else "a non-negative number"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class TrainingConfig:
    """The hyper-parameters of mini-batch training (seed §5; Nielsen ch. 1–3).

    Every field is checked when the configuration is made; see
    :meth:`chainrule.Network.fit` for what each one does.

    Attributes
    ----------
    epochs : int, default 30
        Passes over the training rows (0 trains nothing).
    batch_size : int, default 10
        Rows per mini-batch; the last batch of an epoch may be smaller.
    learning_rate : float, default 0.1
        η, the rate of the first epoch (a schedule may change it later).
    optimizer : str, Optimizer or LBFGS, optional
        One of :data:`OPTIMIZER_NAMES` or an :class:`Optimizer`; None keeps the
        network's current one (plain SGD at first).  ``"lbfgs"`` (or an
        :class:`~chainrule.training.lbfgs.LBFGS`) is full-batch L-BFGS, which
        ``Network.fit`` runs outside the mini-batch loop.
    shuffle : bool, default True
        Shuffle the rows before every epoch.
    dropout : float or tuple of float, optional
        Inverted-dropout probability for the hidden layers, each in ``[0, 1)``.
    input_dropout : float, default 0
        Inverted-dropout probability for the inputs (layer 1), in ``[0, 1)``
        (Hinton et al. 2012 use 0.2 with 0.5 on the hidden layers).
    l2, l1 : float, default 0
        Nielsen's L2 and L1 penalties λ (``λ/n`` per weight, n the training rows).
    clip_norm : float, optional
        The largest global gradient norm of a batch.
    schedule : str or Schedule, optional
        The learning rate per epoch (``"constant"`` by default).
    early_stopping : {"val_loss", "val_accuracy"} or EarlyStopping, optional
        Stop when the validation metric stops improving.
    patience : int, default 10
        Epochs without improvement before a named ``early_stopping`` stops.
    validation_fraction : float, optional
        Hold out this fraction of the rows as validation data, in ``(0, 1)``.
    max_norm : float, optional
        ``c``: after every step, scale each row of each ``W^l`` (a unit's incoming
        weights) whose 2-norm exceeds ``c`` back to ``c``
        (:mod:`~chainrule.training.constraints`; Srivastava et al. use 3–4 with dropout).
    average_decay : float, optional
        Keep an exponential moving average of the parameters with this decay in
        ``(0, 1)`` (e.g. 0.999) and end the run with the averaged parameters
        (:mod:`~chainrule.training.averaging`).
    """

    epochs: int = 30
    batch_size: int = 10
    learning_rate: float = 0.1
    optimizer: str | Optimizer | LBFGS | None = None
    shuffle: bool = True
    dropout: float | tuple[float, ...] | None = None
    input_dropout: float = 0.0
    l2: float = 0.0
    l1: float = 0.0
    clip_norm: float | None = None
    schedule: str | Schedule | None = None
    early_stopping: str | EarlyStopping | None = None
    patience: int = 10
    validation_fraction: float | None = None
    max_norm: float | None = None
    average_decay: float | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalised values are written once, here
        set_(self, "epochs", _integer("epochs", self.epochs, 0))
        set_(self, "batch_size", _integer("batch_size", self.batch_size, 1))
        set_(self, "learning_rate", _number("learning_rate", self.learning_rate, positive=True))
        set_(self, "l2", _number("l2", self.l2, positive=False))
        set_(self, "l1", _number("l1", self.l1, positive=False))
        set_(self, "patience", _integer("patience", self.patience, 1))
        if self.clip_norm is not None:
            set_(self, "clip_norm", _number("clip_norm", self.clip_norm, positive=True))
        if self.max_norm is not None:
            set_(self, "max_norm", _number("max_norm", self.max_norm, positive=True))
        if self.average_decay is not None:
            set_(self, "average_decay", check_decay(self.average_decay))
        if not isinstance(self.shuffle, (bool, numbers.Integral)):
            raise ValueError(f"shuffle must be True or False, got {self.shuffle!r}")
        set_(self, "shuffle", bool(self.shuffle))
        opt = self.optimizer
        if not (opt is None or isinstance(opt, (Optimizer, LBFGS)) or opt in OPTIMIZER_NAMES):
            raise ValueError(
                f"unknown optimizer {opt!r}: expected one of {', '.join(OPTIMIZER_NAMES)}"
            )
        get_schedule(self.schedule)  # raises for an unknown name
        stop = self.early_stopping
        if not (stop is None or isinstance(stop, EarlyStopping) or stop in MONITORS):
            raise ValueError(
                f"early_stopping must be one of {', '.join(MONITORS)} or an "
                f"EarlyStopping, got {stop!r}"
            )
        if self.validation_fraction is not None:
            f = self.validation_fraction
            if isinstance(f, bool) or not isinstance(f, numbers.Real) or not 0 < f < 1:
                raise ValueError(f"validation_fraction must be between 0 and 1, got {f!r}")
            set_(self, "validation_fraction", float(f))
        set_(self, "dropout", _dropout(self.dropout))
        p = self.input_dropout
        if (
            isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= float(p) < 1.0
        ):  # NaN fails too
            raise ValueError(f"input_dropout must be a rate in [0, 1), got {p!r}")
        set_(self, "input_dropout", float(p))

    def replace(self, **changes: Any) -> TrainingConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def dropout_rates(self, n_hidden: int) -> list[float] | None:
        """Per-layer drop probabilities indexed ``[l-1]`` for ``l = 1..L``, or None for none.

        Entry 0 is :attr:`input_dropout`, the last (the output layer) is always 0.
        """
        if self.dropout is None:
            rates = [0.0] * n_hidden
        else:
            rates = (
                list(self.dropout) if isinstance(self.dropout, tuple) else [self.dropout] * n_hidden
            )
        if len(rates) != n_hidden:
            raise ValueError(
                f"dropout needs one rate per hidden layer ({n_hidden}), got {len(rates)}"
            )
        if not any(rates) and not self.input_dropout:
            return None
        return [self.input_dropout, *rates, 0.0]


def _dropout(spec: Any) -> float | tuple[float, ...] | None:
    if spec is None:
        return None
    rates = [spec] if isinstance(spec, numbers.Real) else spec
    try:
        values = [float(p) for p in rates]
    except (TypeError, ValueError):
        raise ValueError(
            f"dropout must be a rate in [0, 1) or a list of them, got {spec!r}"
        ) from None
    for p, given in zip(values, rates, strict=True):
        if isinstance(given, bool) or not 0.0 <= p < 1.0:
            raise ValueError(f"dropout rates must be in [0, 1), got {given!r}")
    return values[0] if isinstance(spec, numbers.Real) else tuple(values)
