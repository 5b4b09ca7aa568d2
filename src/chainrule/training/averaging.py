"""Weight averaging: an exponential moving average (Polyak averaging) of the parameters.

Stochastic gradient steps leave the weights jittering around a minimum; the average
of the recent iterates lies closer to it than any one of them (Polyak & Juditsky
1992).  :class:`ExponentialAverage` keeps, beside every parameter ``p`` (each
``W^l`` and ``b^l``), an average ``p̄`` updated after every optimizer step ``t``::

    d_t = min(decay, (1 + t) / (10 + t))
    p̄ ← d_t · p̄ + (1 − d_t) · p

(the warm-up ``(1 + t)/(10 + t)`` is TensorFlow's ``ExponentialMovingAverage``'s: in a
short run the average does not cling to the initial weights).  With
``decay = 0.999`` the average spans about the last 1,000 steps.  When training
ends the network's parameters are replaced by their averages
(:meth:`ExponentialAverage.finish`): the network evaluated and saved afterwards is
one network, the averaged one.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backend import ops_of

__all__ = ["ExponentialAverage", "check_decay"]


def check_decay(value: Any) -> float:
    """``value`` as a float in ``(0, 1)``, or a ValueError naming ``average_decay``."""
    ok = (
        not isinstance(value, bool)
        and isinstance(value, numbers.Real)
        and math.isfinite(value)
        and 0.0 < float(value) < 1.0
    )
    if not ok:
        raise ValueError(f"average_decay must be a number in (0, 1), e.g. 0.999, got {value!r}")
    return float(value)


class ExponentialAverage:
    """The exponential moving average of a network's parameters over a training run.

    Parameters
    ----------
    params : sequence of arrays
        The parameters (``[*net.weights, *net.biases]``), held, not copied; the
        averages start as copies of them, of the same dtype and backend.
    decay : float
        ``d`` in ``(0, 1)``: the weight of the old average at each step.

    Attributes
    ----------
    averages : list of arrays
        ``p̄`` for each parameter, same shapes and dtypes.
    steps : int
        Updates so far (``t``).
    """

    def __init__(self, params: Sequence[Any], decay: float) -> None:
        self.decay = check_decay(decay)
        self.params = list(params)
        self.averages = [
            p.copy() if type(p) is np.ndarray else ops_of(p).xp.asarray(p, copy=True)
            for p in self.params
        ]
        self._scratch = [np.empty_like(p) if type(p) is np.ndarray else None for p in self.params]
        self.steps = 0

    def __call__(self) -> None:
        """One update, after an optimizer step: ``p̄ ← d_t p̄ + (1 − d_t) p``."""
        t = self.steps
        self.steps = t + 1
        rate = 1.0 - min(self.decay, (1.0 + t) / (10.0 + t))
        for a, p, s in zip(self.averages, self.params, self._scratch, strict=True):
            if s is not None:  # NumPy: p̄ += rate · (p − p̄) without a new array
                np.subtract(p, a, out=s)
                s *= a.dtype.type(rate)
                a += s
            else:
                a += rate * (p - a)

    def finish(self) -> None:
        """Copy the averages into the parameters (in place: the arrays stay the same)."""
        for a, p in zip(self.averages, self.params, strict=True):
            p[...] = a
