"""Regularization terms added to the gradient, and gradient-norm clipping.

Both penalties follow Nielsen's chapter 3, where ``n`` is the size of the whole
training set (not of the mini-batch), so the penalty's weight does not depend on
the batch size.  Only weights are penalised; biases are not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..backend import ops_of

if TYPE_CHECKING:
    from ..engine import Layer

Array = npt.NDArray[np.floating]


def _scalar(p: Array, value: float) -> Any:
    # NumPy's scalar of p's dtype; a Python float (which keeps the dtype) elsewhere.
    return p.dtype.type(value) if type(p) is np.ndarray else value


def penalise(layer: Layer, l2: float, l1: float) -> None:
    """Add ``l2 · W^l + l1 · sgn(W^l)`` to one layer's weight gradient, in place.

    ``l2`` and ``l1`` are Nielsen's ``λ/n`` (already divided by the training-set
    size): the gradients of :func:`add_l2`'s and :func:`add_l1`'s penalties.
    """
    if l2:
        add_l2([layer.grad_W], [layer.W], l2, 1)
    if l1:
        add_l1([layer.grad_W], [layer.W], l1, 1)


__all__ = ["add_l1", "add_l2", "clip_global_norm", "global_norm", "penalise"]


def add_l2(grad_weights: Sequence[Array], weights: Sequence[Array], lam: float, n: int) -> None:
    """Add the gradient of ``(λ/2n) Σ_l ‖W^l‖²``, which is ``(λ/n) W^l``, in place.

    With plain SGD the update becomes ``W ← (1 − ηλ/n) W − η ∇C₀`` (Nielsen eq. 93).
    """
    for gw, W in zip(grad_weights, weights, strict=True):
        gw += _scalar(W, lam / n) * W


def add_l1(grad_weights: Sequence[Array], weights: Sequence[Array], lam: float, n: int) -> None:
    """Add the (sub)gradient of ``(λ/n) Σ_l Σ |w|``, which is ``(λ/n) sgn(W^l)``, in place.

    With plain SGD the update becomes ``w ← w − (ηλ/n) sgn(w) − η ∂C₀/∂w``
    (Nielsen eq. 97), with ``sgn(0) = 0``.
    """
    for gw, W in zip(grad_weights, weights, strict=True):
        gw += _scalar(W, lam / n) * ops_of(W).xp.sign(W)


def global_norm(grads: Sequence[Array]) -> float:
    """``√(Σ ‖g‖²)`` over all arrays: the norm of the whole gradient as one vector."""
    total = 0.0
    for g in grads:
        ops = ops_of(g)
        total += ops.sqnorm(ops.flat(g))
    return math.sqrt(total)


def clip_global_norm(grads: Sequence[Array], max_norm: float) -> float:
    """Scale all gradients in place so that their global norm is at most ``max_norm``.

    The direction is kept (every array is scaled by the same factor
    ``max_norm / norm``), only the length is bounded.

    Returns
    -------
    float
        The global norm before clipping.
    """
    norm = global_norm(grads)
    if norm > max_norm:
        scale = max_norm / norm
        for g in grads:
            g *= _scalar(g, scale)
    return norm
