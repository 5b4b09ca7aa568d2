"""Detecting a diverging run at the end of an epoch, before it is mistaken for a result.

A learning rate that is too large makes gradient descent overshoot: the loss grows
by orders of magnitude, overflows to inf, and the parameters become NaN.  Such a
network must never be returned (or saved) as if it had trained, so the loop calls
:func:`check_divergence` once at the end of every epoch; it raises
:class:`TrainingDiverged`, a :class:`FloatingPointError`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..backend import ops_of

if TYPE_CHECKING:
    from ..network import Network

__all__ = ["GROWTH", "TrainingDiverged", "check_divergence"]

#: A loss this many times the reference (the lowest loss of earlier epochs, or the
#: loss of an untrained classifier) counts as diverged: four orders of magnitude.
GROWTH = 1e4


class TrainingDiverged(FloatingPointError):
    """Training diverged: the loss became NaN/inf or grew by orders of magnitude.

    Attributes
    ----------
    epoch : int
        The epoch (counting across resumed ``fit`` calls) where it was detected.
    loss : float
        That epoch's training loss.
    reason : str
        What besides the loss showed it (empty when the loss is NaN or inf).
    decay : float or None
        ``ηλ/n``, the fraction of every weight that one SGD step's L2 term takes
        away, when L2 regularisation was on.  Above 1 the step alone overshoots
        (``W ← (1 − ηλ/n) W − η∇C₀`` flips the sign of the weights), and the
        message says so.
    """

    def __init__(self, epoch: int, loss: float, reason: str, decay: float | None = None) -> None:
        self.epoch = epoch
        self.loss = loss
        self.reason = reason
        self.decay = decay
        super().__init__(self.message("learning rate", "l2"))

    def message(self, knob: str, l2_knob: str = "l2") -> str:
        """The one-line message, advising a smaller ``knob`` (e.g. ``--learning-rate``),
        or a smaller ``l2_knob`` too when the L2 step overshoots by itself."""
        head = f"training diverged at epoch {self.epoch}: loss = {self.loss:.4g}{self.reason}"
        if self.decay is not None and self.decay > 1:
            return (
                f"{head}; the L2 step alone overshoots (learning rate × l2 / training rows "
                f"= {self.decay:.3g}, must stay below 1): try a smaller {l2_knob} "
                f"or {knob}"
            )
        return f"{head}; try a smaller {knob}"


def _chance_loss(net: Network) -> float | None:
    """The mean cost of an uninformed classifier (uniform outputs), if the cost has one.

    ``log_likelihood`` on softmax: ln K; ``cross_entropy``: ln K + 1 on softmax
    (an upper bound), K ln 2 on K sigmoid units.  The quadratic cost depends on
    the targets' scale, so it has none.
    """
    k = net.sizes[-1]
    cost = net.cost.name
    softmax = net.activations[-1].name == "softmax"
    if cost == "log_likelihood":
        return math.log(max(k, 2))
    if cost == "cross_entropy":
        return math.log(max(k, 2)) + 1.0 if softmax else k * math.log(2.0)
    return None


def _finite_parameters(net: Network) -> bool:
    # A sum is finite exactly when no term is NaN/inf (or it overflows, which is
    # divergence too): one reduction per array, no temporary of the array's size.
    with np.errstate(over="ignore", invalid="ignore"):
        return all(
            math.isfinite(
                float(np.add.reduce(p, axis=None) if type(p) is np.ndarray else ops_of(p).xp.sum(p))
            )
            for p in (*net.weights, *net.biases)
        )


def check_divergence(net: Network, decay: float | None = None) -> None:
    """Raise :class:`TrainingDiverged` when the epoch just recorded in ``net.history`` diverged.

    Diverged means: the training loss is NaN or inf, a parameter is NaN or inf, or
    the loss is more than :data:`GROWTH` times the reference — the lowest training
    loss of the earlier epochs, or (for a classifier's log-likelihood or
    cross-entropy cost) the loss of uniform outputs, whichever is smaller.
    ``decay`` (``ηλ/n`` of the epoch's L2 term, if any) goes into the error.
    """
    history = net.history
    if not len(history):
        return
    epoch, loss = history.epoch[-1], float(history.train_loss[-1])
    if not math.isfinite(loss):
        raise TrainingDiverged(epoch, loss, "", decay)
    if not _finite_parameters(net):
        raise TrainingDiverged(epoch, loss, " and the weights hold NaN or inf", decay)
    earlier = [v for v in history.train_loss[:-1] if math.isfinite(v)]
    references = [v for v in (min(earlier, default=None), _chance_loss(net)) if v is not None]
    if references:
        reference = max(min(references), 1e-3)  # a near-perfect fit may then wobble
        if loss > GROWTH * reference:
            raise TrainingDiverged(
                epoch, loss, f", more than {GROWTH:.0f} times {reference:.4g}", decay
            )
