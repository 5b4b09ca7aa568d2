"""Learning-rate schedules: the rate η used in each epoch.

A schedule is told the base rate (``fit``'s ``learning_rate``) and the number of
epochs of the ``fit`` call when training begins; the loop then asks it for the
rate of each epoch (counted from 0 within the call) and shows it each finished
epoch's history, which is how :class:`ReduceOnPlateau` watches the validation
metric.  The rate of every epoch is recorded in ``history.learning_rate``.

Named schedules restart with each ``fit`` call; pass the same
:class:`ReduceOnPlateau` object to keep its reduced rate across calls.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..registry import Registry

if TYPE_CHECKING:
    from .history import History

__all__ = [
    "SCHEDULES",
    "Constant",
    "Cosine",
    "InverseScaling",
    "ReduceOnPlateau",
    "Schedule",
    "StepDecay",
    "get_schedule",
]


#: Every named schedule: ``SCHEDULES[name]()`` makes one (:func:`get_schedule`).
SCHEDULES: Registry[type[Schedule]] = Registry("schedule")


class Schedule:
    """Base class: the constant rate.  Subclasses override :meth:`rate`."""

    name = "constant"

    def __init__(self) -> None:
        self.base_lr = math.nan
        self.epochs = 0
        #: Set by a schedule that wants training to end (ReduceOnPlateau's floor).
        self.stop = False

    def begin(self, base_lr: float, epochs: int) -> None:
        """Called once per ``fit`` call, before the first epoch."""
        self.base_lr = float(base_lr)
        self.epochs = int(epochs)
        self.stop = False

    def rate(self, epoch: int) -> float:
        """η for ``epoch`` (0-based within this ``fit`` call)."""
        return self.base_lr

    def observe(self, history: History) -> None:
        """Called after each epoch with the history so far (of this ``fit`` call)."""

    def config(self) -> dict[str, Any]:
        """The hyper-parameters, for reports."""
        return {"name": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


@SCHEDULES.register
class Constant(Schedule):
    """η every epoch (the seed; Nielsen ch. 1)."""


@SCHEDULES.register
class StepDecay(Schedule):
    """``η · factor^⌊e / every⌋``: multiply by ``factor`` every ``every`` epochs.

    Parameters
    ----------
    every : int, default 10
    factor : float, default 0.5
    """

    name = "step"

    def __init__(self, every: int = 10, factor: float = 0.5) -> None:
        super().__init__()
        if every < 1:
            raise ValueError(f"step schedule: every must be >= 1, got {every}")
        if not 0.0 < factor <= 1.0:
            raise ValueError(f"step schedule: factor must be in (0, 1], got {factor}")
        self.every, self.factor = int(every), float(factor)

    def rate(self, epoch: int) -> float:
        return self.base_lr * self.factor ** (epoch // self.every)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "every": self.every, "factor": self.factor}


@SCHEDULES.register
class InverseScaling(Schedule):
    """``η / (e + 1)^power`` (scikit-learn's ``invscaling``, counted in epochs).

    Parameters
    ----------
    power : float, default 0.5
    """

    name = "invscaling"

    def __init__(self, power: float = 0.5) -> None:
        super().__init__()
        if not power >= 0:
            raise ValueError(f"invscaling schedule: power must be >= 0, got {power}")
        self.power = float(power)

    def rate(self, epoch: int) -> float:
        return self.base_lr / (epoch + 1) ** self.power

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "power": self.power}


@SCHEDULES.register
class Cosine(Schedule):
    """Cosine annealing from η to ``min_fraction · η`` over the epochs of the call.

    ``η_e = η_min + ½ (η − η_min)(1 + cos(π e / E))`` for epoch ``e = 0..E−1`` of
    ``E`` epochs (Loshchilov & Hutter's SGDR without restarts): the first epoch
    uses η, the rate then falls smoothly towards ``η_min`` at the end.

    Parameters
    ----------
    min_fraction : float, default 0.0
        ``η_min / η``.
    """

    name = "cosine"

    def __init__(self, min_fraction: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= min_fraction <= 1.0:
            raise ValueError(f"cosine schedule: min_fraction must be in [0, 1], got {min_fraction}")
        self.min_fraction = float(min_fraction)

    def rate(self, epoch: int) -> float:
        lo = self.base_lr * self.min_fraction
        phase = math.pi * epoch / max(1, self.epochs)
        return lo + 0.5 * (self.base_lr - lo) * (1 + math.cos(phase))

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "min_fraction": self.min_fraction}


@SCHEDULES.register
class ReduceOnPlateau(Schedule):
    """Nielsen's rule (ch. 3): divide η by 2 when the validation metric stalls.

    After ``patience`` epochs without improvement of ``monitor``, multiply the
    rate by ``factor`` and start counting again.  With ``min_fraction`` set
    (Nielsen used 1/128), training stops once the rate would fall below
    ``min_fraction · η``.

    Parameters
    ----------
    monitor : {"val_accuracy", "val_loss", "train_loss"}, default "val_accuracy"
    patience : int, default 10
        Nielsen's "no improvement in 10 epochs".
    factor : float, default 0.5
    min_fraction : float, optional
    min_delta : float, default 0.0
        An improvement must exceed this.
    """

    name = "plateau"

    def __init__(
        self,
        monitor: str = "val_accuracy",
        patience: int = 10,
        factor: float = 0.5,
        min_fraction: float | None = None,
        min_delta: float = 0.0,
    ) -> None:
        super().__init__()
        if monitor not in ("val_accuracy", "val_loss", "train_loss"):
            raise ValueError(
                f"plateau schedule: monitor must be val_accuracy, val_loss or "
                f"train_loss, got {monitor!r}"
            )
        if patience < 1:
            raise ValueError(f"plateau schedule: patience must be >= 1, got {patience}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"plateau schedule: factor must be in (0, 1), got {factor}")
        self.monitor, self.patience, self.factor = monitor, int(patience), float(factor)
        self.min_fraction, self.min_delta = min_fraction, float(min_delta)
        self.scale = 1.0
        self.best = math.nan
        self.wait = 0
        self._started = False

    def begin(self, base_lr: float, epochs: int) -> None:
        # The reduced rate survives a resumed fit with the same object and η.
        if self._started and base_lr != self.base_lr:
            self.scale, self.best, self.wait = 1.0, math.nan, 0
        super().begin(base_lr, epochs)
        self._started = True

    def rate(self, epoch: int) -> float:
        return self.base_lr * self.scale

    def observe(self, history: History) -> None:
        value = getattr(history, self.monitor)[-1]
        if math.isnan(value):
            raise ValueError(
                f"plateau schedule monitors {self.monitor}, which was not "
                "recorded: give fit validation_data or validation_fraction"
            )
        better = (
            value > self.best + self.min_delta
            if self.monitor == "val_accuracy"
            else value < self.best - self.min_delta
        )
        if math.isnan(self.best) or better:
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.wait = 0
            if self.min_fraction is not None and self.scale * self.factor < self.min_fraction:
                self.stop = True
            else:
                self.scale *= self.factor

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "monitor": self.monitor,
            "patience": self.patience,
            "factor": self.factor,
            "min_fraction": self.min_fraction,
        }


def get_schedule(spec: str | Schedule | None) -> Schedule:
    """A schedule by name (default settings), or ``spec`` itself; None is constant."""
    if spec is None:
        return Constant()
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, str) and spec in SCHEDULES:
        return SCHEDULES[spec]()
    raise SCHEDULES.unknown(spec)
